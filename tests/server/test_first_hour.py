"""Rough edges a newcomer met in the first hour (issue 24), through the SDK's real Client in both eras: the
readiness verdict in words that follow the items, the sandbox's hint beside a 404, and an ended contract that
still shows what became of each milestone and its escrow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import TOOLSETS, build_server
from tests.conftest import FAST_POLICY
from tests.server.hostile_api import TOKEN, HostileApi, running_hostile_api
from tests.server.test_lifecycle import BATCH, call, contract_of
from tests.server.test_tools import text_of

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
UNKNOWN_ID = "cl9nosuchapproval000000"


def server(settings: Settings) -> Any:
    return build_server(settings, policy=FAST_POLICY, toolsets=set(TOOLSETS))


@pytest.fixture
def hostile() -> Iterator[HostileApi]:
    with running_hostile_api() as api:
        yield api


def first_line(result: Any) -> str:
    return text_of(result).splitlines()[0]


@pytest.mark.parametrize("mode", ERAS)
async def test_readiness_headline_names_what_could_not_be_checked(settings, controls, mode):
    async with Client(server(settings), mode=mode) as c:
        r = await c.call_tool("check_hiring_readiness", {})
    assert r.structured_content["verdict"] == "unknown"
    head = first_line(r)
    assert "not verifiable from here: account_claimed, funds" in head, head
    assert not head.startswith("Not ready"), "nothing is not_ready, so nothing blocks"


@pytest.mark.parametrize("mode", ERAS)
async def test_readiness_headline_names_the_blocking_items_only(settings, controls, mode):
    controls.account(features={"public_api_hiring": False})
    async with Client(server(settings), mode=mode) as c:
        r = await c.call_tool("check_hiring_readiness", {})
    assert r.structured_content["verdict"] == "not_ready"
    assert first_line(r) == "Not ready to hire: fix hiring_feature first."


async def test_readiness_headline_when_every_check_passes(hostile):
    hostile.answer(
        "GET",
        "/auth/me",
        (200, {"token": {"scopes": ["proposals:write", "payments:read"]}, "account": {"claimed": True}}),
    )
    hostile.answer("GET", "/job-drafts/capabilities", (200, {"capabilities": {"hiring": True}}))
    hostile.answer("GET", "/credits", (200, {"credits": {"availableCents": 100_000}}))
    settings = Settings(token=TOKEN, token_var="OT_API_TOKEN", base_url=hostile.base_url)
    async with Client(server(settings), mode="legacy") as c:
        r = await c.call_tool("check_hiring_readiness", {"amount": 300})
    assert r.structured_content["verdict"] == "ready"
    assert first_line(r) == "Ready to hire: every check passed."
    token = r.structured_content["checks"][0]
    assert token == {"name": "token", "status": "ready", "detail": "Token accepted (from OT_API_TOKEN)."}


@pytest.mark.parametrize("mode", ERAS)
async def test_an_unknown_id_in_the_in_process_sandbox_says_the_sandbox_is_new(settings, controls, mode):
    assert settings.sandbox, "the fixture stands for `opentrain-mcp --sandbox`"
    async with Client(server(settings), mode=mode) as c:
        r = await c.call_tool("check_approval", {"approvalId": UNKNOWN_ID})
    assert r.is_error
    said = text_of(r)
    assert "HTTP 404" in said and "requestId" in said
    assert "starts empty each time" in said and "opentrain-mcp sandbox --port 8787" in said


async def test_an_unknown_id_in_a_standalone_sandbox_points_at_its_state_file(sandbox, controls):
    settings = Settings(token=sandbox.token, token_var="OT_API_TOKEN", base_url=sandbox.base_url)
    async with Client(server(settings), mode="legacy") as c:
        await c.call_tool("list_jobs", {})  # the sandbox says what it is in its answers' headers
        r = await c.call_tool("check_approval", {"approvalId": UNKNOWN_ID})
    assert r.is_error and "--state FILE" in text_of(r) and "starts empty" not in text_of(r)


async def test_a_404_from_opentrain_itself_carries_no_sandbox_note(hostile):
    settings = Settings(token=TOKEN, token_var="OT_API_TOKEN", base_url=hostile.base_url)
    async with Client(server(settings), mode="legacy") as c:
        r = await c.call_tool("check_approval", {"approvalId": UNKNOWN_ID})
    assert r.is_error and "HTTP 404" in text_of(r) and "Sandbox" not in text_of(r)


@pytest.mark.parametrize("mode", ERAS)
async def test_an_ended_contract_shows_each_milestone_and_its_escrow(settings, sandbox, controls, ids, mode):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]
    async with Client(server(settings), mode=mode) as c:
        paid = (await call(c, "create_milestone", contractId=contract_id, milestone=BATCH))["milestone"]["id"]
        for tool in ("request_milestone_funding", "request_milestone_release"):
            controls.confirm((await call(c, tool, milestoneId=paid))["approval"]["id"])
        unfunded = (await call(c, "create_milestone", contractId=contract_id, milestone=BATCH))["milestone"][
            "id"
        ]

        end = await call(c, "end_contract", contractId=contract_id)
        assert "settled on the page" not in end["asks"]
        assert (
            f"${first['amountUsd']:,.2f} is funded in escrow" in end["asks"] and "get_contract" in end["asks"]
        )
        controls.confirm(end["approval"]["id"])
        checked = await call(c, "check_approval", approvalId=end["approval"]["id"])
        assert "get_contract" in checked["nextStep"] and "escrow" in checked["nextStep"]

        contract = await call(c, "get_contract", contractId=contract_id)
    assert contract["status"] == "ended" and contract["endDate"]
    shown = {m["id"]: (m["status"], m["escrow"]) for m in contract["milestones"]}
    assert shown == {
        first["id"]: (
            "REFUNDED",
            "refunded: the contract ended before release, the escrow went back to the payer",
        ),
        paid: ("PAID", "released: paid to the trainer"),
        unfunded: ("CANCELLED", "cancelled before funding: nothing was charged"),
    }
    assert "The contract ended on" in contract["text"] and "refunded" in contract["text"]
