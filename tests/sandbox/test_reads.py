"""Read endpoints: proposals, jobs, contracts, auth/me, capabilities, credits."""

from __future__ import annotations

import json
import re

import pytest

from opentrain_mcp.sandbox.seed import ALL_SCOPES, PRE_CLAIM_SCOPES

from .conftest import client_for
from .test_hire import assert_envelope

MASKED = re.compile(r"^[A-Z][a-z]+ [A-Z]\.$")
COMPACT_KEYS = {"id", "jobId", "jobTitle", "createdAt", "updatedAt", "status", "bid", "candidate", "metrics"}


def test_list_proposals_newest_first_and_masked(api, fx):
    body = api.get(f"/jobs/{fx['jobs']['primary']}/proposals").json()
    proposals = body["proposals"]
    assert body["nextCursor"] is None
    assert len(proposals) == 6
    assert [p["createdAt"] for p in proposals] == sorted((p["createdAt"] for p in proposals), reverse=True)
    for proposal in proposals:
        assert set(proposal) == COMPACT_KEYS
        assert proposal["jobId"] == fx["jobs"]["primary"]
        candidate = proposal["candidate"]
        assert MASKED.match(candidate["displayName"])
        assert candidate["displayName"] == f"{candidate['firstName']} {candidate['lastNameInitial']}."
        assert set(proposal["metrics"]) == {"interviewScore", "matchScore"}
        assert set(proposal["status"]) == {"raw", "label"}
    assert "email" not in json.dumps(body).lower()
    assert set(fx["proposals"]["hireable"][:4]) <= {p["id"] for p in proposals}


@pytest.mark.parametrize(
    ("status", "role"),
    [("NOT_A_FIT", "notFit"), ("not a fit", "notFit"), ("not-a-fit", "notFit"), ("hired", "alreadyHired")],
)
def test_list_proposals_status_filter(api, fx, status, role):
    proposals = api.get(f"/jobs/{fx['jobs']['primary']}/proposals", params={"status": status}).json()[
        "proposals"
    ]
    assert [p["id"] for p in proposals] == [fx["proposals"][role]]


def test_list_proposals_unsupported_status_is_400(api, fx):
    response = api.get(f"/jobs/{fx['jobs']['primary']}/proposals", params={"status": "bogus"})
    details = assert_envelope(response, 400, "BAD_REQUEST")["details"]
    assert details["field"] == "status" and "NOT_A_FIT" in details["supportedStatuses"]


def test_list_proposals_cursor_paging(api, fx):
    url = f"/jobs/{fx['jobs']['primary']}/proposals"
    everything = [p["id"] for p in api.get(url).json()["proposals"]]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = api.get(url, params=params).json()
        assert len(page["proposals"]) <= 3
        seen += [p["id"] for p in page["proposals"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == everything


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}])
def test_list_proposals_bad_limit_is_400(api, fx, params):
    response = api.get(f"/jobs/{fx['jobs']['primary']}/proposals", params=params)
    assert assert_envelope(response, 400, "BAD_REQUEST")["details"] == {"field": "limit"}


def test_list_proposals_bad_cursor_is_400(api, fx):
    response = api.get(f"/jobs/{fx['jobs']['primary']}/proposals", params={"cursor": "bm9wZQ"})
    assert assert_envelope(response, 400, "BAD_REQUEST")["details"] == {"field": "cursor"}


def test_list_proposals_of_foreign_or_unknown_job(api, fx):
    assert_envelope(api.get(f"/jobs/{fx['jobs']['foreign']}/proposals"), 403, "FORBIDDEN")
    details = assert_envelope(api.get("/jobs/nope/proposals"), 404, "NOT_FOUND")["details"]
    assert details == {"resource": "jobs", "jobId": "nope"}


def test_get_proposal_detail(api, fx):
    proposal = api.get(f"/proposals/{fx['proposals']['hireable'][0]}").json()["proposal"]
    assert set(proposal) == COMPACT_KEYS | {"aiInterview", "verification", "openLabel", "contract"}
    assert set(proposal["aiInterview"]) == {"score", "summary", "transcriptAvailable"}
    assert proposal["aiInterview"]["score"] == proposal["metrics"]["interviewScore"]
    assert proposal["aiInterview"]["summary"]
    assert set(proposal["verification"]) == {"location", "identity"}
    assert proposal["openLabel"] is None and proposal["contract"] is None
    hired = api.get(f"/proposals/{fx['proposals']['alreadyHired']}").json()["proposal"]
    assert hired["contract"]["id"] == fx["contracts"]["alreadyHired"]


def test_get_proposal_foreign_and_unknown(api, fx):
    assert_envelope(api.get(f"/proposals/{fx['proposals']['foreign']}"), 403, "FORBIDDEN")
    details = assert_envelope(api.get("/proposals/nope"), 404, "NOT_FOUND")["details"]
    assert details == {"resource": "proposals", "proposalId": "nope"}


