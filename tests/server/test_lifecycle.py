"""After the hire, through the SDK's real Client in both eras against the sandbox: create_milestone,
request_milestone_funding, request_milestone_release, end_contract; every documented error; idempotent repeats;
the contract and milestone states after each confirmation; the ledger; --read-only, --toolsets and the budget."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestURLParams

from opentrain_mcp.policy import SpendPolicy
from opentrain_mcp.server.app import TOOLS_LIST_BUDGET, TOOLSETS, WRITE_TOOLS, build_server
from tests.conftest import Controls
from tests.server.test_human_loop import elicitor
from tests.server.test_human_loop import server as hiring_server
from tests.server.test_tools import text_of

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
BATCH = {
    "name": "Batch 2",
    "description": "Label 2,000 more posts",
    "amountUsd": 200,
    "dueDate": "2099-03-01",
}
CONTRACT_TOOLS = {
    "create_milestone",
    "request_milestone_funding",
    "request_milestone_release",
    "end_contract",
}


def server(settings: Any, **options: Any) -> Any:
    """A server with both tool families (the contract tools are opt-in)."""
    options.setdefault("toolsets", set(TOOLSETS))
    return hiring_server(settings, **options)


def contract_of(sandbox: Any, contract_id: str) -> dict[str, Any]:
    """The sandbox's own view of the contract (the truth the tools must report)."""
    state = sandbox.state
    return state.get_contract(state.authenticate(f"Bearer {state.token}"), contract_id)["contract"]


def statuses(sandbox: Any, contract_id: str) -> dict[str, str]:
    return {m["id"]: m["status"] for m in contract_of(sandbox, contract_id)["milestones"]}


def posts(controls: Controls, suffix: str) -> int:
    return sum(1 for r in controls.requests() if r["method"] == "POST" and r["path"].endswith(suffix))


async def call(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    r = await client.call_tool(tool, args)
    assert not r.is_error, text_of(r)
    return {"text": text_of(r), **(r.structured_content or {})}


async def error_of(client: Client, tool: str, **args: Any) -> str:
    r = await client.call_tool(tool, args)
    assert r.is_error, r.structured_content
    return text_of(r)


@pytest.mark.parametrize("mode", ERAS)
async def test_whole_lifecycle_with_states_after_each_confirmation(
    settings, sandbox, controls, ids, tmp_path, mode
):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]["id"]
    ledger = str(tmp_path / "ledger.sqlite3")
    async with Client(server(settings, ledger_path=ledger), mode=mode) as c:
        created = await call(c, "create_milestone", contractId=contract_id, milestone=BATCH)
        milestone_id = created["milestone"]["id"]
        assert (
            created["milestone"]["status"] == "NOT_FUNDED"
            and "request_milestone_funding" in created["nextStep"]
        )
        assert statuses(sandbox, contract_id) == {first: "ACTIVE_FUNDED", milestone_id: "NOT_FUNDED"}

        fund = await call(c, "request_milestone_funding", milestoneId=milestone_id)
        approval = fund["approval"]
        assert approval["type"] == "milestone_fund" and approval["status"] == "pending"
        assert fund["amountUsd"] == 200 and fund["estimatedChargeUsd"] == 220
        assert '"Batch 2"' in fund["asks"] and "$220.00" in fund["asks"] and "not for later" in fund["asks"]
        assert approval["approvalUrl"] in fund["text"] and "NOT done yet" in fund["text"]
        again = await call(c, "request_milestone_funding", milestoneId=milestone_id)
        assert again["approval"]["id"] == approval["id"], "a repeat returns the same approval"
        assert statuses(sandbox, contract_id)[milestone_id] == "NOT_FUNDED", (
            "nothing is funded before the human"
        )
        controls.confirm(approval["id"])
        checked = await call(c, "check_approval", approvalId=approval["id"])
        assert "funded" in checked["meaning"] and "request_milestone_release" in checked["nextStep"]
        assert statuses(sandbox, contract_id)[milestone_id] == "ACTIVE_FUNDED"

        release = await call(c, "request_milestone_release", milestoneId=milestone_id)
        assert release["approval"]["type"] == "milestone_approve" and "$200.00" in release["asks"]
        assert "estimatedChargeUsd" not in release
        controls.confirm(release["approval"]["id"])
        checked = await call(c, "check_approval", approvalId=release["approval"]["id"])
        assert "payout released" in checked["meaning"]
        assert statuses(sandbox, contract_id) == {first: "ACTIVE_FUNDED", milestone_id: "PAID"}

        end = await call(c, "end_contract", contractId=contract_id)
        assert end["ended"] is False and end["approval"]["type"] == "contract_end"
        assert end["amountUsd"] == 250 and "$250.00" in end["asks"]
        assert contract_of(sandbox, contract_id)["status"] == "active"
        controls.confirm(end["approval"]["id"])
        checked = await call(c, "wait_for_approval", approvalId=end["approval"]["id"], timeoutSeconds=5)
        assert "contract has ended" in checked["meaning"]
        assert contract_of(sandbox, contract_id)["status"] == "ended"

        listed = (await call(c, "list_hire_requests"))["hireRequests"]
    kinds = [(r["kind"], r["targetId"], r["amountUsd"], r["status"]) for r in listed]
    assert kinds == [
        ("contract_end", contract_id, 250, "confirmed"),
        ("milestone_approve", milestone_id, 200, "confirmed"),
        ("milestone_fund", milestone_id, 220, "confirmed"),
    ]
    assert posts(controls, "/fund") == 2 and posts(controls, "/approve") == 1 and posts(controls, "/end") == 1


