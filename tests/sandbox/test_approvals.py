"""`GET /approvals/{id}`, lazy expiry, the human's confirm/decline (controls) and what confirming creates."""

from __future__ import annotations

import json
import re

from .conftest import client_for, hire_body
from .test_hire import assert_envelope

MASKED = re.compile(r"^[A-Z][a-z]+ [A-Z]\.$")


def test_get_approval_matches_the_hire_response(api, hire):
    approval = hire(0)
    assert api.get(f"/approvals/{approval['id']}").json() == {"approval": approval}


def test_unknown_approval_is_404(api):
    details = assert_envelope(api.get("/approvals/nope"), 404, "NOT_FOUND")["details"]
    assert details == {"resource": "approvals", "approvalId": "nope"}


def test_approvals_are_visible_to_the_account_only(sandbox, api, fx, hire):
    mine = hire(0)
    with client_for(sandbox, fx["limitedToken"]) as same_account:
        assert same_account.get(f"/approvals/{mine['id']}").status_code == 200
    with client_for(sandbox, fx["foreignToken"]) as other:
        details = assert_envelope(other.get(f"/approvals/{mine['id']}"), 404, "NOT_FOUND")["details"]
        assert details == {"resource": "approvals", "approvalId": mine["id"]}
        theirs = other.post(f"/proposals/{fx['proposals']['foreign']}/hire", json=hire_body())
        assert theirs.status_code == 202
        their_id = theirs.json()["approval"]["id"]
        assert other.get(f"/approvals/{their_id}").status_code == 200
    assert api.get(f"/approvals/{their_id}").status_code == 404


def test_get_approval_requires_a_token(sandbox, hire):
    approval = hire(0)
    with client_for(sandbox, None) as anonymous:
        assert_envelope(anonymous.get(f"/approvals/{approval['id']}"), 401, "UNAUTHORIZED")


def test_lazy_expiry_on_read(api, controls, hire):
    approval = hire(0)
    controls.post("/clock", json={"advanceSeconds": 71 * 3600})
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"
    controls.post("/clock", json={"advanceSeconds": 3600})
    expired = api.get(f"/approvals/{approval['id']}").json()["approval"]
    assert expired["status"] == "expired"
    assert expired["resolvedAt"] == expired["expiresAt"]
    assert expired["result"] is None and expired["contractId"] is None
    api.get(f"/approvals/{approval['id']}")
    events = api.get("/updates", params={"limit": 200}).json()["events"]
    mine = [
        e for e in events if e["type"] == "approval.confirmed" and e["data"]["approvalId"] == approval["id"]
    ]
    assert [e["data"]["status"] for e in mine] == ["expired"]  # emitted once, at the first touch


def test_confirm_creates_contract_and_marks_proposal_hired(api, controls, fx, hire):
    proposal_id = fx["proposals"]["hireable"][0]
    approval = hire(0)
    confirmed = controls.post(f"/approvals/{approval['id']}/confirm").json()["approval"]
    assert confirmed["status"] == "confirmed"
    assert confirmed["resolvedAt"] is not None and confirmed["milestoneId"] is None
    contract_id = confirmed["contractId"]
    proposal = api.get(f"/proposals/{proposal_id}").json()["proposal"]
    assert confirmed["result"] == {
        "hired": True,
        "contractId": contract_id,
        "jobId": fx["jobs"]["primary"],
        "freelancerUserId": proposal["candidate"]["id"],
    }
    assert api.get(f"/approvals/{approval['id']}").json()["approval"] == confirmed
    assert proposal["status"] == {"raw": "HIRED", "label": "Hired"}
    assert proposal["contract"]["id"] == contract_id
    contract = api.get(f"/contracts/{contract_id}").json()["contract"]
    assert contract["status"] == "active" and contract["proposalId"] == proposal_id
    assert contract["paymentType"] == "FIXED_PRICE" and contract["rateUsd"] == 300
    assert contract["hasActiveMilestone"] is True
    assert MASKED.match(contract["freelancer"]["displayName"])
    assert contract["freelancer"] == {
        "userId": proposal["candidate"]["id"],
        "displayName": proposal["candidate"]["displayName"],
        "country": proposal["candidate"]["country"],
        "profilePath": f"/profile/{proposal['candidate']['profileSlug']}",
    }
    (milestone,) = contract["milestones"]
    assert milestone["status"] == "ACTIVE_FUNDED"
    assert milestone["name"] == "First labeling batch"
    assert milestone["description"] == "Label the first 5,000 posts per the guidelines"
    assert milestone["amountUsd"] == 300 and milestone["milestoneNumber"] == 1
    assert milestone["dueDate"] == "2026-07-01T00:00:00.000Z"
    assert milestone["invoiceId"]
    assert contract["budget"]["state"] == "OK"
    assert "email" not in json.dumps(contract).lower()
    listed = api.get("/contracts", params={"jobId": fx["jobs"]["primary"]}).json()["contracts"]
    assert contract_id in [c["id"] for c in listed]
    # a hire of the now-hired proposal is already_accepted
    again = api.post(f"/proposals/{proposal_id}/hire", json=hire_body())
    assert again.json()["details"]["reason"] == "already_accepted"


