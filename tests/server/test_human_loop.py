"""URL elicitation, waiting, subscriptions, the ledger, read tools and read-only mode, in both eras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated
from mcp.types import ElicitRequestURLParams, ElicitResult

from opentrain_mcp.server.app import build_server
from tests.conftest import FAST_POLICY, Controls

pytestmark = pytest.mark.anyio
TERMS = {"name": "Batch A", "description": "Label 500 items", "amount": 120, "dueDate": "2099-02-01"}


def server(settings, **options: Any):
    options.setdefault("policy", FAST_POLICY)
    options.setdefault("watch_interval", 0.1)
    return build_server(settings, **options)


def confirm_on_page(approval_url: str) -> None:
    """What the human does: submit the Confirm form on the approval page."""
    origin = approval_url.split("/approvals/")[0]
    httpx2.post(
        approval_url + "/confirm", headers={"Origin": origin}, follow_redirects=True, timeout=10
    ).raise_for_status()


def elicitor(action: str, seen: list[ElicitRequestURLParams]):
    async def on_elicit(_ctx: Any, params: Any) -> ElicitResult:
        assert isinstance(params, ElicitRequestURLParams), "only URL mode is used"
        seen.append(params)
        return ElicitResult(action=action)

    return on_elicit


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("action", ["accept", "decline"])
async def test_url_elicitation_shows_the_link_to_the_human(settings, controls, ids, mode, action):
    seen: list[ElicitRequestURLParams] = []
    async with Client(server(settings), mode=mode, elicitation_callback=elicitor(action, seen)) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    assert not r.is_error, r.content
    out = r.structured_content
    assert len(seen) == 1
    assert seen[0].url == out["approval"]["approvalUrl"]
    assert "$141.95" in seen[0].message and "Batch A" in seen[0].message and "." in seen[0].message
    assert out["linkShown"] == action
    assert out["approval"]["status"] == "pending", "declining the prompt cancels nothing"
    if action == "decline":
        assert "Nothing was cancelled" in r.content[0].text
    hires = [e for e in controls.requests() if e["path"].endswith("/hire")]
    statuses = [e["status"] for e in hires]
    # the modern era may re-run the tool with the human's answer: a same-terms repeat, the same approval
    assert statuses and set(statuses) == {202} and len(statuses) <= (1 if mode == "legacy" else 2), statuses


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_without_elicitation_capability_link_is_in_result(settings, ids, mode):
    async with Client(server(settings), mode=mode) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    assert "linkShown" not in r.structured_content
    assert r.structured_content["approval"]["approvalUrl"] in r.content[0].text


async def test_elicitation_complete_is_sent_when_approval_resolves(settings, controls, ids):
    completed: list[str] = []

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", "") == "notifications/elicitation/complete":
            completed.append(root.params.elicitation_id)

    seen: list[ElicitRequestURLParams] = []
    async with Client(
        server(settings),
        mode="legacy",
        elicitation_callback=elicitor("accept", seen),
        message_handler=on_message,
    ) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        controls.confirm(r.structured_content["approval"]["id"])
        with anyio.fail_after(10):
            while not completed:
                await anyio.sleep(0.05)
    assert completed == [seen[0].elicitation_id]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_wait_for_approval_returns_on_decision_with_progress(settings, controls, ids, mode):
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with Client(server(settings), mode=mode) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        approval_id = r.structured_content["approval"]["id"]
        async with anyio.create_task_group() as tg:

            async def confirm_later() -> None:
                await anyio.sleep(0.5)
                controls.confirm(approval_id)

            tg.start_soon(confirm_later)
            started = anyio.current_time()
            r = await c.call_tool(
                "wait_for_approval",
                {"approvalId": approval_id, "timeoutSeconds": 20},
                progress_callback=on_progress,
            )
            elapsed = anyio.current_time() - started
    assert r.structured_content["approval"]["status"] == "confirmed"
    assert elapsed < 15
    assert progress, "progress notifications while waiting"


async def test_wait_for_approval_times_out_with_current_state(settings, controls, ids):
    """A wait ends with the approval as it is then; it may last up to 50 s, not longer (checked on an approval
    that a 50 s wait reads at once, so only the cap can refuse the 51 s one)."""
    async with Client(server(settings), mode="legacy") as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        approval_id = r.structured_content["approval"]["id"]
        r = await c.call_tool("wait_for_approval", {"approvalId": approval_id, "timeoutSeconds": 1})
        assert r.structured_content["approval"]["status"] == "pending"
        controls.decline(approval_id)
        at_cap = await c.call_tool("wait_for_approval", {"approvalId": approval_id, "timeoutSeconds": 50})
        past_cap = await c.call_tool("wait_for_approval", {"approvalId": approval_id, "timeoutSeconds": 51})
    assert not at_cap.is_error and at_cap.structured_content["approval"]["status"] == "declined"
    text = past_cap.content[0].text
    assert past_cap.is_error and "- `timeoutSeconds`: must be at most 50\n" in text, text


async def test_subscription_legacy_gets_update_on_confirm(settings, controls, ids):
    updated: list[str] = []

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", "") == "notifications/resources/updated":
            updated.append(str(root.params.uri))

    async with Client(server(settings), mode="legacy", message_handler=on_message) as c:
        assert c.server_capabilities.resources.subscribe
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        approval_id = r.structured_content["approval"]["id"]
        uri = f"opentrain://approvals/{approval_id}"
        await c.subscribe_resource(uri)
        confirm_on_page(r.structured_content["approval"]["approvalUrl"])
        with anyio.fail_after(10):
            while uri not in updated:
                await anyio.sleep(0.05)
        contents = (await c.read_resource(uri)).contents[0]
    assert '"status":"confirmed"' in contents.text


async def test_subscription_modern_listen_gets_update_on_confirm(settings, controls, ids):
    async with Client(server(settings)) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        approval_id = r.structured_content["approval"]["id"]
        uri = f"opentrain://approvals/{approval_id}"
        async with c.listen(resource_subscriptions=[uri]) as events:
            confirm_on_page(r.structured_content["approval"]["approvalUrl"])
            assert await next_update(events, uri), "the stream ended without an update for the approval"
        contents = (await c.read_resource(uri)).contents[0]
    assert '"status":"confirmed"' in contents.text


async def next_update(events: Any, uri: str) -> bool:
    """Whether ``events`` delivers a ResourceUpdated for ``uri`` within 10 s (False if the stream ends)."""
    with anyio.fail_after(10):
        async for event in events:
            if isinstance(event, ResourceUpdated) and str(event.uri) == uri:
                return True
    return False


def settle(controls: Controls, approval_id: str, outcome: str) -> None:
    """The human declines, or the approval's 72 hours run out on the sandbox clock."""
    if outcome == "declined":
        controls.decline(approval_id)
    else:
        controls.advance(73 * 3600)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