@pytest.mark.parametrize("mode", ERAS)
async def test_end_with_nothing_funded_ends_at_once(settings, sandbox, controls, ids, mode):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]["id"]
    async with Client(server(settings), mode=mode) as c:
        release = await call(c, "request_milestone_release", milestoneId=first)
        controls.confirm(release["approval"]["id"])
        end = await call(c, "end_contract", contractId=contract_id)
        assert end["ended"] is True and "approval" not in end and "ended at once" in end["text"]
        assert contract_of(sandbox, contract_id)["status"] == "ended"
        text = await error_of(c, "end_contract", contractId=contract_id)
    assert "contract_ended" in text and "requestId" in text and "Next:" in text


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_each_cosigned_tool_shows_its_link_once_with_one_post(
    settings, sandbox, controls, ids, mode, action
):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]["id"]
    seen: list[ElicitRequestURLParams] = []
    async with Client(server(settings), mode=mode, elicitation_callback=elicitor(action, seen)) as c:
        created = await call(c, "create_milestone", contractId=contract_id, milestone=BATCH)
        assert seen == [], "creating a milestone moves no money and asks nothing"
        calls = [
            ("request_milestone_funding", {"milestoneId": created["milestone"]["id"]}, "/fund", "$220.00"),
            ("request_milestone_release", {"milestoneId": first}, "/approve", "$250.00"),
            ("end_contract", {"contractId": contract_id}, "/end", "$250.00"),
        ]
        for tool, args, suffix, amount in calls:
            out = await call(c, tool, **args)
            assert seen[-1].url == out["approval"]["approvalUrl"] and amount in seen[-1].message
            assert out["linkShown"] == action and out["approval"]["status"] == "pending"
            assert posts(controls, suffix) == 1, (
                f"{tool}: one POST per logical request, also on the 2026 retry"
            )
    assert len(seen) == 3


@pytest.mark.parametrize("mode", ERAS)
async def test_every_documented_error_is_explained(settings, sandbox, controls, ids, mode):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]["id"]
    async with Client(server(settings), mode=mode) as c:
        text = await error_of(c, "request_milestone_funding", milestoneId=first)
        assert "milestone_not_fundable" in text and "get_contract" in text
        created = await call(c, "create_milestone", contractId=contract_id, milestone=BATCH)
        milestone_id = created["milestone"]["id"]
        text = await error_of(c, "request_milestone_release", milestoneId=milestone_id)
        assert "milestone_not_funded" in text and "request_milestone_funding" in text
        text = await error_of(c, "create_milestone", contractId=contract_id, milestone={"description": "x"})
        assert "HTTP 400" in text and "amountUsd" in text
        controls.http.post(f"/contracts/{contract_id}", json={"paymentType": "PAY_PER_HOUR", "rateUsd": None})
        milestone = {"description": "x", "volume": 10}
        text = await error_of(c, "create_milestone", contractId=contract_id, milestone=milestone)
        assert "contract_rate_missing" in text and "amountUsd" in text
        controls.account(paymentMethod=False)
        text = await error_of(c, "request_milestone_funding", milestoneId=milestone_id)
        assert "payment_method_required" in text and f"{sandbox.base_url}/billing" in text
        assert "call request_milestone_funding again" in text
        text = await error_of(c, "end_contract", contractId="nope")
        assert "HTTP 404" in text
        text = await error_of(c, "request_milestone_funding", milestoneId="../x")
        controls.account(features={"public_api_payments_write": False})
        text = await error_of(c, "request_milestone_release", milestoneId=first)
        assert "public_api_payments_write" in text and "Retrying will not help" in text
        controls.account(features={"public_api_payments_write": True}, claimed=False)
        text = await error_of(c, "end_contract", contractId=contract_id)
        assert "account_claim_required" in text and f"{sandbox.base_url}/claim" in text
    assert posts(controls, "/x/fund") == 0, "an invalid id never reaches the API"
    assert contract_of(sandbox, contract_id)["status"] == "active"