def test_confirm_with_edited_terms_uses_the_human_values(api, controls, hire):
    approval = hire(0)
    edited = {"milestone": {"amount": 450, "dueDate": "2026-08-01", "name": "Edited batch"}}
    confirmed = controls.post(f"/approvals/{approval['id']}/confirm", json=edited).json()["approval"]
    (milestone,) = api.get(f"/contracts/{confirmed['contractId']}").json()["contract"]["milestones"]
    assert milestone["amountUsd"] == 450 and milestone["name"] == "Edited batch"
    assert milestone["description"] == "Label the first 5,000 posts per the guidelines"
    assert milestone["dueDate"] == "2026-08-01T00:00:00.000Z"


def test_confirm_with_invalid_edits_is_400_and_changes_nothing(api, controls, hire):
    approval = hire(0)
    response = controls.post(f"/approvals/{approval['id']}/confirm", json={"milestone": {"amount": -1}})
    assert response.status_code == 400
    assert response.json()["issues"][0]["path"] == ["milestone", "amount"]
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"


def test_decline(api, controls, hire):
    approval = hire(0)
    declined = controls.post(f"/approvals/{approval['id']}/decline").json()["approval"]
    assert declined["status"] == "declined"
    assert declined["result"] is None and declined["contractId"] is None and declined["resolvedAt"]
    assert approval["proposalId"] not in [c["proposalId"] for c in api.get("/contracts").json()["contracts"]]
    # after a decline nothing is pending, so the same terms create a new approval
    assert (
        api.post(f"/proposals/{approval['proposalId']}/hire", json=hire_body()).json()["approval"]["id"]
        != approval["id"]
    )


def test_resolved_approvals_cannot_be_resolved_again(controls, hire):
    approval = hire(0)
    assert controls.post(f"/approvals/{approval['id']}/confirm").status_code == 200
    for action in ("confirm", "decline"):
        response = controls.post(f"/approvals/{approval['id']}/{action}")
        assert response.status_code == 409
        assert response.json()["approval"]["status"] == "confirmed"


def test_confirming_an_expired_approval_is_409(controls, hire):
    approval = hire(0)
    controls.post("/clock", json={"advanceSeconds": 73 * 3600})
    response = controls.post(f"/approvals/{approval['id']}/confirm")
    assert response.status_code == 409
    assert response.json()["approval"]["status"] == "expired"


def test_unknown_approval_control_is_404(controls):
    assert controls.post("/approvals/nope/confirm").status_code == 404
    assert controls.post("/approvals/nope/decline").status_code == 404


def test_paying_with_credits_holds_the_full_charge(api, controls, hire):
    controls.post("/account", json={"paymentMethod": False, "creditsCents": 50_000})
    approval = hire(0, amount=100)
    confirmed = controls.post(f"/approvals/{approval['id']}/confirm").json()["approval"]
    credits = api.get("/credits").json()["credits"]
    assert credits["availableCents"] == 50_000 - 11_995
    assert credits["reservedCents"] == 11_995
    (entry,) = credits["recentEntries"]
    assert entry["type"] == "HOLD" and entry["amountCents"] == 11_995
    assert entry["contractId"] == confirmed["contractId"]


def test_payment_source_that_cannot_pay_is_409(controls, hire):
    approval = hire(0)
    response = controls.post(f"/approvals/{approval['id']}/confirm", json={"paymentSource": "credits"})
    assert response.status_code == 409 and response.json()["reason"] == "payment_method_required"
    assert (
        controls.post(f"/approvals/{approval['id']}/confirm", json={"paymentSource": "bitcoin"}).status_code
        == 400
    )