@pytest.mark.parametrize("outcome", ["declined", "expired"])
async def test_wait_for_approval_returns_declines_and_expiries(settings, controls, ids, mode, outcome):
    async with Client(server(settings), mode=mode) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        approval_id = r.structured_content["approval"]["id"]
        async with anyio.create_task_group() as tg:

            async def settle_later() -> None:
                await anyio.sleep(0.5)
                settle(controls, approval_id, outcome)

            tg.start_soon(settle_later)
            r = await c.call_tool("wait_for_approval", {"approvalId": approval_id, "timeoutSeconds": 20})
    assert not r.is_error, r.content
    assert r.structured_content["approval"]["status"] == outcome
    assert outcome in r.content[0].text and "confirmed" not in r.content[0].text.split(".")[0]


@pytest.mark.parametrize("outcome", ["declined", "expired"])
async def test_subscriptions_report_declines_and_expiries_in_both_eras(settings, controls, ids, outcome):
    updated: list[str] = []

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", "") == "notifications/resources/updated":
            updated.append(str(root.params.uri))

    async with Client(server(settings), mode="legacy", message_handler=on_message) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        uri = f"opentrain://approvals/{r.structured_content['approval']['id']}"
        await c.subscribe_resource(uri)
        settle(controls, r.structured_content["approval"]["id"], outcome)
        with anyio.fail_after(10):
            while uri not in updated:
                await anyio.sleep(0.05)
        legacy = (await c.read_resource(uri)).contents[0].text
    assert f'"status":"{outcome}"' in legacy
    controls.reset()
    async with Client(server(settings)) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        uri = f"opentrain://approvals/{r.structured_content['approval']['id']}"
        async with c.listen(resource_subscriptions=[uri]) as events:
            settle(controls, r.structured_content["approval"]["id"], outcome)
            assert await next_update(events, uri), "the stream ended without an update for the approval"
        modern = (await c.read_resource(uri)).contents[0].text
    assert f'"status":"{outcome}"' in modern


async def test_one_updates_poll_serves_any_number_of_watched_approvals(settings, controls: Controls, ids):
    """Watching 1 and 50 approvals costs the same upstream requests per poll interval."""
    from opentrain_mcp.api.client import OpenTrainClient
    from opentrain_mcp.api.models import Approval
    from opentrain_mcp.server.watcher import ApprovalWatcher

    async def ignore(_: Approval) -> None:
        return None

    counts = []
    for watched in (1, 50):
        controls.clear_requests()
        async with OpenTrainClient(
            token=settings.token, base_url=settings.base_url, policy=FAST_POLICY
        ) as client:
            watcher = ApprovalWatcher(client, ignore, interval=0.1)
            for i in range(watched):
                watcher.watch(Approval(id=f"watched{i}", type="proposal_hire", status="pending"))
            await watcher.poll_once()  # catch up the cursor
            controls.clear_requests()
            for _ in range(5):
                await watcher.poll_once()
        counts.append(len(controls.requests()))
    assert counts[0] == counts[1] == 5