async def test_create_milestone_is_never_repeated_blindly(settings, sandbox, controls, ids):
    contract_id = ids["contracts"]["alreadyHired"]
    controls.fault(path="/milestones", count=1, kind="status", status=503)
    async with Client(server(settings), mode="legacy") as c:
        text = await error_of(c, "create_milestone", contractId=contract_id, milestone=BATCH)
    assert "Check get_contract before calling create_milestone again" in text
    assert posts(controls, "/milestones") == 1


async def test_read_only_and_toolsets_listings(settings):
    async def names(**options: Any) -> set[str]:
        async with Client(hiring_server(settings, **options), mode="legacy") as c:
            return {t.name for t in (await c.list_tools()).tools}

    default = await names()
    assert "request_hire" in default and not default & CONTRACT_TOOLS, "the contract tools are opt-in"
    everything = await names(toolsets={"hiring", "contracts"})
    assert everything == default | CONTRACT_TOOLS
    assert not (await names(toolsets={"hiring", "contracts"}, read_only=True)) & set(WRITE_TOOLS)
    contracts_only = await names(toolsets={"contracts"})
    assert contracts_only >= CONTRACT_TOOLS and "request_hire" not in contracts_only
    assert {"check_approval", "get_contract"} <= contracts_only
    assert await names(toolsets={"hiring"}) == default
    assert await names(toolsets={"contracts"}, read_only=True) == contracts_only - set(WRITE_TOOLS)
    assert await names(tools={"end_contract", "check_approval"}) == {"end_contract", "check_approval"}
    with pytest.raises(ValueError, match="toolset"):
        build_server(settings, toolsets={"payments"})


async def test_annotations(settings):
    async with Client(server(settings), mode="legacy") as c:
        tools = {t.name: t.annotations for t in (await c.list_tools()).tools}
    assert (
        tools["create_milestone"].destructive_hint is False
        and tools["create_milestone"].idempotent_hint is False
    )
    assert tools["request_milestone_funding"].destructive_hint is False
    for name in ("request_milestone_release", "end_contract"):
        assert tools[name].destructive_hint is True and tools[name].idempotent_hint is True
    assert all(tools[name].read_only_hint is False for name in CONTRACT_TOOLS)


async def test_default_tools_list_fits_the_token_budget(settings):
    async with Client(hiring_server(settings), mode="legacy") as c:
        listed = await c.list_tools()
    raw = json.dumps(listed.model_dump(by_alias=True, exclude_none=True, mode="json"), separators=(",", ":"))
    assert "request_hire" in {t.name for t in listed.tools}
    assert len(raw.encode()) / 4 <= TOOLS_LIST_BUDGET, f"tools/list is {len(raw.encode()) / 4:.0f} tokens"


async def test_spend_policy_counts_funding_as_money_and_release_and_end_as_pending(
    settings, sandbox, controls, ids, tmp_path
):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]["id"]
    policy = SpendPolicy(max_daily_usd="300", max_pending=2, max_requests_per_hour=1)
    async with Client(server(settings, ledger_path=str(tmp_path / "l.sqlite3"), spend_policy=policy)) as c:
        small = (await call(c, "create_milestone", contractId=contract_id, milestone=BATCH))["milestone"][
            "id"
        ]
        big = {**BATCH, "amountUsd": 100}
        other = (await call(c, "create_milestone", contractId=contract_id, milestone=big))["milestone"]["id"]
        fund = await call(c, "request_milestone_funding", milestoneId=small)
        assert fund["capsUsed"]["max_daily_usd"] == "220.00/300.00" and "Spend policy after" in fund["text"]
        text = await error_of(c, "request_milestone_funding", milestoneId=other)
        assert "refused this funding request" in text and "Nothing was sent" in text
        again = await call(c, "request_milestone_funding", milestoneId=small)
        assert again["approval"]["id"] == fund["approval"]["id"], "a repeat is counted once"
        release = await call(c, "request_milestone_release", milestoneId=first)
        assert release["capsUsed"]["max_pending"] == "2/2", "a release counts toward max_pending only"
        text = await error_of(c, "end_contract", contractId=contract_id)
        assert "refused this contract end request" in text and "max_pending" in text
        controls.decline(release["approval"]["id"])
        end = await call(c, "end_contract", contractId=contract_id)
        assert end["ended"] is False and end["capsUsed"]["max_pending"] == "2/2"
    assert posts(controls, "/fund") == 2 and posts(controls, "/approve") == 1 and posts(controls, "/end") == 1
