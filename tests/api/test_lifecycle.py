"""The client's after-the-hire calls against the real sandbox over loopback HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from opentrain_mcp.api import (
    BadRequestError,
    ConflictError,
    MalformedResponseError,
    NewMilestone,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    TransportError,
)
from tests.api.test_client import client_for
from tests.conftest import Controls

pytestmark = pytest.mark.anyio
BATCH = NewMilestone(
    name="Batch 2", description="Label 2,000 more posts", amountUsd=200, dueDate="2099-03-01"
)


def posts(controls: Controls, suffix: str) -> list[dict[str, Any]]:
    return [r for r in controls.requests() if r["method"] == "POST" and r["path"].endswith(suffix)]


async def test_milestone_fund_release_end_round_trip(sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    async with client_for(sandbox) as ot:
        created = await ot.create_milestone(contract_id, BATCH)
        assert created.status == "NOT_FUNDED" and created.amountUsd == 200
        assert posts(controls, "/milestones")[0]["body"] == BATCH.to_wire()
        fund = await ot.fund_milestone(created.id)
        assert fund.approval.type == "milestone_fund" and fund.approval.milestoneId == created.id
        assert (await ot.fund_milestone(created.id)).approval.id == fund.approval.id
        controls.confirm(fund.approval.id)
        release = await ot.approve_milestone(created.id)
        assert release.approval.type == "milestone_approve" and "human" in release.message
        controls.confirm(release.approval.id)
        contract = (await ot.get_contract(contract_id))["contract"]
        assert [m["status"] for m in contract["milestones"]] == ["ACTIVE_FUNDED", "PAID"]
        end = await ot.end_contract(contract_id)
        assert not end.ended and end.approval is not None and end.approval.type == "contract_end"
        controls.confirm(end.approval.id)
        assert (await ot.get_contract(contract_id))["contract"]["status"] == "ended"
        with pytest.raises(ConflictError) as err:
            await ot.end_contract(contract_id)
    assert err.value.reason == "contract_ended"


async def test_end_with_nothing_funded_ends_at_once(sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    async with client_for(sandbox) as ot:
        funded = (await ot.get_contract(contract_id))["contract"]["milestones"][0]["id"]
        controls.confirm((await ot.approve_milestone(funded)).approval.id)
        end = await ot.end_contract(contract_id)
    assert end.ended and end.approval is None


async def test_documented_errors_are_typed(sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    async with client_for(sandbox) as ot:
        funded = (await ot.get_contract(contract_id))["contract"]["milestones"][0]["id"]
        with pytest.raises(ConflictError) as err:
            await ot.fund_milestone(funded)
        assert err.value.reason == "milestone_not_fundable"
        created = await ot.create_milestone(contract_id, BATCH)
        with pytest.raises(ConflictError) as err:
            await ot.approve_milestone(created.id)
        assert err.value.reason == "milestone_not_funded"
        controls.account(paymentMethod=False)
        with pytest.raises(ConflictError) as err:
            await ot.fund_milestone(created.id)
        assert err.value.reason == "payment_method_required" and err.value.details["billingUrl"]
        with pytest.raises(NotFoundError):
            await ot.fund_milestone("nope")
        with pytest.raises(BadRequestError) as bad:
            await ot.create_milestone(contract_id, {"description": "x"})
        assert any(i["path"] == ["amountUsd"] for i in bad.value.issues)
        controls.http.post(
            f"/contracts/{contract_id}", json={"paymentType": "PAY_PER_LABEL", "rateUsd": None}
        )
        with pytest.raises(ConflictError) as err:
            await ot.create_milestone(contract_id, {"description": "x", "volume": 1000})
        assert err.value.reason == "contract_rate_missing"
        controls.account(features={"public_api_payments_write": False})
        with pytest.raises(PermissionDeniedError) as denied:
            await ot.end_contract(contract_id)
        assert denied.value.details["featureKey"] == "public_api_payments_write"


async def test_local_validation_never_reaches_the_api(sandbox, controls, ids):
    async with client_for(sandbox) as ot:
        for bad in ("../x", "a/b", ""):
            with pytest.raises(ValueError):
                await ot.fund_milestone(bad)
        with pytest.raises(ValueError):
            await ot.create_milestone(ids["contracts"]["alreadyHired"], {"description": " ", "amountUsd": 5})
    assert controls.requests() == []


async def test_create_is_not_retried_once_it_may_have_run(sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    controls.fault(path="/milestones", count=1, kind="status", status=503)
    async with client_for(sandbox) as ot:
        with pytest.raises(ServerError):
            await ot.create_milestone(contract_id, BATCH)
        controls.fault(path="/milestones", count=1, kind="drop", after=True)
        with pytest.raises(TransportError):
            await ot.create_milestone(contract_id, BATCH)
        contract = (await ot.get_contract(contract_id))["contract"]
    assert posts(controls, "/milestones")[0]["status"] == 503
    assert len(posts(controls, "/milestones")) == 2, "one attempt each: a repeat could add a second milestone"
    assert len(contract["milestones"]) == 2, "the dropped answer's milestone exists; nothing was duplicated"


async def test_fund_is_retried_because_it_is_idempotent(sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    async with client_for(sandbox) as ot:
        created = await ot.create_milestone(contract_id, BATCH)
        controls.fault(path="/fund", count=1, kind="drop", after=True)
        accepted = await ot.fund_milestone(created.id)
        again = await ot.fund_milestone(created.id)
    assert accepted.approval.id == again.approval.id
    assert len(posts(controls, "/fund")) == 3


async def test_an_approval_for_another_target_is_rejected(sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    body = '{"approval": {"id": "a1", "type": "milestone_fund", "status": "pending", "milestoneId": "other"}}'
    controls.fault(
        path="/fund", count=1, kind="malformed", status=202, body=body, contentType="application/json"
    )
    async with client_for(sandbox) as ot:
        created = await ot.create_milestone(contract_id, BATCH)
        with pytest.raises(MalformedResponseError):
            await ot.fund_milestone(created.id)
