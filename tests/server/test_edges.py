"""The edges a new user hits (issue 10), through the SDK's real Client in both protocol eras."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated

import pytest
from mcp import Client
from pydantic import AfterValidator

from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import build_server
from opentrain_mcp.server.tools._common import CheckedMCPServer
from tests.conftest import FAST_POLICY, Controls
from tests.server.test_tools import text_of

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]


@pytest.fixture(params=ERAS)
async def client(request, settings: Settings, controls: Controls) -> AsyncIterator[Client]:
    async with Client(build_server(settings, policy=FAST_POLICY), mode=request.param) as c:
        yield c


@pytest.mark.parametrize("mode", ERAS)
async def test_list_hire_requests_with_the_ledger_off(settings, mode):
    async with Client(build_server(settings, policy=FAST_POLICY, ledger_path=None), mode=mode) as c:
        r = await c.call_tool("list_hire_requests", {})
    assert not r.is_error, text_of(r)
    assert r.structured_content == {"hireRequests": []}
    assert "--ledger none" in text_of(r)


@pytest.mark.parametrize("mode", ERAS)
async def test_readiness_without_a_token_is_an_answer_not_an_error(mode):
    async with Client(build_server(Settings(), policy=FAST_POLICY), mode=mode) as c:
        r = await c.call_tool("check_hiring_readiness", {})
    assert not r.is_error, text_of(r)
    out = r.structured_content
    assert out["ready"] is False and out["verdict"] == "not_ready"
    assert out["checks"][0]["name"] == "token" and out["checks"][0]["status"] == "not_ready"
    assert "OT_API_TOKEN" in out["checks"][0]["detail"]


async def test_readiness_of_an_unclaimed_account_is_not_ready_true(client, controls):
    controls.account(claimed=False)
    out = (await client.call_tool("check_hiring_readiness", {})).structured_content
    claim = next(c for c in out["checks"] if c["name"] == "account_claimed")
    assert claim["status"] == "unknown"
    assert out["ready"] is False and out["verdict"] == "unknown"


async def test_json_text_keeps_non_ascii(client):
    r = await client.call_tool("list_jobs", {})
    text = text_of(r)
    assert "—" in text and "\\u" not in text


GOOD = {"name": "Edge batch", "amount": 120, "dueDate": "2099-01-01"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            {"milestone": {**GOOD, "amount": 1e26}},
            "`milestone.amount`: must be a positive number of US dollars, at most $1,000,000",
        ),
        (
            {"milestone": {**GOOD, "amount": 2**53 + 1}},
            "`milestone.amount`: must be a positive number of US dollars, at most $1,000,000",
        ),
        ({"milestone": {**GOOD, "amount": 1_000_000.01}}, "at most $1,000,000"),
        ({"milestone": {**GOOD, "amount": 10.001}}, "`milestone.amount`: must have at most 2 decimal places"),
        ({"milestone": {**GOOD, "dueDate": "2020-01-01"}}, "`milestone.dueDate`: must be today ("),
        (
            {"milestone": {**GOOD, "dueDate": "01/02/2099"}},
            "`milestone.dueDate`: must be a date in the form YYYY-MM-DD",
        ),
        (
            {"milestone": GOOD, "confirmNotFitOverride": "yes"},
            "`confirmNotFitOverride`: must be true or false",
        ),
        ({"milestone": GOOD, "confirmNotFitOverride": 1}, "`confirmNotFitOverride`: must be true or false"),
        ({"milestone": GOOD, "confirmed": True}, "`confirmed`: is not an argument of this tool"),
        ({"milestone": {**GOOD, "confirmed": True}}, "`milestone.confirmed`: is not a field of this object"),
        ({"milestone": {**GOOD, "amount": "120"}}, "`milestone.amount`: must be a JSON number of US dollars"),
        ({"milestone": {"amount": 5}}, "`milestone`: needs a non-blank name or description"),
        ({"proposalId": "../admin", "milestone": GOOD}, "`proposalId`: is not a valid OpenTrain id"),
    ],
)
async def test_argument_errors_speak_the_projects_language(client, controls, ids, args, expected):
    r = await client.call_tool("request_hire", {"proposalId": ids["proposals"]["hireable"][0], **args})
    text = text_of(r)
    assert r.is_error and expected in text, text
    assert "nothing was sent to OpenTrain" in text
    for pydantic_noise in (
        "request_hireArguments",
        "type=",
        "errors.pydantic.dev",
        "[A-Za-z0-9]",
        "Value error",
    ):
        assert pydantic_noise not in text
    assert controls.requests() == []


async def test_other_tools_refuse_loose_types_too(client, controls):
    r = await client.call_tool("list_proposals", {"jobId": "j1", "limit": "5", "status": "nope", "page": 2})
    text = text_of(r)
    assert r.is_error
    assert "`limit`: must be a whole number" in text and "`page`: is not an argument" in text
    assert "`status`: must be one of 'ANY', 'UNREVIEWED'" in text
    r = await client.call_tool("wait_for_approval", {"approvalId": "a1", "timeoutSeconds": 99})
    assert "`timeoutSeconds`: must be at most 50" in text_of(r)
    assert controls.requests() == []


async def test_largest_whole_cent_amount_is_sent_exactly(client, controls, ids):
    r = await client.call_tool(
        "request_hire",
        {"proposalId": ids["proposals"]["hireable"][0], "milestone": {**GOOD, "amount": 999_999.99}},
    )
    assert not r.is_error, text_of(r)
    bodies = [e["body"] for e in controls.requests() if e["path"].endswith("/hire")]
    assert bodies == [{"milestone": {**GOOD, "amount": 999_999.99}}]


@pytest.mark.parametrize("mode", ERAS)
async def test_empty_ids_from_the_api_never_cost_the_link(settings, controls, ids, sandbox, tmp_path, mode):
    proposal = ids["proposals"]["hireable"][0]
    approval = {
        "id": "apv_emptyids",
        "type": "proposal_hire",
        "status": "pending",
        "approvalUrl": f"{sandbox.base_url}/approvals/apv_emptyids",
        "proposalId": proposal,
        "jobId": "",
        "contractId": "",
        "expiresAt": "",
    }
    body = json.dumps({"approval": approval, "message": "recorded"})
    controls.fault(path="/hire", kind="malformed", status=202, body=body, contentType="application/json")
    server = build_server(settings, policy=FAST_POLICY, ledger_path=str(tmp_path / "ledger.sqlite3"))
    async with Client(server, mode=mode) as client:
        r = await client.call_tool("request_hire", {"proposalId": proposal, "milestone": GOOD})
        assert not r.is_error, text_of(r)
        assert approval["approvalUrl"] in text_of(r)
        listed = (await client.call_tool("list_hire_requests", {})).structured_content["hireRequests"]
    mine = [h for h in listed if h["approvalId"] == "apv_emptyids"]
    assert mine and mine[0]["approvalUrl"] == approval["approvalUrl"]
    assert "jobId" not in mine[0] and mine[0].get("contractId") is None


def explode(value: str) -> str:
    raise RuntimeError("secret internals")


@pytest.mark.parametrize("mode", ERAS)
async def test_a_crashing_argument_check_leaks_nothing(mode, caplog):
    server = CheckedMCPServer("crash")

    @server.tool()
    def echo(word: Annotated[str, AfterValidator(explode)]) -> str:
        return word

    with caplog.at_level(logging.ERROR, logger="opentrain_mcp.server"):
        async with Client(server, mode=mode) as c:
            r = await c.call_tool("echo", {"word": "hi"})
    found = re.fullmatch(
        r"Internal error in opentrain-mcp \(reference (\w+); details are in the server's log\)\. "
        r"Nothing was changed; try again\.",
        text_of(r),
    )
    assert r.is_error and found, text_of(r)  # the tool never ran: nothing may have been recorded
    assert "secret internals" not in text_of(r)
    logged = [rec for rec in caplog.records if f"(reference {found[1]})" in rec.getMessage()]
    assert logged and "secret internals" in str(logged[0].exc_info[1]), (
        "the operator finds the crash by its ref"
    )


async def test_an_optional_id_is_empty_for_all_or_a_checked_id(client, controls, ids):
    every = await client.call_tool("list_contracts", {"jobId": ""})  # the advertised default, sent explicitly
    assert not every.is_error, text_of(every)
    assert any(c["id"] == ids["contracts"]["alreadyHired"] for c in every.structured_content["contracts"])
    longest = await client.call_tool("list_contracts", {"jobId": "j" * 128})  # ids are at most 128 characters
    assert "invalid arguments" not in text_of(longest) and "Job not found" in text_of(
        longest
    )  # OpenTrain's answer
    sent = [r["query"] for r in controls.requests() if r["path"].endswith("/contracts")]
    assert len(sent) == 2 and "jobId" not in str(sent[0]) and "j" * 128 in str(sent[1]), sent
    controls.clear_requests()
    for job, problem in (
        ("a/../b", "`jobId`: 'a/../b' is not a valid OpenTrain id"),
        ("j" * 129, "`jobId`: must be at most 128 characters"),
    ):
        r = await client.call_tool("list_contracts", {"jobId": job})
        assert r.is_error and f"- {problem}" in text_of(r), text_of(r)
        assert "Internal error" not in text_of(r) and "`jobId`: jobId" not in text_of(r)
    assert controls.requests() == []


async def test_a_nested_fields_own_message_is_not_repeated_after_its_path(settings, controls, ids):
    server = build_server(settings, policy=FAST_POLICY, toolsets={"hiring", "contracts"})
    async with Client(server) as c:
        r = await c.call_tool(
            "create_milestone",
            {
                "contractId": ids["contracts"]["alreadyHired"],
                "milestone": {"description": " ", "amountUsd": 5},
            },
        )
    assert r.is_error and "- `milestone.description`: must not be blank\n" in text_of(r), text_of(r)
    assert controls.requests() == []
