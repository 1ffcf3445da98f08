"""`GET /updates`: ordering, cursor paging, limit validation, scope filtering and the events of each outcome."""

from __future__ import annotations

from typing import Any

import pytest

from opentrain_mcp.sandbox.errors import ApiError

from .conftest import client_for
from .test_hire import assert_envelope


def all_events(api, cursor: str | None = None, limit: int = 200) -> tuple[list[dict[str, Any]], str | None]:
    """Follow nextCursor to the end; return the events and the final cursor."""
    events: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/updates", params=params).json()
        events += page["events"]
        cursor = page["nextCursor"]
        if not page["hasMore"]:
            return events, cursor


def test_events_are_oldest_first_with_increasing_numeric_ids(api):
    events, cursor = all_events(api, limit=4)
    ids = [int(e["id"]) for e in events]
    assert all(isinstance(e["id"], str) for e in events)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["createdAt"] for e in events] == sorted(e["createdAt"] for e in events)
    assert cursor == events[-1]["id"]
    for event in events:
        assert set(event) == {"id", "type", "apiVersion", "createdAt", "resourceId", "jobId", "data"}
        assert event["apiVersion"] == "v1"
    assert {"proposal.received", "contract.created", "approval.confirmed"} <= {e["type"] for e in events}


def test_paging_matches_one_big_page(api):
    small, _ = all_events(api, limit=3)
    big = api.get("/updates", params={"limit": 200}).json()
    assert big["hasMore"] is False
    assert small == big["events"]


def test_empty_page_echoes_the_cursor(api):
    _, cursor = all_events(api)
    page = api.get("/updates", params={"cursor": cursor}).json()
    assert page == {"events": [], "nextCursor": cursor, "hasMore": False}


def test_default_limit_is_50(api, hire):
    for amount in range(1, 60):  # each superseded request emits one approval.confirmed event
        hire(0, amount=amount)
    page = api.get("/updates").json()
    assert len(page["events"]) == 50 and page["hasMore"] is True
    page = api.get("/updates", params={"limit": 200}).json()
    assert len(page["events"]) > 50


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5"])
def test_limit_out_of_range_is_400(api, limit):
    response = api.get("/updates", params={"limit": limit})
    assert assert_envelope(response, 400, "BAD_REQUEST")["details"] == {"field": "limit"}


def test_limit_bounds_are_accepted(api):
    assert len(api.get("/updates", params={"limit": 1}).json()["events"]) == 1
    assert api.get("/updates", params={"limit": 200}).status_code == 200


def test_bad_cursor_is_400(api):
    assert assert_envelope(api.get("/updates", params={"cursor": "abc"}), 400, "BAD_REQUEST")["details"] == {
        "field": "cursor"
    }


def test_confirm_emits_events_in_a6_order(api, controls, hire):
    _, cursor = all_events(api)
    approval = hire(0)
    confirmed = controls.post(f"/approvals/{approval['id']}/confirm").json()["approval"]
    events, _ = all_events(api, cursor)
    assert [e["type"] for e in events] == [
        "proposal.status_changed",
        "contract.created",
        "milestone.status_changed",
        "approval.confirmed",
    ]
    status_changed, created, milestone, done = events
    assert status_changed["data"] == {"proposalId": approval["proposalId"], "status": "HIRED"}
    assert created["data"] == {
        "contractId": confirmed["contractId"],
        "jobId": approval["jobId"],
        "proposalId": approval["proposalId"],
    }
    contract = api.get(f"/contracts/{confirmed['contractId']}").json()["contract"]
    assert milestone["data"] == {
        "milestoneId": contract["milestones"][0]["id"],
        "contractId": confirmed["contractId"],
        "status": "ACTIVE_FUNDED",
    }
    assert done["resourceId"] == approval["id"] and done["jobId"] == approval["jobId"]
    assert done["data"] == {"approvalId": approval["id"], "status": "confirmed", "approval": confirmed}


def test_decline_emits_approval_confirmed_declined(api, controls, hire):
    _, cursor = all_events(api)
    approval = hire(0)
    declined = controls.post(f"/approvals/{approval['id']}/decline").json()["approval"]
    events, _ = all_events(api, cursor)
    assert [(e["type"], e["data"]["status"]) for e in events] == [("approval.confirmed", "declined")]
    assert events[0]["data"]["approval"] == declined


def test_polling_updates_expires_stale_approvals(api, controls, hire):
    _, cursor = all_events(api)
    approval = hire(0)
    controls.post("/clock", json={"advanceSeconds": 72 * 3600})
    events, _ = all_events(api, cursor)
    assert [(e["type"], e["data"]["approvalId"], e["data"]["status"]) for e in events] == [
        ("approval.confirmed", approval["id"], "expired")
    ]
    assert events[0]["data"]["approval"]["status"] == "expired"


def test_accounts_see_only_their_own_events(sandbox, api, fx):
    mine, _ = all_events(api)
    with client_for(sandbox, fx["foreignToken"]) as other:
        theirs, _ = all_events(other)
    assert {e["jobId"] for e in theirs} == {fx["jobs"]["foreign"]}
    assert not {e["id"] for e in mine} & {e["id"] for e in theirs}


def test_events_are_filtered_by_scope(sandbox, fx):
    state = sandbox.state
    token = state.authenticate(f"Bearer {fx['token']}")
    proposals_only = dict(token, scopes=["proposals:read"])
    types = {e["type"] for e in state.updates(proposals_only, None, "200")["events"]}
    assert types == {"proposal.received", "proposal.status_changed"}
    payments_only = dict(token, scopes=["payments:write"])  # :write implies :read
    types = {e["type"] for e in state.updates(payments_only, None, "200")["events"]}
    assert types == {"contract.created", "milestone.status_changed", "approval.confirmed"}
    with pytest.raises(ApiError) as error:
        state.updates(dict(token, scopes=["jobs:read"]), None, None)
    assert error.value.status == 403
    assert error.value.details == {
        "requiredScopes": ["proposals:read", "messages:read", "payments:read"],
        "grantedScopes": ["jobs:read"],
    }