async def test_watcher_falls_back_to_direct_reads_without_updates_scope(settings, controls, ids):
    from opentrain_mcp.api.client import OpenTrainClient
    from opentrain_mcp.api.models import Approval
    from opentrain_mcp.server.watcher import ApprovalWatcher

    settled: list[Approval] = []

    async def record(a: Approval) -> None:
        settled.append(a)

    async with Client(server(settings), mode="legacy") as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    approval = Approval.model_validate(r.structured_content["approval"])
    controls.fault(path="/updates", count=100, kind="status", status=403)
    async with OpenTrainClient(
        token=settings.token, base_url=settings.base_url, policy=FAST_POLICY
    ) as client:
        watcher = ApprovalWatcher(client, record, interval=0.1)
        watcher.watch(approval)
        await watcher.poll_once()
        assert watcher.use_updates is False
        controls.confirm(approval.id)
        await watcher.poll_once()
    assert [a.status for a in settled] == ["confirmed"]


async def test_ledger_survives_restart_and_refreshes(settings, controls, ids, tmp_path):
    ledger = str(tmp_path / "ledger.sqlite3")
    async with Client(server(settings, ledger_path=ledger), mode="legacy") as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    approval_id = r.structured_content["approval"]["id"]
    controls.decline(approval_id)
    async with Client(server(settings, ledger_path=ledger), mode="auto") as c:
        r = await c.call_tool("list_hire_requests", {})
        records = r.structured_content["hireRequests"]
        assert [(x["approvalId"], x["status"]) for x in records] == [(approval_id, "declined")]
        assert records[0]["milestone"]["amount"] == 120
        r = await c.call_tool("list_hire_requests", {"status": "pending"})
        assert r.structured_content["hireRequests"] == []
    raw = Path(ledger).read_bytes()
    assert settings.token.encode() not in raw


async def test_read_only_and_tool_subset(settings):
    async with Client(server(settings, read_only=True), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert "request_hire" not in names and "check_approval" in names
        r = await c.call_tool("request_hire", {"proposalId": "p1", "milestone": TERMS})
        assert r.is_error
    async with Client(server(settings, tools={"request_hire", "check_approval"}), mode="legacy") as c:
        assert {t.name for t in (await c.list_tools()).tools} == {"request_hire", "check_approval"}
    with pytest.raises(ValueError):
        build_server(settings, tools={"nope"})


async def test_read_tools(settings, controls, ids):
    async with Client(server(settings), mode="legacy") as c:
        jobs = (await c.call_tool("list_jobs", {})).structured_content["jobs"]
        assert jobs and all("id" in j for j in jobs)
        listed = (await c.call_tool("list_proposals", {"jobId": jobs[0]["id"]})).structured_content
        assert listed["proposals"]
        names = [p["candidate"] for p in listed["proposals"]]
        assert all(n and n.endswith(".") and "@" not in n for n in names), names
        hired = (
            await c.call_tool("list_proposals", {"jobId": ids["jobs"]["primary"], "status": "HIRED"})
        ).structured_content
        assert [p["id"] for p in hired["proposals"]] == [ids["proposals"]["alreadyHired"]]
        assert hired["proposals"][0]["status"] == "HIRED"
        detail = (
            await c.call_tool("get_proposal", {"proposalId": ids["proposals"]["hireable"][0]})
        ).structured_content
        assert detail["interviewSummary"] and detail["interviewScore"] is not None
        contracts = (await c.call_tool("list_contracts", {})).structured_content["contracts"]
        assert contracts
        contract = (await c.call_tool("get_contract", {"contractId": contracts[0]["id"]})).structured_content
        assert contract["milestones"] and contract["freelancer"].endswith(".")
        ready = (await c.call_tool("check_hiring_readiness", {})).structured_content
        assert ready["verdict"] == "unknown" and ready["ready"] is False, "the claim state is never reported"
        assert {c["status"] for c in ready["checks"] if c["name"] != "account_claimed"} <= {
            "ready",
            "unknown",
        }
        assert {c["name"] for c in ready["checks"]} >= {"token", "scopes", "hiring_feature", "funds"}
        r = await c.call_tool("list_proposals", {"jobId": "../x"})
        assert r.is_error
    controls.account(features={"public_api_hiring": False})
    async with Client(server(settings), mode="auto") as c:
        ready = (await c.call_tool("check_hiring_readiness", {})).structured_content
    assert ready["ready"] is False and ready["verdict"] == "not_ready"


async def test_prompt_and_instructions(settings):
    async with Client(server(settings), mode="legacy") as c:
        assert "request_hire" in (c.instructions or "")
        prompt = await c.get_prompt("hire_candidate", {"jobId": "job1"})
        assert "job1" in prompt.messages[0].content.text
