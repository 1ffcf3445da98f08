"""One wall-clock budget per tool call and per watcher poll, reading the body included (issue 10, item 8).

The API here is a real loopback HTTP server that answers with headers at once and then drips the body one
byte at a time, each byte well inside the per-read timeout: only a wall-clock deadline ends such a call.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mcp import Client

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.api.errors import TransportError
from opentrain_mcp.api.models import Approval
from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import build_server
from opentrain_mcp.server.watcher import ApprovalWatcher
from tests.server.test_tools import text_of

pytestmark = pytest.mark.anyio
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


@contextmanager
def drip_server(every: float) -> Iterator[str]:
    """An HTTP server on loopback that sends one body byte every ``every`` seconds, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(HEAD)
                while not stop.wait(every):
                    conn.sendall(b" ")
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def policy(budget: float, per_read: float) -> RetryPolicy:
    return RetryPolicy(
        request_timeout=per_read, connect_timeout=1.0, backoff_base=0.05, backoff_cap=0.2, budget=budget
    )


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_dripping_api_cannot_hold_a_tool_call_past_its_budget(mode):
    budget = 3.0
    with drip_server(every=0.5) as url:
        server = build_server(
            Settings(token="ot_pat_drip", base_url=url), policy=policy(budget, per_read=2.0)
        )
        async with Client(server, mode=mode) as c:
            started = time.monotonic()
            r = await c.call_tool("check_hiring_readiness", {})
            took = time.monotonic() - started
    assert took < budget + 5, f"took {took:.1f} s"
    assert r.is_error and "timed out" in text_of(r), text_of(r)


async def test_a_dripping_api_cannot_stall_a_tool_with_one_request():
    budget = 3.0
    with drip_server(every=0.5) as url:
        server = build_server(
            Settings(token="ot_pat_drip", base_url=url), policy=policy(budget, per_read=2.0)
        )
        async with Client(server, mode="legacy") as c:
            started = time.monotonic()
            r = await c.call_tool("list_jobs", {})
            took = time.monotonic() - started
    assert r.is_error and "timed out" in text_of(r), text_of(r)
    assert took < budget + 5, f"took {took:.1f} s"


async def test_a_watcher_poll_ends_within_its_budget():
    budget = 3.0
    with drip_server(every=0.5) as url:
        async with OpenTrainClient(
            token="ot_pat_drip", base_url=url, policy=policy(budget, per_read=2.0)
        ) as client:
            changed: list[Approval] = []

            async def on_change(approval: Approval) -> None:
                changed.append(approval)

            watcher = ApprovalWatcher(client, on_change, interval=0.1)
            watcher.use_updates = False
            for n in range(3):
                watcher.watch(Approval(id=f"a{n}", type="proposal_hire", status="pending"))
            started = time.monotonic()
            with pytest.raises(TransportError):
                await watcher.poll_within_budget()
            took = time.monotonic() - started
    assert took < budget + 5, f"took {took:.1f} s"
    assert changed == []


@pytest.mark.slow
async def test_the_issue_case_one_byte_every_ten_seconds_default_budget():
    default = RetryPolicy()
    with drip_server(every=10.0) as url:
        server = build_server(Settings(token="ot_pat_drip", base_url=url))
        async with Client(server, mode="legacy") as c:
            started = time.monotonic()
            r = await c.call_tool("list_jobs", {})
            took = time.monotonic() - started
    assert r.is_error and "timed out" in text_of(r)
    assert took < default.budget + 5, f"took {took:.1f} s"
