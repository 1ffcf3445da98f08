"""One wall-clock budget per tool call and per watcher poll, reading the body included (issue 10, item 8).

The API here is a real loopback HTTP server that logs every request and then stalls it: it sends the
headers at once and drips the body one byte at a time, each byte well inside the per-read timeout (only a
wall-clock deadline ends such a request), or it answers each request in full but late. The budget tests are
built so that a budget per request instead of one shared budget would let every request through: they count
the requests that got through, never the seconds a call took.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.api.errors import TransportError
from opentrain_mcp.api.models import Approval
from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings
from opentrain_mcp.ledger import Ledger
from opentrain_mcp.server.app import build_server
from opentrain_mcp.server.watcher import ApprovalWatcher
from tests.server.test_tools import text_of

pytestmark = pytest.mark.anyio
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
HANG_GUARD = 60  # seconds: turns a call that never ends into a failure; no test comes near it
Respond = Callable[[socket.socket, str, threading.Event], None]


@dataclass
class StallingApi:
    url: str = ""
    paths: list[str] = field(default_factory=list)  # the path of every request received, in order

    def reads(self, prefix: str) -> list[str]:
        return [p for p in self.paths if p.startswith("/api/public/v1" + prefix)]


def drip(every: float) -> Respond:
    """Headers at once, then one body byte every ``every`` seconds, forever."""

    def respond(conn: socket.socket, path: str, stop: threading.Event) -> None:
        conn.sendall(HEAD)
        while not stop.wait(every):
            conn.sendall(b" ")

    return respond


def late(after: float, body: Callable[[str], dict[str, Any]]) -> Respond:
    """The whole answer ``body(path)``, ``after`` seconds after the request arrived."""

    def respond(conn: socket.socket, path: str, stop: threading.Event) -> None:
        if stop.wait(after):
            return
        payload = json.dumps(body(path)).encode()
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        conn.sendall(f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload)

    return respond


@contextmanager
def stalling_api(respond: Respond) -> Iterator[StallingApi]:
    """An HTTP server on loopback that logs each request's path, then lets ``respond`` answer it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    api = StallingApi(f"http://127.0.0.1:{listener.getsockname()[1]}")

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                request_line = conn.recv(65536).split(b"\r\n", 1)[0].decode()
                api.paths.append(request_line.split(" ")[1].split("?")[0])
                respond(conn, api.paths[-1], stop)
            except (OSError, IndexError):
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield api
    finally:
        stop.set()
        listener.close()


def policy(budget: float, per_request: float, retries: int = 2) -> RetryPolicy:
    return RetryPolicy(
        request_timeout=per_request,
        connect_timeout=1.0,
        max_retries=retries,
        backoff_base=0.05,
        backoff_cap=0.2,
        budget=budget,
    )


@pytest.mark.parametrize(
    ("tool", "path"), [("check_hiring_readiness", "/auth/me"), ("list_jobs", "/jobs/mine")]
)
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_dripping_api_cannot_hold_a_tool_call_past_its_budget(mode, tool, path):
    """Every byte comes within the 2 s per-read timeout, so only the wall clock ends a try: the wording names
    its TimeoutError, not an HTTP read timeout. Each try may take 2 s and the policy allows 3, but the 3 s
    budget ends the call during the second: without the budget all 3 would be sent."""
    with stalling_api(drip(every=0.5)) as api:
        server = build_server(Settings(token="ot_pat_drip", base_url=api.url), policy=policy(3.0, 2.0))
        async with Client(server, mode=mode) as c:
            with anyio.fail_after(HANG_GUARD):
                r = await c.call_tool(tool, {})
    assert r.is_error and "timed out" in text_of(r) and "(TimeoutError)" in text_of(r), text_of(r)
    assert 1 <= len(api.reads(path)) <= 2 and len(api.paths) == len(api.reads(path)), api.paths


async def test_the_requests_of_one_tool_call_share_one_budget(tmp_path: Path, caplog):
    """list_hire_requests re-reads each of 6 pending records; the API never answers. Each read may take 1 s,
    the whole call 2.5 s: reads 1 and 2 time out after 1 s, read 3 after the 0.5 s left, and the other 3
    are never sent, so the listing answers with what was recorded. With a 2.5 s budget per request instead,
    all 6 reads would be sent."""
    caplog.set_level(logging.INFO, logger="opentrain_mcp")
    with stalling_api(drip(every=0.2)) as api:
        ledger = Ledger(tmp_path / "ledger.sqlite3")
        for n in range(6):
            ledger.record(
                {"id": f"ap{n}", "type": "proposal_hire", "status": "pending", "proposalId": f"prop{n}"},
                api_origin=api.url,
            )
        ledger.close()
        server = build_server(
            Settings(token="ot_pat_stall", base_url=api.url),
            policy=policy(2.5, 1.0, retries=0),
            ledger_path=str(tmp_path / "ledger.sqlite3"),
            watch_interval=60,
        )
        async with Client(server, mode="legacy") as c:
            with anyio.fail_after(HANG_GUARD):
                r = await c.call_tool("list_hire_requests", {})
    assert not r.is_error, text_of(r)
    assert [x["status"] for x in r.structured_content["hireRequests"]] == ["pending"] * 6
    assert len(api.reads("/approvals/")) <= 3, api.paths
    unsent = [m for m in caplog.messages if "no answer within the 2 s budget after 0 tries" in m]
    assert len(unsent) >= 3, caplog.messages


async def test_the_requests_of_one_watcher_poll_share_one_budget():
    """A poll reads each of 10 watched approvals directly; the API answers each read in full, 0.3 s after
    it arrived (as confirmed). 10 reads need at least 3 s, the poll's budget is 1.5 s: the poll ends with a
    budget error before it has read them all. With a 1.5 s budget per request instead, each read would fit
    and all 10 confirmations would be reported."""

    def confirmed(path: str) -> dict[str, Any]:
        approval_id = path.rsplit("/", 1)[-1]
        return {"approval": {"id": approval_id, "type": "proposal_hire", "status": "confirmed"}}

    with stalling_api(late(0.3, confirmed)) as api:
        async with OpenTrainClient(
            token="ot_pat_slow", base_url=api.url, policy=policy(1.5, 1.5, retries=0)
        ) as client:
            changed: list[Approval] = []

            async def on_change(approval: Approval) -> None:
                changed.append(approval)

            watcher = ApprovalWatcher(client, on_change, interval=60)
            watcher.use_updates = False
            for n in range(10):
                watcher.watch(Approval(id=f"a{n}", type="proposal_hire", status="pending"))
            with anyio.fail_after(HANG_GUARD), pytest.raises(TransportError, match=r"budget|timed out"):
                await watcher.poll_within_budget()
    assert len(changed) < 10 and len(api.reads("/approvals/")) < 10, f"{len(changed)} of 10 reported"
    assert {a.status for a in changed} <= {"confirmed"} and len(watcher.pending) == 10 - len(changed)


@pytest.mark.slow
async def test_the_issue_case_one_byte_every_ten_seconds_default_budget():
    """One byte every 10 s never trips the default 15 s per-read timeout; each try ends after 15 s and the
    30 s budget ends the call before the third."""
    with stalling_api(drip(every=10.0)) as api:
        server = build_server(Settings(token="ot_pat_drip", base_url=api.url))
        async with Client(server, mode="legacy") as c:
            with anyio.fail_after(HANG_GUARD):
                r = await c.call_tool("list_jobs", {})
    assert r.is_error and "timed out" in text_of(r) and "(TimeoutError)" in text_of(r), text_of(r)
    assert 1 <= len(api.reads("/jobs/mine")) <= 2, api.paths
