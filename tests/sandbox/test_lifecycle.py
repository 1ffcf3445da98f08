"""After the hire (§5, §9): create, fund and approve milestones, end contracts; every documented error, the
idempotent pending approvals, the states and events after each confirmation."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from opentrain_mcp.sandbox.seed import POST_CLAIM_SCOPES

from .conftest import client_for
from .test_hire import assert_envelope

NEW_MILESTONE = {"name": "Batch 2", "description": "Label the next 2,000 posts", "amountUsd": 200}


@pytest.fixture
def contract_id(fx: dict[str, Any]) -> str:
    return fx["contracts"]["alreadyHired"]


def contract(api: httpx2.Client, contract_id: str) -> dict[str, Any]:
    return api.get(f"/contracts/{contract_id}").json()["contract"]


def milestone(api: httpx2.Client, contract_id: str, milestone_id: str) -> dict[str, Any]:
    return next(m for m in contract(api, contract_id)["milestones"] if m["id"] == milestone_id)


def add_milestone(api: httpx2.Client, contract_id: str, **changes: Any) -> dict[str, Any]:
    response = api.post(f"/contracts/{contract_id}/milestones", json={**NEW_MILESTONE, **changes})
    assert response.status_code == 201, response.text
    return response.json()["milestone"]


def events_since(api: httpx2.Client, cursor: str) -> list[dict[str, Any]]:
    return api.get("/updates", params={"cursor": cursor, "limit": 200}).json()["events"]


def last_cursor(api: httpx2.Client) -> str:
    return api.get("/updates", params={"limit": 200}).json()["nextCursor"]


def test_create_milestone_is_201_not_funded_and_listed(api, contract_id):
    created = add_milestone(api, contract_id, dueDate="2099-03-01")
    assert created["status"] == "NOT_FUNDED" and created["amountUsd"] == 200
    assert created["milestoneNumber"] == 2 and created["dueDate"] == "2099-03-01T00:00:00.000Z"
    assert created["pendingApproval"] is False and created["invoiceId"] is None
    assert milestone(api, contract_id, created["id"])["status"] == "NOT_FUNDED"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"amountUsd": 10}, ["description"]),
        ({"description": "  ", "amountUsd": 10}, ["description"]),
        ({"description": "x"}, ["amountUsd"]),
        ({"description": "x", "amountUsd": 0}, ["amountUsd"]),
        ({"description": "x", "amountUsd": 1.234}, ["amountUsd"]),
        ({"description": "x", "amountUsd": "10"}, ["amountUsd"]),
        ({"description": "x", "amountUsd": 10, "dueDate": "2099-02-30"}, ["dueDate"]),
        ({"description": "x", "amountUsd": 10, "name": 5}, ["name"]),
    ],
)
def test_create_milestone_validation_is_400_with_issues(api, contract_id, body, path):
    response = api.post(f"/contracts/{contract_id}/milestones", json=body)
    issues = assert_envelope(response, 400, "BAD_REQUEST")["details"]["issues"]
    assert path in [issue["path"] for issue in issues]


def test_hourly_contract_prices_volume_or_needs_a_rate(api, controls, contract_id):
    controls.post(f"/contracts/{contract_id}", json={"paymentType": "PAY_PER_HOUR", "rateUsd": 20})
    assert add_milestone(api, contract_id, amountUsd=None, volume=12.5)["amountUsd"] == 250
    controls.post(f"/contracts/{contract_id}", json={"rateUsd": None})
    response = api.post(f"/contracts/{contract_id}/milestones", json={"description": "x", "volume": 3})
    assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "contract_rate_missing"
    response = api.post(f"/contracts/{contract_id}/milestones", json={"description": "x"})
    assert_envelope(response, 400, "BAD_REQUEST")


def test_fund_is_202_idempotent_and_confirm_funds(api, controls, contract_id):
    created = add_milestone(api, contract_id)
    cursor = last_cursor(api)
    first = api.post(f"/milestones/{created['id']}/fund")
    assert first.status_code == 202 and "human must confirm" in first.json()["message"]
    approval = first.json()["approval"]
    assert approval["type"] == "milestone_fund" and approval["status"] == "pending"
    assert approval["milestoneId"] == created["id"] and approval["contractId"] == contract_id
    assert approval["proposalId"] is None
    assert api.post(f"/milestones/{created['id']}/fund").json()["approval"]["id"] == approval["id"]
    assert milestone(api, contract_id, created["id"])["pendingApproval"] is True
    done = controls.post(f"/approvals/{approval['id']}/confirm").json()["approval"]
    assert done["status"] == "confirmed" and set(done["result"]) == {"invoiceId", "paymentIntentId"}
    funded = milestone(api, contract_id, created["id"])
    assert funded["status"] == "ACTIVE_FUNDED" and funded["invoiceId"] == done["result"]["invoiceId"]
    assert funded["pendingApproval"] is False
    events = [(e["type"], e["data"].get("status")) for e in events_since(api, cursor)]
    assert events == [("milestone.status_changed", "ACTIVE_FUNDED"), ("approval.confirmed", "confirmed")]
    again = api.post(f"/milestones/{created['id']}/fund")
    assert assert_envelope(again, 409, "CONFLICT")["details"]["reason"] == "milestone_not_fundable"


def test_fund_without_payment_is_409_with_billing_url(api, controls, contract_id, sandbox):
    created = add_milestone(api, contract_id)
    controls.post("/account", json={"paymentMethod": False, "creditsCents": 21999})
    response = api.post(f"/milestones/{created['id']}/fund")
    details = assert_envelope(response, 409, "CONFLICT")["details"]
    assert details == {"reason": "payment_method_required", "billingUrl": f"{sandbox.base_url}/billing"}
    controls.post("/account", json={"creditsCents": 22000})  # 200 + 10 %
    approval = api.post(f"/milestones/{created['id']}/fund").json()["approval"]
    controls.post(f"/approvals/{approval['id']}/confirm")
    account = controls.get("/account").json()
    assert account["creditsCents"] == 0 and account["reservedCents"] == 22000


def test_approve_is_202_idempotent_and_confirm_pays(api, controls, contract_id):
    funded_id = contract(api, contract_id)["milestones"][0]["id"]
    cursor = last_cursor(api)
    approval = api.post(f"/milestones/{funded_id}/approve").json()["approval"]
    assert approval["type"] == "milestone_approve" and approval["status"] == "pending"
    assert api.post(f"/milestones/{funded_id}/approve").json()["approval"]["id"] == approval["id"]
    done = controls.post(f"/approvals/{approval['id']}/confirm").json()["approval"]
    assert set(done["result"]) == {"invoiceId", "payoutTransactionId"}
    assert milestone(api, contract_id, funded_id)["status"] == "PAID"
    assert [e["type"] for e in events_since(api, cursor)] == [
        "milestone.status_changed",
        "approval.confirmed",
    ]
    response = api.post(f"/milestones/{funded_id}/approve")
    assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "milestone_not_funded"


def test_approve_unfunded_is_409_milestone_not_funded(api, contract_id):
    created = add_milestone(api, contract_id)
    response = api.post(f"/milestones/{created['id']}/approve")
    assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "milestone_not_funded"


def test_end_with_a_funded_milestone_needs_a_cosign(api, controls, contract_id):
    funded_id = contract(api, contract_id)["milestones"][0]["id"]
    unfunded = add_milestone(api, contract_id)
    response = api.post(f"/contracts/{contract_id}/end")
    assert response.status_code == 202
    approval = response.json()["approval"]
    assert approval["type"] == "contract_end" and approval["milestoneId"] is None
    assert api.post(f"/contracts/{contract_id}/end").json()["approval"]["id"] == approval["id"]
    assert contract(api, contract_id)["status"] == "active"
    done = controls.post(f"/approvals/{approval['id']}/confirm").json()["approval"]
    assert done["result"] == {"contractEnded": True}
    ended = contract(api, contract_id)
    assert ended["status"] == "ended" and ended["endDate"] is not None
    assert [(m["id"], m["status"]) for m in ended["milestones"]] == [
        (funded_id, "REFUNDED"),
        (unfunded["id"], "CANCELLED"),
    ], "the contract itself keeps each milestone with its final state"
    listed = api.get("/contracts", params={"status": "ended"}).json()["contracts"][0]
    assert listed["id"] == contract_id
    assert listed["milestones"] == [], "listings omit cancelled and refunded milestones (§8.1)"
    for path in (f"/contracts/{contract_id}/end", f"/contracts/{contract_id}/milestones"):
        response = api.post(path, json=NEW_MILESTONE)
        assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "contract_ended"
    response = api.post(f"/milestones/{unfunded['id']}/fund")
    assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "milestone_not_fundable"
    response = api.post(f"/milestones/{funded_id}/approve")
    assert assert_envelope(response, 409, "CONFLICT")["details"]["reason"] == "milestone_not_funded"


def test_end_without_funded_milestones_is_200_at_once(api, controls, contract_id):
    funded_id = contract(api, contract_id)["milestones"][0]["id"]
    approval = api.post(f"/milestones/{funded_id}/approve").json()["approval"]
    controls.post(f"/approvals/{approval['id']}/confirm")
    response = api.post(f"/contracts/{contract_id}/end")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "contractId": contract_id, "status": "ended"}
    assert contract(api, contract_id)["status"] == "ended"


def test_confirming_on_an_ended_contract_runs_nothing(api, controls, contract_id):
    funded_id = contract(api, contract_id)["milestones"][0]["id"]
    release = api.post(f"/milestones/{funded_id}/approve").json()["approval"]
    end = api.post(f"/contracts/{contract_id}/end").json()["approval"]
    controls.post(f"/approvals/{end['id']}/confirm").raise_for_status()
    response = controls.post(f"/approvals/{release['id']}/confirm")
    assert response.status_code == 409 and response.json()["reason"] == "contract_ended"


def test_declined_fund_leaves_the_milestone_unfunded_and_a_new_request_is_new(api, controls, contract_id):
    created = add_milestone(api, contract_id)
    first = api.post(f"/milestones/{created['id']}/fund").json()["approval"]
    controls.post(f"/approvals/{first['id']}/decline")
    assert milestone(api, contract_id, created["id"])["status"] == "NOT_FUNDED"
    second = api.post(f"/milestones/{created['id']}/fund").json()["approval"]
    assert second["id"] != first["id"] and second["status"] == "pending"


@pytest.mark.parametrize(
    ("method_path", "resource"),
    [
        ("/contracts/nope/milestones", "contracts"),
        ("/milestones/nope/fund", "milestones"),
        ("/milestones/nope/approve", "milestones"),
        ("/contracts/nope/end", "contracts"),
    ],
)
def test_unknown_targets_are_404(api, method_path, resource):
    response = api.post(method_path, json=NEW_MILESTONE)
    assert assert_envelope(response, 404, "NOT_FOUND")["details"]["resource"] == resource


def test_gates_scope_feature_claim_and_foreign_account(sandbox, api, controls, fx, contract_id):
    paths = [
        f"/contracts/{contract_id}/milestones",
        f"/contracts/{contract_id}/end",
        f"/milestones/{contract(api, contract_id)['milestones'][0]['id']}/approve",
    ]
    with client_for(sandbox, sandbox.state.limited_token) as limited:
        body = assert_envelope(limited.post(paths[0], json=NEW_MILESTONE), 403, "FORBIDDEN")
        assert body["details"]["requiredScopes"] == ["payments:write"]
    assert "payments:write" not in POST_CLAIM_SCOPES
    with client_for(sandbox, fx["foreignToken"]) as foreign:
        assert foreign.post(paths[1]).status_code == 403, "the foreign token lacks payments:write first"
    controls.post("/account", json={"features": {"public_api_payments_write": False}})
    for path in paths:
        body = assert_envelope(api.post(path, json=NEW_MILESTONE), 403, "FORBIDDEN")
        assert body["details"]["featureKey"] == "public_api_payments_write"
    controls.post("/account", json={"features": {"public_api_payments_write": True}, "claimed": False})
    for path in paths:
        body = assert_envelope(api.post(path, json=NEW_MILESTONE), 403, "FORBIDDEN")
        assert body["details"]["reason"] == "account_claim_required"
    assert contract(api, contract_id)["status"] == "active"


def request_each_kind(api: httpx2.Client, contract_id: str, kind: str) -> dict[str, Any]:
    """A pending approval of ``kind`` made through the real endpoint."""
    if kind == "milestone_fund":
        return api.post(f"/milestones/{add_milestone(api, contract_id)['id']}/fund").json()["approval"]
    if kind == "milestone_approve":
        funded_id = contract(api, contract_id)["milestones"][0]["id"]
        return api.post(f"/milestones/{funded_id}/approve").json()["approval"]
    return api.post(f"/contracts/{contract_id}/end").json()["approval"]


@pytest.mark.parametrize(
    ("kind", "words", "total"),
    [
        ("milestone_fund", "holds it in escrow", "$220.00"),
        ("milestone_approve", "cannot be undone", "$250.00"),
        ("contract_end", "are refunded", "$250.00"),
    ],
)
@pytest.mark.parametrize("action", ["confirm", "decline"])
def test_each_approval_page_states_its_money_and_acts(api, web, contract_id, kind, words, total, action):
    approval = request_each_kind(api, contract_id, kind)
    page = web.get(f"/approvals/{approval['id']}").text
    assert words in page and f'data-testid="total">{total}' in page
    web.post(f"/approvals/{approval['id']}/{action}")
    after = api.get(f"/approvals/{approval['id']}").json()["approval"]
    assert after["status"] == ("confirmed" if action == "confirm" else "declined")
    assert (contract(api, contract_id)["status"] == "ended") == (
        kind == "contract_end" and action == "confirm"
    )
