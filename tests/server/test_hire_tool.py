"""request_hire and list_hire_requests: the charge estimate, the answer's cross-checks, the ledger refresh."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitRequestURLParams, ElicitResult

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import build_server
from tests.conftest import FAST_POLICY, Controls

pytestmark = pytest.mark.anyio


def terms(amount: float) -> dict[str, Any]:
    return {"name": "Estimate batch", "amount": amount, "dueDate": "2099-04-01"}


@pytest.fixture
async def client(settings: Settings, controls: Controls, tmp_path) -> AsyncIterator[Client]:
    server = build_server(
        settings, policy=FAST_POLICY, ledger_path=str(tmp_path / "l.sqlite3"), watch_interval=60
    )
    async with Client(server, mode="legacy") as c:
        yield c


@pytest.mark.parametrize(
    ("amount", "fee", "total"),
    [
        (12.35, 1.24, 23.54),  # 1.235 rounds half-up, not down (1.23) nor to dimes (1.20)
        (0.05, 0.01, 10.01),  # half a cent is charged as a cent
        (10.04, 1.0, 20.99),
        (1234.56, 123.46, 1367.97),
    ],
)
async def test_charge_estimate_is_the_fee_rounded_half_up_to_cents(client, ids, amount, fee, total):
    r = await client.call_tool(
        "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(amount)}
    )
    assert not r.is_error, r.content
    assert r.structured_content["estimatedCharge"] == {
        "amount": amount,
        "marketplaceFee": fee,
        "contractFee": 9.95,
        "total": total,
    }
    assert f"${total:,.2f}" in r.content[0].text


async def test_an_answer_about_another_proposal_is_refused(client, controls, ids, sandbox):
    proposal, other = ids["proposals"]["hireable"][0], ids["proposals"]["hireable"][1]
    body = {
        "message": "A human must confirm.",
        "approval": {
            "id": "approvalxyz",
            "type": "proposal_hire",
            "status": "pending",
            "proposalId": other,
            "approvalUrl": f"{sandbox.base_url}/approvals/approvalxyz",
        },
    }
    controls.fault(path="/hire", count=1, kind="malformed", status=202, body=json.dumps(body))
    r = await client.call_tool("request_hire", {"proposalId": proposal, "milestone": terms(10)})
    text = r.content[0].text
    assert r.is_error and "different proposal" in text and "/approvals/approvalxyz" not in text
    listed = await client.call_tool("list_hire_requests", {})
    assert listed.structured_content["hireRequests"] == [], "a refused answer is not recorded"


@pytest.mark.parametrize("bad", ["a..b", "..", "x" * 129, "a/b", "a%2Fb"])
async def test_an_unsafe_id_is_refused_by_name_before_any_request(client, controls, bad):
    for tool, key in (("request_hire", "proposalId"), ("check_approval", "approvalId")):
        arguments: dict[str, Any] = {key: bad} | ({"milestone": terms(10)} if tool == "request_hire" else {})
        r = await client.call_tool(tool, arguments)
        problems = [line for line in r.content[0].text.splitlines() if line.startswith("- ")]
        assert r.is_error and problems and all(p.startswith(f"- `{key}`: ") for p in problems), r.content
        assert "Internal error" not in r.content[0].text
    assert controls.requests() == []


async def test_ids_are_1_to_128_characters(client, controls):
    """128 characters reach OpenTrain (which knows no such approval); none, 129 and more are refused before
    any request, with the limit in the words of the argument check."""
    r = await client.call_tool("check_approval", {"approvalId": ""})
    assert r.is_error and "- `approvalId`: must be at least 1 character" in r.content[0].text, r.content
    r = await client.call_tool("check_approval", {"approvalId": "a" * 128})
    assert r.is_error and "invalid arguments" not in r.content[0].text, r.content
    assert [e["path"].rsplit("/", 1)[-1] for e in controls.requests()] == ["a" * 128]
    controls.clear_requests()
    for length in (129, 130):
        r = await client.call_tool("check_approval", {"approvalId": "a" * length})
        assert r.is_error and "- `approvalId`: must be at most 128 characters\n" in r.content[0].text, (
            r.content
        )
    assert controls.requests() == []


async def test_list_hire_requests_refreshes_what_humans_decided(client, controls, ids, sandbox):
    first, second = ids["proposals"]["hireable"][0], ids["proposals"]["hireable"][1]
    declined = (
        await client.call_tool("request_hire", {"proposalId": first, "milestone": terms(20)})
    ).structured_content
    confirmed = (
        await client.call_tool("request_hire", {"proposalId": second, "milestone": terms(30)})
    ).structured_content
    controls.decline(declined["approval"]["id"])
    controls.confirm(confirmed["approval"]["id"])
    r = await client.call_tool("list_hire_requests", {})
    records = {x["approvalId"]: x for x in r.structured_content["hireRequests"]}
    assert records[declined["approval"]["id"]]["status"] == "declined"
    assert records[confirmed["approval"]["id"]]["status"] == "confirmed"
    assert records[confirmed["approval"]["id"]]["contractId"], "the contract id arrives with the confirmation"
    assert records[declined["approval"]["id"]]["milestone"] == terms(20)
    assert r.structured_content["ledger"].endswith("l.sqlite3")
    url = declined["approval"]["approvalUrl"]
    assert f"{declined['approval']['id']} declined proposal_hire {first} {url}" in r.content[0].text
    pending = await client.call_tool("list_hire_requests", {"status": "pending"})
    assert pending.structured_content["hireRequests"] == []
    assert pending.content[0].text == "No hire requests recorded yet."


async def test_ledger_off_is_said_plainly(settings, ids):
    async with Client(build_server(settings, policy=FAST_POLICY, ledger_path=None), mode="legacy") as c:
        hired = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(5)}
        )
        r = await c.call_tool("list_hire_requests", {})
    assert not hired.is_error and not r.is_error
    assert r.structured_content == {"hireRequests": []} and "turned off" in r.content[0].text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_link_is_put_in_front_of_the_human(settings, controls, ids, mode):
    seen: list[ElicitRequestURLParams] = []

    async def on_elicit(_ctx: Any, params: Any) -> ElicitResult:
        seen.append(params)
        return ElicitResult(action="accept")

    async with Client(
        build_server(settings, policy=FAST_POLICY), mode=mode, elicitation_callback=on_elicit
    ) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(12.35)}
        )
    assert not r.is_error, r.content
    async with OpenTrainClient(token=settings.token, base_url=settings.base_url) as api:
        proposal = (await api.get_proposal(ids["proposals"]["hireable"][0]))["proposal"]
    assert [p.url for p in seen] == [r.structured_content["approval"]["approvalUrl"]]
    assert "$23.54" in seen[0].message and "Estimate batch" in seen[0].message
    assert f"Confirm hiring {proposal['candidate']['displayName']} " in seen[0].message
    assert r.structured_content["linkShown"] == "accept"
    assert r.structured_content["sandbox"] is True


@pytest.mark.parametrize("answer", ["accept", "decline"])
async def test_an_accepted_link_prompt_is_closed_when_the_human_decides(settings, controls, ids, answer):
    """Legacy era: the client is told an accepted URL prompt is complete once the approval settles."""
    completed: list[str] = []
    shown: list[str] = []

    async def on_elicit(_ctx: Any, params: Any) -> ElicitResult:
        shown.append(params.elicitation_id)
        return ElicitResult(action=answer)

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", "") == "notifications/elicitation/complete":
            completed.append(root.params.elicitation_id)

    server = build_server(settings, policy=FAST_POLICY, watch_interval=0.05)
    async with Client(server, mode="legacy", elicitation_callback=on_elicit, message_handler=on_message) as c:
        for proposal in ids["proposals"]["hireable"][:2]:
            r = await c.call_tool("request_hire", {"proposalId": proposal, "milestone": terms(8)})
            controls.confirm(r.structured_content["approval"]["id"])
        with anyio.move_on_after(10 if answer == "accept" else 1):
            while len(completed) < len(shown):
                await anyio.sleep(0.05)
    assert len(shown) == 2
    assert sorted(completed) == (sorted(shown) if answer == "accept" else []), (
        "only accepted prompts are closed"
    )


async def test_a_failed_hire_says_whether_repeating_it_is_safe(client, controls, ids):
    controls.fault(path="/hire", count=10, kind="status", status=502)
    r = await client.call_tool(
        "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(10)}
    )
    assert r.is_error and "same terms is safe" in r.content[0].text and "HTTP 502" in r.content[0].text


async def test_a_milestone_without_a_name_is_shown_by_its_description(settings, ids):
    seen: list[str] = []

    async def on_elicit(_ctx: Any, params: Any) -> ElicitResult:
        seen.append(params.message)
        return ElicitResult(action="cancel")

    description = "Label 300 audio clips " + "x" * 70 + "TAIL"
    async with Client(
        build_server(settings, policy=FAST_POLICY), mode="legacy", elicitation_callback=on_elicit
    ) as c:
        r = await c.call_tool(
            "request_hire",
            {
                "proposalId": ids["proposals"]["hireable"][0],
                "milestone": {"description": description, "amount": 15},
            },
        )
    assert r.structured_content["linkShown"] == "cancel"
    assert f'for "{description[:60]}' in seen[0] and "TAIL" not in seen[0], "a capped description stands in"


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "malformed", "status": 200, "body": '{"proposal": {"candidate": {"displayName": ""}}}'},
        {"kind": "malformed", "status": 200, "body": '{"proposal": {"candidate": {"displayName": ["x"]}}}'},
        # the prompt waits at most 0.5 s for the name, which comes 0.6 s after OpenTrain has the request:
        # always too late (the wait starts before the request is sent), though a 1.5 s wait would get it
        {"kind": "delay", "delaySeconds": 0.6},
    ],
    ids=["api-down", "empty-name", "not-a-string", "slow-api"],
)
async def test_without_the_candidate_name_the_prompt_still_shows(settings, controls, ids, fault):
    seen: list[str] = []

    async def on_elicit(_ctx: Any, params: Any) -> ElicitResult:
        seen.append(params.message)
        return ElicitResult(action="accept")

    controls.fault(path="/proposals/", method="GET", count=10, contentType="application/json", **fault)
    async with Client(
        build_server(settings, policy=FAST_POLICY), mode="legacy", elicitation_callback=on_elicit
    ) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(7)}
        )
    assert not r.is_error and r.structured_content["linkShown"] == "accept"
    assert seen[0].startswith("Confirm hiring the candidate for")


async def test_listing_survives_an_api_outage_with_what_was_recorded(client, controls, ids):
    hired = await client.call_tool(
        "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(3)}
    )
    controls.fault(path="/approvals/", count=10, kind="status", status=503)
    r = await client.call_tool("list_hire_requests", {})
    assert not r.is_error, r.content
    assert [(x["approvalId"], x["status"]) for x in r.structured_content["hireRequests"]] == [
        (hired.structured_content["approval"]["id"], "pending")
    ]


async def test_a_locked_ledger_fails_a_listing_with_read_only_wording(client, controls, ids, tmp_path):
    """Another program holding the ledger's write lock fails the listing's refresh of a decided request; the
    agent reads that nothing was changed, never that a hire request may have been recorded."""
    hired = await client.call_tool(
        "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(5)}
    )
    controls.decline(hired.structured_content["approval"]["id"])
    other = sqlite3.connect(tmp_path / "l.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        r = await client.call_tool("list_hire_requests", {})
    finally:
        other.execute("ROLLBACK")
        other.close()
    text = r.content[0].text
    assert r.is_error and "Nothing was changed; try again." in text, text
    assert "may have been recorded" not in text


async def test_one_listing_reads_at_most_20_pending_approvals(client, controls, ids):
    """Each call refreshes the 20 newest pending records, so its upstream cost stays bounded."""
    for amount in range(1, 22):  # 21 requests with new terms: each supersedes the one before
        await client.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(amount)}
        )
    controls.clear_requests()
    r = await client.call_tool("list_hire_requests", {})
    reads = [e for e in controls.requests() if e["method"] == "GET" and "/approvals/" in e["path"]]
    assert len(reads) == 20
    statuses = [x["status"] for x in r.structured_content["hireRequests"]]
    assert statuses[0] == "pending" and set(statuses[1:]) == {"expired"}, (
        "each new request superseded the last"
    )


@pytest.mark.parametrize(("length", "reaches_api"), [(1, True), (128, True), (129, False)])
async def test_id_length_limits(client, controls, length, reaches_api):
    r = await client.call_tool("check_approval", {"approvalId": "a" * length})
    assert r.is_error
    assert bool(controls.requests()) == reaches_api
    assert ("nothing with that id" in r.content[0].text) == reaches_api, r.content[0].text


async def test_a_ledger_failure_never_costs_the_human_the_link(settings, ids, tmp_path):
    """The hire exists upstream once OpenTrain answers; a broken local ledger is logged, not an error."""
    ledger = tmp_path / "l.sqlite3"
    server = build_server(settings, policy=FAST_POLICY, ledger_path=str(ledger), watch_interval=60)
    async with Client(server, mode="legacy") as c:
        assert not (await c.call_tool("list_hire_requests", {})).is_error  # the ledger exists and works
        with sqlite3.connect(ledger) as db:
            db.execute("DROP TABLE hires")
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(9)}
        )
    assert not r.is_error, r.content
    link = r.structured_content["approval"]["approvalUrl"]
    assert r.structured_content["approval"]["status"] == "pending" and link in r.content[0].text


async def test_a_failed_re_read_after_the_prompt_keeps_the_link(settings, controls, ids):
    """If OpenTrain cannot be read once the human closed the prompt, the answer is the pending link."""

    async def on_elicit(_ctx: Any, params: Any) -> ElicitResult:
        controls.fault(path="/approvals/", method="GET", count=10, kind="status", status=500)
        return ElicitResult(action="accept")

    async with Client(
        build_server(settings, policy=FAST_POLICY), mode="legacy", elicitation_callback=on_elicit
    ) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms(6)}
        )
    controls.clear_faults()
    assert not r.is_error, r.content
    approval = r.structured_content["approval"]
    assert approval["status"] == "pending" and approval["approvalUrl"] in r.content[0].text
    assert r.structured_content["linkShown"] == "accept"
