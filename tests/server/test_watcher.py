"""The approval watcher against the sandbox: every way an approval settles is reported once, nothing else is."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.api.models import Approval, Milestone
from opentrain_mcp.server.watcher import ApprovalWatcher
from tests.conftest import FAST_POLICY, Controls
from tests.server.hostile_api import TOKEN, running_hostile_api

pytestmark = pytest.mark.anyio
TERMS = Milestone(name="Watched batch", amount=40, dueDate="2099-06-01")


@pytest.fixture
async def client(sandbox: Any, controls: Controls) -> AsyncIterator[OpenTrainClient]:
    async with OpenTrainClient(token=sandbox.token, base_url=sandbox.base_url, policy=FAST_POLICY) as c:
        yield c


class Recorder:
    def __init__(self) -> None:
        self.settled: list[Approval] = []
        self.arrived = anyio.Event()

    async def __call__(self, approval: Approval) -> None:
        self.settled.append(approval)
        self.arrived.set()


async def hire(client: OpenTrainClient, proposal: str) -> Approval:
    return (await client.hire(proposal, TERMS)).approval


def settle(controls: Controls, approval: Approval, how: str) -> None:
    if how == "confirmed":
        controls.confirm(approval.id)
    elif how == "declined":
        controls.decline(approval.id)
    else:
        controls.advance(73 * 3600)


@pytest.mark.parametrize("how", ["confirmed", "declined", "expired"])
async def test_each_settled_approval_is_reported_once(client, controls, ids, how):
    recorder = Recorder()
    watcher = ApprovalWatcher(client, recorder, interval=0.05)
    watched = await hire(client, ids["proposals"]["hireable"][0])
    unwatched = await hire(client, ids["proposals"]["hireable"][1])
    watcher.watch(watched)
    await watcher.poll_once()
    assert recorder.settled == [] and set(watcher.pending) == {watched.id}, "pending stays quiet"
    event = watcher.changed_event(watched.id)
    settle(controls, watched, how)
    if how != "expired":  # the clock moved for both
        settle(controls, unwatched, how)
    await watcher.poll_once()
    await watcher.poll_once()
    assert [(a.id, a.status) for a in recorder.settled] == [(watched.id, how)]
    assert event.is_set() and watcher.pending == {}
    if how == "confirmed":
        assert recorder.settled[0].contractId


async def test_only_pending_approvals_are_watched(client):
    recorder = Recorder()
    watcher = ApprovalWatcher(client, recorder)
    watcher.watch(Approval(id="done1", type="proposal_hire", status="confirmed"))
    watcher.watch(Approval(id="../admin", type="proposal_hire", status="pending"))  # never sent upstream
    assert watcher.pending == {}


@pytest.mark.parametrize(
    "fault",
    [{"kind": "status", "status": 404}, {"kind": "malformed", "status": 200, "body": '{"approval": 5}'}],
    ids=["vanished", "malformed"],
)
async def test_an_approval_that_vanished_or_reads_malformed_stops_being_watched(client, controls, ids, fault):
    recorder = Recorder()
    approval = await hire(client, ids["proposals"]["hireable"][0])
    controls.fault(path="/updates", count=100, kind="status", status=403)  # direct reads of every approval
    controls.fault(
        path=f"/approvals/{approval.id}", method="GET", count=100, contentType="application/json", **fault
    )
    watcher = ApprovalWatcher(client, recorder)
    watcher.watch(approval)
    await watcher.poll_once()
    controls.clear_faults()
    assert watcher.pending == {} and recorder.settled == [], "dropped quietly, nothing reported as settled"


async def test_the_feed_is_read_from_where_the_last_poll_stopped(client, controls, ids):
    watcher = ApprovalWatcher(client, Recorder())
    watcher.watch(await hire(client, ids["proposals"]["hireable"][0]))
    controls.clear_requests()
    await watcher.poll_once()
    await watcher.poll_once()
    feed = [e for e in controls.requests() if e["path"].endswith("/updates")]
    assert len(feed) == 2 and feed[0]["query"].get("limit") == "200"
    assert watcher.cursor and feed[1]["query"]["cursor"] == watcher.cursor


async def test_an_approval_past_its_expiry_is_read_directly(client, controls, ids):
    approval = await hire(client, ids["proposals"]["hireable"][0])
    watcher = ApprovalWatcher(client, Recorder())
    watcher.watch(approval)
    await watcher.poll_once()  # catch up with the feed
    controls.clear_requests()
    await watcher.poll_once()
    assert not [e for e in controls.requests() if "/approvals/" in e["path"]], "nothing due, nothing read"
    for unknown in (None, "", "next tuesday"):  # no usable expiry: wait for the feed, read nothing early
        watcher.watch(approval.model_copy(update={"expiresAt": unknown}))
        await watcher.poll_once()
    assert not [e for e in controls.requests() if "/approvals/" in e["path"]]
    past = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    watcher.watch(approval.model_copy(update={"expiresAt": past}))
    await watcher.poll_once()
    assert [e["path"] for e in controls.requests() if "/approvals/" in e["path"]] == [
        f"/api/public/v1/approvals/{approval.id}"
    ]


async def test_without_the_updates_scope_pending_approvals_are_read_directly(client, controls, ids):
    recorder = Recorder()
    approval = await hire(client, ids["proposals"]["hireable"][0])
    controls.fault(path="/updates", count=100, kind="status", status=403)
    watcher = ApprovalWatcher(client, recorder)
    watcher.watch(approval)
    await watcher.poll_once()
    controls.decline(approval.id)
    controls.clear_requests()
    await watcher.poll_once()
    assert [e["path"].rsplit("/", 1)[-1] for e in controls.requests()] == [approval.id], "no more feed reads"
    assert [a.status for a in recorder.settled] == ["declined"]


async def test_running_watcher_survives_a_failed_poll_and_reports(client, controls, ids, caplog):
    """An API failure costs one poll and one warning that names it (no traceback, which is for bugs)."""
    caplog.set_level(logging.INFO, logger="opentrain_mcp.watcher")
    recorder = Recorder()
    watcher = ApprovalWatcher(client, recorder, interval=0.05)
    approval = await hire(client, ids["proposals"]["hireable"][0])
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        await anyio.sleep(0.1)
        assert watcher.polls == 0, "with nothing to watch the watcher sleeps"
        controls.fault(path="/updates", count=1, kind="status", status=500)
        watcher.watch(approval)
        controls.confirm(approval.id)
        with anyio.fail_after(10):
            await recorder.arrived.wait()
        tg.cancel_scope.cancel()
    assert [a.status for a in recorder.settled] == ["confirmed"] and watcher.polls >= 2
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.exc_info) for r in failures] == [("WARNING", None)], caplog.text
    assert "Internal Server Error" in failures[0].getMessage(), caplog.text


async def test_a_failing_listener_does_not_stop_the_watcher(client, controls, ids):
    recorder = Recorder()
    failed: list[str] = []

    async def flaky(approval: Approval) -> None:
        if not failed:
            failed.append(approval.id)
            raise RuntimeError("listener bug")
        await recorder(approval)

    watcher = ApprovalWatcher(client, flaky, interval=0.05)
    first = await hire(client, ids["proposals"]["hireable"][0])
    second = await hire(client, ids["proposals"]["hireable"][1])
    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher.run)
        watcher.watch(first)
        controls.confirm(first.id)
        with anyio.fail_after(10):
            while not failed:
                await anyio.sleep(0.05)
        watcher.watch(second)
        controls.decline(second.id)
        with anyio.fail_after(10):
            await recorder.arrived.wait()
        tg.cancel_scope.cancel()
    assert failed == [first.id] and [(a.id, a.status) for a in recorder.settled] == [(second.id, "declined")]


async def test_a_malformed_feed_event_is_skipped_and_the_feed_moves_on():
    """An event with no object as its data, or naming its approval with a list (a hostile or broken API),
    must not stall every later poll."""
    recorder = Recorder()
    with running_hostile_api() as api:
        events = [
            {"type": "approval.confirmed", "data": None},
            {"type": "approval.confirmed", "data": "ap1"},
            {"type": "approval.confirmed", "data": {"approvalId": ["ap1"]}},
            {"type": "approval.confirmed", "data": {"approvalId": "ap1"}},
        ]
        api.answer("GET", "/updates", (200, {"events": events, "nextCursor": "c2", "hasMore": False}))
        api.answer("GET", "/approvals/ap1", (200, {"approval": api.approval("ap1", status="confirmed")}))
        async with OpenTrainClient(token=TOKEN, base_url=api.base_url, policy=FAST_POLICY) as client:
            watcher = ApprovalWatcher(client, recorder)
            watcher.watch(Approval.model_validate(api.approval("ap1")))
            await watcher.poll_once()
    assert [(a.id, a.status) for a in recorder.settled] == [("ap1", "confirmed")] and watcher.cursor == "c2"


async def test_one_poll_reads_at_most_20_pages_of_the_feed():
    """A feed that always says it has more (4,000 unread events, or a broken API) costs one poll 20 reads;
    the next poll goes on from the last cursor."""
    with running_hostile_api() as api:
        api.answer(
            "GET",
            "/updates",
            lambda request: (
                200,
                {"events": [], "nextCursor": f"after-{request.query_params.get('cursor')}", "hasMore": True},
            ),
        )
        async with OpenTrainClient(token=TOKEN, base_url=api.base_url, policy=FAST_POLICY) as client:
            watcher = ApprovalWatcher(client, Recorder())
            watcher.watch(Approval.model_validate(api.approval("ap1")))
            await watcher.poll_once()
            first = api.count("GET", "/updates")
            await watcher.poll_once()
    assert first == 20 and api.count("GET", "/updates") == 40
    assert watcher.cursor == "after-" * 40 + "None"
