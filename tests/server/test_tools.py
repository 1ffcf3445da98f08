"""The MCP tools through the SDK's real Client, in both protocol eras, against the sandbox."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import TOOLSETS, WRITE_TOOLS, build_server
from tests.conftest import FAST_POLICY, Controls

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
TERMS = {
    "name": "First labeling batch",
    "description": "Label 5,000 posts",
    "amount": 300,
    "dueDate": "2099-12-31",
}


@pytest.fixture(params=ERAS)
async def client(request, settings: Settings, controls: Controls) -> AsyncIterator[Client]:
    async with Client(build_server(settings, policy=FAST_POLICY), mode=request.param) as c:
        yield c


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def hire(client: Client, proposal: str, **extra: Any) -> Any:
    return await client.call_tool("request_hire", {"proposalId": proposal, "milestone": TERMS, **extra})


async def test_protocol_eras(settings):
    for mode, version in [("legacy", "2025-11-25"), ("auto", "2026-07-28")]:
        async with Client(build_server(settings), mode=mode) as c:
            assert c.protocol_version == version


async def test_tools_are_described_and_annotated(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"request_hire", "check_approval"} <= set(tools)
    hire_tool, check_tool = tools["request_hire"], tools["check_approval"]
    for tool in (hire_tool, check_tool):
        assert tool.title and tool.description and tool.output_schema
        ann = tool.annotations
        assert None not in (
            ann.read_only_hint,
            ann.destructive_hint,
            ann.idempotent_hint,
            ann.open_world_hint,
        )
    assert (hire_tool.annotations.read_only_hint, hire_tool.annotations.destructive_hint) == (False, False)
    assert (hire_tool.annotations.idempotent_hint, hire_tool.annotations.open_world_hint) == (True, True)
    assert check_tool.annotations.read_only_hint is True and check_tool.annotations.idempotent_hint is True
    props = hire_tool.input_schema["properties"]
    assert set(props) == {"proposalId", "milestone", "confirmNotFitOverride"}
    assert props["confirmNotFitOverride"]["default"] is False
    milestone = props["milestone"]["properties"]
    assert set(milestone) == {"name", "description", "amount", "dueDate"}
    assert "approval" in hire_tool.output_schema["properties"]
    flat = str(hire_tool.input_schema) + str(check_tool.input_schema)
    assert "confirmed" not in flat.lower().replace("confirmnotfitoverride", ""), (
        "no consent flag for the model"
    )


async def test_every_tool_is_titled_described_annotated_and_typed(client):
    tools = (await client.list_tools()).tools
    assert len(tools) == len(TOOLSETS["hiring"]) == 12
    for tool in tools:
        ann = tool.annotations
        assert tool.title and tool.description and tool.output_schema, tool.name
        hints = (ann.read_only_hint, ann.destructive_hint, ann.idempotent_hint, ann.open_world_hint)
        assert None not in hints, tool.name
        assert ann.destructive_hint is False, tool.name
        assert ann.read_only_hint is (tool.name not in WRITE_TOOLS), tool.name


async def test_request_hire_returns_link_estimate_and_next_step(client, sandbox, ids):
    proposal = ids["proposals"]["hireable"][0]
    r = await hire(client, proposal)
    assert not r.is_error, text_of(r)
    out = r.structured_content
    approval = out["approval"]
    assert approval["status"] == "pending" and approval["proposalId"] == proposal
    assert approval["approvalUrl"] == f"{sandbox.base_url}/approvals/{approval['id']}"
    assert out["estimatedCharge"] == {
        "amount": 300.0,
        "marketplaceFee": 30.0,
        "contractFee": 9.95,
        "total": 339.95,
    }
    assert "approvalUrl" in out["nextStep"] and "check_approval" in out["nextStep"]
    assert out["message"] and out["sandbox"] is True
    text = text_of(r)
    assert "NOT hired" in text and approval["approvalUrl"] in text and approval["expiresAt"] in text
    assert "$339.95" in text and len(text) < 600
    again = await hire(client, proposal)
    assert again.structured_content["approval"]["id"] == approval["id"]


async def test_check_approval_each_status(client, controls, ids):
    pending = (await hire(client, ids["proposals"]["hireable"][0])).structured_content["approval"]
    r = await client.call_tool("check_approval", {"approvalId": pending["id"]})
    assert r.structured_content["approval"]["status"] == "pending"
    assert pending["approvalUrl"] in r.structured_content["nextStep"]

    controls.confirm(pending["id"])
    r = await client.call_tool("check_approval", {"approvalId": pending["id"]})
    out = r.structured_content
    assert out["approval"]["status"] == "confirmed" and out["approval"]["contractId"]
    assert out["approval"]["result"]["hired"] is True
    assert out["approval"]["contractId"] in out["meaning"]

    declined = (await hire(client, ids["proposals"]["hireable"][1])).structured_content["approval"]
    controls.decline(declined["id"])
    r = await client.call_tool("check_approval", {"approvalId": declined["id"]})
    assert r.structured_content["approval"]["status"] == "declined"
    assert "Nothing was hired" in r.structured_content["meaning"]

    expiring = (await hire(client, ids["proposals"]["hireable"][2])).structured_content["approval"]
    controls.advance(73 * 3600)
    r = await client.call_tool("check_approval", {"approvalId": expiring["id"]})
    assert r.structured_content["approval"]["status"] == "expired"
    assert "request_hire again" in r.structured_content["nextStep"]


@pytest.mark.parametrize(
    ("kind", "confirmed_words"),
    [
        ("milestone_fund", "funded"),
        ("milestone_approve", "payout released"),
        ("contract_end", "contract has ended"),
    ],
)
async def test_check_approval_other_approval_types(client, sandbox, controls, ids, kind, confirmed_words):
    state = sandbox.state
    token = state.authenticate(f"Bearer {ids['token']}")
    contract = ids["contracts"]["alreadyHired"]
    funded = state.get_contract(token, contract)["contract"]["milestones"][0]["id"]
    if kind == "milestone_fund":
        added = state.create_milestone(token, contract, b'{"description": "Batch 2", "amountUsd": 100}')
        created = state.fund_milestone(token, added["milestone"]["id"])["approval"]
    elif kind == "milestone_approve":
        created = state.approve_milestone(token, funded)["approval"]
    else:
        created = state.end_contract(token, contract)[1]["approval"]
    r = await client.call_tool("check_approval", {"approvalId": created["id"]})
    assert r.structured_content["approval"]["type"] == kind
    assert r.structured_content["approval"]["status"] == "pending"
    controls.confirm(created["id"])
    r = await client.call_tool("check_approval", {"approvalId": created["id"]})
    assert r.structured_content["approval"]["status"] == "confirmed"
    assert confirmed_words in r.structured_content["meaning"]


async def test_unknown_status_is_reported_not_crashed(client, controls, sandbox):
    approval = {
        "id": "odd1",
        "type": "proposal_hire",
        "status": "superseded",
        "approvalUrl": f"{sandbox.base_url}/approvals/odd1",
    }
    body = json.dumps({"approval": approval})
    controls.fault(
        path="/approvals/odd1", kind="malformed", status=200, body=body, contentType="application/json"
    )
    r = await client.call_tool("check_approval", {"approvalId": "odd1"})
    assert not r.is_error, text_of(r)
    assert r.structured_content["approval"]["status"] == "superseded"
    assert "Unrecognised status" in r.structured_content["meaning"]


@pytest.mark.parametrize(
    "url", ["https://evil.example/approvals/odd2", "{base}/approvals/other", "{base}/approvals/odd2?next=x"]
)
async def test_spoofed_links_are_withheld(client, controls, sandbox, ids, url):
    url = url.format(base=sandbox.base_url)
    approval = {
        "id": "odd2",
        "type": "proposal_hire",
        "status": "pending",
        "approvalUrl": url,
        "proposalId": ids["proposals"]["hireable"][0],
    }
    body = json.dumps({"approval": approval, "message": "recorded"})
    for path in ("/approvals/odd2", "/hire"):
        controls.fault(
            path=path,
            kind="malformed",
            status=202 if path == "/hire" else 200,
            body=body,
            contentType="application/json",
        )
    r = await client.call_tool("check_approval", {"approvalId": "odd2"})
    assert r.is_error and "SECURITY" in text_of(r) and url not in text_of(r)
    r = await hire(client, ids["proposals"]["hireable"][0])
    assert r.is_error and "SECURITY" in text_of(r) and url not in text_of(r)


async def test_spoofed_claim_link_in_an_error_is_withheld(client, controls, ids):
    envelope = {
        "error": "Claim required",
        "code": "FORBIDDEN",
        "requestId": "req-1",
        "details": {"reason": "account_claim_required", "claimUrl": "https://evil.example/claim"},
    }
    controls.fault(
        path="/hire", kind="malformed", status=403, body=json.dumps(envelope), contentType="application/json"
    )
    r = await hire(client, ids["proposals"]["hireable"][0])
    text = text_of(r)
    assert r.is_error and "SECURITY" in text and "evil.example" not in text and "req-1" in text


async def test_settled_approvals_are_served_from_cache(client, controls, ids):
    approval = (await hire(client, ids["proposals"]["hireable"][0])).structured_content["approval"]
    controls.decline(approval["id"])
    await client.call_tool("check_approval", {"approvalId": approval["id"]})
    controls.clear_requests()
    r = await client.call_tool("check_approval", {"approvalId": approval["id"]})
    assert r.structured_content["approval"]["status"] == "declined"
    assert controls.requests() == []


@pytest.mark.parametrize(
    ("setup", "proposal_key", "expected"),
    [
        (
            {"claimed": False},
            "hireable",
            ["403", "account_claim_required", "claim this agent account at http"],
        ),
        (
            {"paymentMethod": False, "creditsCents": 0},
            "hireable",
            ["409", "payment_method_required", "add a payment method or credits at http"],
        ),
        ({}, "alreadyHired", ["409", "already_accepted", "already hired", "list_contracts"]),
        (
            {},
            "notFit",
            ["409", "not_fit_confirmation_required", "Ask the human", "confirmNotFitOverride: true"],
        ),
        ({}, "foreign", ["403", "FORBIDDEN", "owns"]),
        ({"features": {"public_api_hiring": False}}, "hireable", ["403", "public_api_hiring", "not enabled"]),
    ],
)
async def test_documented_hire_errors_are_actionable(client, controls, ids, setup, proposal_key, expected):
    if setup:
        controls.account(**setup)
    proposal = ids["proposals"][proposal_key]
    r = await hire(client, proposal[0] if isinstance(proposal, list) else proposal)
    text = text_of(r)
    assert r.is_error
    assert "requestId" in text
    for needle in expected:
        assert needle in text, f"{needle!r} missing from: {text}"


async def test_missing_proposal_and_approval(client):
    r = await hire(client, "nosuchproposal")
    assert r.is_error and "404" in text_of(r) and "Check the id" in text_of(r)
    r = await client.call_tool("check_approval", {"approvalId": "nosuchapproval"})
    assert r.is_error and "404" in text_of(r) and "requestId" in text_of(r)


async def test_rejected_token_and_scope(sandbox, ids, controls):
    for token, needles in [
        ("ot_pat_bad_bad", ["401", "OT_API_TOKEN"]),
        (ids["limitedToken"], ["403", "proposals:write"]),
    ]:
        settings = Settings(token=token, base_url=sandbox.base_url, sandbox=True)
        async with Client(build_server(settings, policy=FAST_POLICY), mode="legacy") as c:
            r = await hire(c, ids["proposals"]["hireable"][0])
        assert r.is_error and all(n in text_of(r) for n in needles), text_of(r)
        assert token not in text_of(r)


async def test_not_fit_override_is_sent_only_when_asked(client, controls, ids):
    r = await hire(client, ids["proposals"]["notFit"], confirmNotFitOverride=True)
    assert not r.is_error, text_of(r)
    bodies = [e["body"] for e in controls.requests() if e["path"].endswith("/hire")]
    assert bodies == [{"milestone": TERMS, "confirmNotFitOverride": True}]


@pytest.mark.parametrize(
    "args",
    [
        {"proposalId": "../admin", "milestone": TERMS},
        {"proposalId": "a/b", "milestone": TERMS},
        {"proposalId": "a?x=1", "milestone": TERMS},
        {"proposalId": "a#b", "milestone": TERMS},
        {"proposalId": "a%2e%2e", "milestone": TERMS},
        {"proposalId": "a b", "milestone": TERMS},
        {"proposalId": "", "milestone": TERMS},
        {"proposalId": "x" * 200, "milestone": TERMS},
        {"proposalId": "p1", "milestone": {"amount": 10}},
        {"proposalId": "p1", "milestone": {"name": " ", "description": "\t", "amount": 10}},
        {"proposalId": "p1", "milestone": {"name": "x", "amount": -5}},
        {"proposalId": "p1", "milestone": {"name": "x", "amount": 0}},
        {"proposalId": "p1", "milestone": {"name": "x", "amount": "1e309"}},
        {"proposalId": "p1", "milestone": {"name": "x", "amount": 10, "dueDate": "2026-13-01"}},
        {"proposalId": "p1", "milestone": {"name": "x", "amount": 10, "confirmed": True}},
        {"proposalId": "p1"},
    ],
)
async def test_invalid_input_never_reaches_the_api(client, controls, args):
    r = await client.call_tool("request_hire", args)
    assert r.is_error, args
    assert text_of(r) != "Error executing tool request_hire"
    assert controls.requests() == []


async def test_unknown_arguments_are_refused_by_name(client, controls, ids):
    r = await hire(client, ids["proposals"]["hireable"][0], approved=True, humanConfirmed=True)
    assert r.is_error
    assert "`approved`: is not an argument" in text_of(r) and "`humanConfirmed`" in text_of(r)
    assert controls.requests() == []


async def test_no_token_still_lists_tools_and_explains(sandbox):
    async with Client(build_server(Settings.from_env({})), mode="legacy") as c:
        assert len((await c.list_tools()).tools) >= 2
        r = await c.call_tool("check_approval", {"approvalId": "abc"})
    assert r.is_error and "OT_API_TOKEN" in text_of(r) and "app.opentrain.ai" in text_of(r)


async def test_bad_base_url_explains(sandbox):
    settings = Settings.from_env(
        {"OT_API_TOKEN": "ot_pat_x_y", "OPENTRAIN_API_BASE_URL": "http://evil.example"}
    )
    async with Client(build_server(settings), mode="legacy") as c:
        r = await c.call_tool("check_approval", {"approvalId": "abc"})
    assert r.is_error and "OPENTRAIN_API_BASE_URL" in text_of(r)


def test_token_aliases_first_set_wins():
    env = {"OPENTRAIN_PERSONAL_API_TOKEN": "ot_pat_c", "OPENTRAIN_API_TOKEN": "ot_pat_b"}
    assert Settings.from_env(env).token == "ot_pat_b"
    assert Settings.from_env({**env, "OT_API_TOKEN": "ot_pat_a"}).token == "ot_pat_a"
    assert (
        Settings.from_env({"OPENTRAIN_PERSONAL_API_TOKEN": "ot_pat_c"}).token_var
        == "OPENTRAIN_PERSONAL_API_TOKEN"
    )
    s = Settings.from_env({"OT_API_BASE_URL": "http://127.0.0.1:9/"})
    assert s.base_url == "http://127.0.0.1:9" and s.config_error is None
    assert "ot_pat_a" not in repr(Settings.from_env({"OT_API_TOKEN": "ot_pat_a"}))


async def test_faults_become_actionable_errors_within_budget(client, controls, ids):
    controls.fault(path="/hire", count=10, kind="status", status=503)
    r = await hire(client, ids["proposals"]["hireable"][0])
    assert r.is_error and "503" in text_of(r) and "same terms is safe" in text_of(r)
    controls.clear_faults()
    controls.fault(path="/approvals/", count=1, kind="malformed")
    r = await client.call_tool("check_approval", {"approvalId": "abc123"})
    assert r.is_error and "unexpected response" in text_of(r)


async def test_untrusted_approval_link_is_withheld(settings, controls, ids):
    # The configured origin differs from where the sandbox says its approval pages are.
    spoofed = dataclasses.replace(settings, base_url=settings.base_url.replace("127.0.0.1", "localhost"))
    async with Client(build_server(spoofed, policy=FAST_POLICY), mode="legacy") as c:
        r = await hire(c, ids["proposals"]["hireable"][0])
    assert r.is_error and "SECURITY" in text_of(r) and "/approvals/" not in text_of(r)