def test_jobs_mine(api, fx, sandbox):
    body = api.get("/jobs/mine").json()
    assert [j["id"] for j in body["jobs"]] == [fx["jobs"]["secondary"], fx["jobs"]["primary"]]
    assert body["nextCursor"] is None
    primary = body["jobs"][1]
    assert primary["proposalCounts"] == {"total": 6, "unreviewed": 2}
    assert primary["jobUrl"] == f"{sandbox.base_url}/jobs/{fx['jobs']['primary']}"
    assert primary["status"] == "OPEN" and primary["published"] is True
    assert len(api.get("/jobs/mine", params={"status": "open"}).json()["jobs"]) == 2
    assert api.get("/jobs/mine", params={"status": "DRAFT"}).json()["jobs"] == []
    page = api.get("/jobs/mine", params={"limit": 1}).json()
    assert len(page["jobs"]) == 1 and page["nextCursor"]
    details = assert_envelope(api.get("/jobs/mine", params={"status": "nope"}), 400, "BAD_REQUEST")["details"]
    assert "OPEN" in details["supportedStatuses"]


def test_contracts_list_and_get(api, fx):
    contracts = api.get("/contracts").json()["contracts"]
    assert [c["id"] for c in contracts] == [fx["contracts"]["alreadyHired"]]
    listed = contracts[0]
    assert "budget" not in listed and "jobDmConversationId" not in listed
    assert MASKED.match(listed["freelancer"]["displayName"])
    assert listed["milestones"][0]["status"] == "ACTIVE_FUNDED"
    detail = api.get(f"/contracts/{listed['id']}").json()["contract"]
    assert detail["jobDmConversationId"] and detail["budget"]["state"] == "OK"
    assert {k: v for k, v in detail.items() if k not in ("budget", "jobDmConversationId")} == listed
    assert api.get("/contracts", params={"status": "ended"}).json()["contracts"] == []
    assert api.get("/contracts", params={"jobId": fx["jobs"]["secondary"]}).json()["contracts"] == []
    assert (
        len(
            api.get("/contracts", params={"jobId": fx["jobs"]["primary"], "status": "active"}).json()[
                "contracts"
            ]
        )
        == 1
    )


def test_contracts_errors(sandbox, api, fx):
    assert assert_envelope(api.get("/contracts", params={"status": "x"}), 400, "BAD_REQUEST")["details"] == {
        "field": "status"
    }
    assert_envelope(api.get("/contracts", params={"jobId": fx["jobs"]["foreign"]}), 403, "FORBIDDEN")
    assert_envelope(api.get("/contracts", params={"jobId": "nope"}), 404, "NOT_FOUND")
    details = assert_envelope(api.get("/contracts/nope"), 404, "NOT_FOUND")["details"]
    assert details == {"resource": "contracts", "contractId": "nope"}
    with client_for(sandbox, fx["foreignToken"]) as other:
        assert other.get(f"/contracts/{fx['contracts']['alreadyHired']}").status_code == 404
        assert other.get("/contracts").json()["contracts"] == []


def test_auth_me(sandbox, api, fx):
    me = api.get("/auth/me").json()
    assert set(me) == {"actor", "token", "account"}
    assert me["actor"]["userType"] == "EMPLOYER"
    assert me["actor"]["fullName"] == f"{me['actor']['firstName']} {me['actor']['lastName']}"
    assert me["token"]["scopes"] == ALL_SCOPES and me["token"]["label"]
    assert me["account"] == {
        "kind": "employer_organization",
        "organizationId": fx["accountId"],
        "ownerUserId": me["actor"]["userId"],
        "memberRole": "OWNER",
    }
    assert "claimed" not in json.dumps(me)
    with client_for(sandbox, fx["limitedToken"]) as limited:
        assert limited.get("/auth/me").json()["token"]["scopes"] == PRE_CLAIM_SCOPES
    with client_for(sandbox, None) as anonymous:
        assert_envelope(anonymous.get("/auth/me"), 401, "UNAUTHORIZED")


def test_capabilities_follow_feature_flags(api, controls):
    assert api.get("/job-drafts/capabilities").json() == {
        "capabilities": {"hiring": True, "paymentsWrite": True, "credits": True}
    }
    controls.post(
        "/account", json={"features": {"public_api_payments_write": False, "public_api_hiring": False}}
    )
    assert api.get("/job-drafts/capabilities").json()["capabilities"] == {
        "hiring": False,
        "paymentsWrite": False,
        "credits": True,
    }


def test_credits(api, controls):
    assert api.get("/credits").json() == {
        "credits": {"availableCents": 0, "reservedCents": 0, "currency": "usd", "recentEntries": []}
    }
    controls.post("/account", json={"creditsCents": 1234})
    assert api.get("/credits").json()["credits"]["availableCents"] == 1234
    controls.post("/account", json={"features": {"public_api_credits": False}})
    details = assert_envelope(api.get("/credits"), 403, "FORBIDDEN")["details"]
    assert details == {"featureKey": "public_api_credits"}


def test_unknown_endpoint_and_method(api):
    assert_envelope(api.get("/no/such/endpoint"), 404, "NOT_FOUND")
    response = api.delete("/auth/me")
    assert response.status_code == 405 and response.json()["code"] == "BAD_REQUEST"
