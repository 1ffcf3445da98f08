"""`POST /proposals/{id}/hire`: every documented branch and the A7 check order."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx2
import pytest

from opentrain_mcp.sandbox.seed import PRE_CLAIM_SCOPES

from .conftest import client_for, hire_body, http_client


def _ts(value: str) -> dt.datetime:
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def assert_envelope(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    uuid.UUID(body["requestId"], version=4)
    return body


def test_hire_returns_pending_approval(api, fx, sandbox):
    proposal_id = fx["proposals"]["hireable"][0]
    response = api.post(f"/proposals/{proposal_id}/hire", json=hire_body())
    assert response.status_code == 202
    body = response.json()
    assert "human must confirm" in body["message"]
    approval = body["approval"]
    assert list(approval) == [
        "id",
        "type",
        "status",
        "contractId",
        "milestoneId",
        "jobId",
        "proposalId",
        "approvalUrl",
        "expiresAt",
        "resolvedAt",
        "result",
        "createdAt",
    ]
    assert approval["type"] == "proposal_hire"
    assert approval["status"] == "pending"
    assert approval["contractId"] is None and approval["milestoneId"] is None
    assert approval["resolvedAt"] is None and approval["result"] is None
    assert approval["jobId"] == fx["jobs"]["primary"]
    assert approval["proposalId"] == proposal_id
    assert approval["approvalUrl"] == f"{sandbox.base_url}/approvals/{approval['id']}"
    assert _ts(approval["expiresAt"]) - _ts(approval["createdAt"]) == dt.timedelta(hours=72)
    assert approval["createdAt"].endswith("Z") and len(approval["createdAt"]) == 24


def test_same_terms_return_the_same_approval(api, fx, hire):
    first = hire(0)
    again = api.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body())
    assert again.status_code == 202
    assert again.json()["approval"] == first
    # confirmNotFitOverride is not a term (A2)
    body = hire_body() | {"confirmNotFitOverride": True}
    assert (
        api.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=body).json()["approval"]["id"]
        == first["id"]
    )


def test_different_terms_supersede_the_old_approval(api, fx, hire):
    old = hire(0)
    new = hire(0, amount=350)
    assert new["id"] != old["id"] and new["status"] == "pending"
    superseded = api.get(f"/approvals/{old['id']}").json()["approval"]
    assert superseded["status"] == "expired"
    assert superseded["result"] is None and superseded["contractId"] is None
    assert superseded["resolvedAt"] is not None and superseded["resolvedAt"] < superseded["expiresAt"]
    events = api.get("/updates", params={"limit": 200}).json()["events"]
    expired = [
        e for e in events if e["type"] == "approval.confirmed" and e["data"]["approvalId"] == old["id"]
    ]
    assert len(expired) == 1 and expired[0]["data"]["status"] == "expired"
    # repeating the first terms again supersedes the second request
    third = hire(0)
    assert third["id"] not in (old["id"], new["id"])
    assert api.get(f"/approvals/{new['id']}").json()["approval"]["status"] == "expired"


def test_a_new_request_after_expiry_creates_a_new_approval(api, controls, hire):
    old = hire(0)
    controls.post("/clock", json={"advanceSeconds": 72 * 3600 + 1})
    new = hire(0)
    assert new["id"] != old["id"]
    expired = api.get(f"/approvals/{old['id']}").json()["approval"]
    assert expired["status"] == "expired" and expired["resolvedAt"] == expired["expiresAt"]


BAD_BODIES = [
    ("empty", b"", []),
    ("invalid-json", b'{"milestone": ', []),
    ("array", b"[1, 2]", []),
    ("no-milestone", b"{}", ["milestone"]),
    ("missing-amount", hire_body(amount=None), ["milestone", "amount"]),
    ("amount-string", hire_body(amount="300"), ["milestone", "amount"]),
    ("amount-bool", hire_body(amount=True), ["milestone", "amount"]),
    ("amount-zero", hire_body(amount=0), ["milestone", "amount"]),
    ("amount-negative", hire_body(amount=-5), ["milestone", "amount"]),
    ("amount-three-decimals", hire_body(amount=1.234), ["milestone", "amount"]),
    ("amount-float-noise", hire_body(amount=0.1 + 0.2), ["milestone", "amount"]),
    ("no-name-or-description", hire_body(name=None, description=None), ["milestone"]),
    ("blank-name-and-description", hire_body(name="   ", description=""), ["milestone"]),
    ("name-not-string", hire_body(name=5), ["milestone", "name"]),
    ("due-date-format", hire_body(dueDate="July 1"), ["milestone", "dueDate"]),
    ("due-date-impossible", hire_body(dueDate="2026-02-30"), ["milestone", "dueDate"]),
    ("override-not-bool", hire_body() | {"confirmNotFitOverride": "yes"}, ["confirmNotFitOverride"]),
]


@pytest.mark.parametrize(
    ("body", "path"), [(b, p) for _, b, p in BAD_BODIES], ids=[n for n, _, _ in BAD_BODIES]
)
def test_invalid_bodies_are_400_with_zod_issues(api, fx, body, path):
    url = f"/proposals/{fx['proposals']['hireable'][0]}/hire"
    if isinstance(body, bytes):
        response = api.post(url, content=body, headers={"Content-Type": "application/json"})
    else:
        response = api.post(url, json=body)
    envelope = assert_envelope(response, 400, "BAD_REQUEST")
    issues = envelope["details"]["issues"]
    assert issues and all({"code", "path", "message"} <= set(issue) for issue in issues)
    assert path in [issue["path"] for issue in issues]


def test_missing_amount_issue_is_the_documented_example(api, fx):
    response = api.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body(amount=None))
    (issue,) = assert_envelope(response, 400, "BAD_REQUEST")["details"]["issues"]
    assert issue == {
        "code": "invalid_type",
        "expected": "number",
        "received": "undefined",
        "path": ["milestone", "amount"],
        "message": "Required",
    }


def test_valid_variants_are_accepted(api, fx):
    url = f"/proposals/{fx['proposals']['hireable'][1]}/hire"
    body = {"milestone": {"description": "only a description", "amount": 12.5, "extra": "ignored"}, "x": 1}
    assert api.post(url, json=body).status_code == 202
    assert (
        api.post(url, json={"milestone": {"name": "n", "amount": 0.01, "dueDate": None}}).status_code == 202
    )


@pytest.mark.parametrize(
    "header", [None, "Bearer ot_pat_unknown_token", "Token abc", "Bearer", "ot_pat_without_scheme"]
)
def test_missing_or_unknown_token_is_401(sandbox, fx, header):
    headers = {"Authorization": header} if header is not None else {}
    with http_client(sandbox.api_base_url, headers=headers) as client:
        response = client.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body())
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert "www-authenticate" not in response.headers


def test_missing_scope_is_403_with_scope_details(sandbox, fx):
    with client_for(sandbox, fx["limitedToken"]) as client:
        response = client.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body())
    details = assert_envelope(response, 403, "FORBIDDEN")["details"]
    assert details == {"requiredScopes": ["proposals:write"], "grantedScopes": PRE_CLAIM_SCOPES}


def test_feature_off_is_403_with_feature_key(api, controls, fx):
    controls.post("/account", json={"features": {"public_api_hiring": False}})
    response = api.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body())
    assert assert_envelope(response, 403, "FORBIDDEN")["details"] == {"featureKey": "public_api_hiring"}


def test_unclaimed_account_is_403_account_claim_required(api, controls, fx, sandbox):
    controls.post("/account", json={"claimed": False})
    response = api.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body())
    details = assert_envelope(response, 403, "FORBIDDEN")["details"]
    assert details["reason"] == "account_claim_required"
    assert details["claimUrl"] == f"{sandbox.base_url}/claim"
    assert details["action"] == "hire AI trainers"


def test_proposal_on_another_accounts_job_is_403(api, fx):
    response = api.post(f"/proposals/{fx['proposals']['foreign']}/hire", json=hire_body())
    assert_envelope(response, 403, "FORBIDDEN")


def test_unknown_proposal_is_404(api):
    response = api.post("/proposals/doesnotexist0000000000000/hire", json=hire_body())
    details = assert_envelope(response, 404, "NOT_FOUND")["details"]
    assert details == {"resource": "proposals", "proposalId": "doesnotexist0000000000000"}


def test_no_payment_method_is_409_with_billing_url(api, controls, fx, sandbox):
    controls.post("/account", json={"paymentMethod": False, "creditsCents": 0})
    url = f"/proposals/{fx['proposals']['hireable'][0]}/hire"
    details = assert_envelope(api.post(url, json=hire_body()), 409, "CONFLICT")["details"]
    assert details == {"reason": "payment_method_required", "billingUrl": f"{sandbox.base_url}/billing"}
    # credits that cover the full charge (300 + 30.00 + 9.95) are enough; one cent less is not
    controls.post("/account", json={"creditsCents": 33994})
    assert api.post(url, json=hire_body()).status_code == 409
    controls.post("/account", json={"creditsCents": 33995})
    assert api.post(url, json=hire_body()).status_code == 202


def test_already_hired_is_409_already_accepted(api, fx):
    response = api.post(f"/proposals/{fx['proposals']['alreadyHired']}/hire", json=hire_body())
    assert assert_envelope(response, 409, "CONFLICT")["details"] == {"reason": "already_accepted"}


def test_not_a_fit_needs_the_override(api, fx):
    url = f"/proposals/{fx['proposals']['notFit']}/hire"
    details = assert_envelope(api.post(url, json=hire_body()), 409, "CONFLICT")["details"]
    assert details == {"reason": "not_fit_confirmation_required"}
    assert api.post(url, json=hire_body() | {"confirmNotFitOverride": False}).status_code == 409
    response = api.post(url, json=hire_body() | {"confirmNotFitOverride": True})
    assert response.status_code == 202
    assert response.json()["approval"]["proposalId"] == fx["proposals"]["notFit"]


def test_every_error_has_a_fresh_request_id(api):
    ids = {api.post("/proposals/nope/hire", json=hire_body()).json()["requestId"] for _ in range(3)}
    assert len(ids) == 3


ORDER_CASES = [
    # (setup, token key, proposal key, body, expected status, expected marker)
    ("401 before everything", {"features": {"public_api_hiring": False}}, None, "foreign", b"", 401, None),
    ("scope before feature", {"features": {"public_api_hiring": False}}, "limitedToken", "hireable", b"", 403, "requiredScopes"),
    ("feature before claim", {"features": {"public_api_hiring": False}, "claimed": False}, "token", "hireable", b"", 403, "featureKey"),
    ("claim before body", {"claimed": False}, "token", "missing", b"", 403, "reason"),
    ("body before 404", {}, "token", "missing", b"{}", 400, "issues"),
    ("404 before foreign", {}, "token", "missing", None, 404, "resource"),
    ("foreign before 409", {"paymentMethod": False}, "token", "foreign", None, 403, None),
    ("already_accepted before payment", {"paymentMethod": False}, "token", "alreadyHired", None, 409, "already_accepted"),
    ("not_fit before payment", {"paymentMethod": False}, "token", "notFit", None, 409, "not_fit_confirmation_required"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "token_key", "proposal_key", "body", "status", "marker"),
    [case[1:] for case in ORDER_CASES],
    ids=[case[0] for case in ORDER_CASES],
)
def test_checks_run_in_the_a7_order(
    sandbox, controls, fx, setup, token_key, proposal_key, body, status, marker
):
    if setup:
        controls.post("/account", json=setup)
    proposals = fx["proposals"]
    proposal_id = {
        "hireable": proposals["hireable"][0],
        "foreign": proposals["foreign"],
        "missing": "missing0000000000000000000",
        "alreadyHired": proposals["alreadyHired"],
        "notFit": proposals["notFit"],
    }[proposal_key]
    token = fx[token_key] if token_key else None
    with client_for(sandbox, token) as client:
        url = f"/proposals/{proposal_id}/hire"
        if body is None:
            response = client.post(url, json=hire_body())
        else:
            response = client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if marker is not None:
        details = response.json()["details"]
        assert marker in details or marker in details.values()
