"""10,000 subscribe attempts in one session leave the server's memory flat (issue 10, item 9).

A raw JSON-RPC client on the stdio server pipelines the requests, so the test takes seconds, not minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from opentrain_mcp.server.state import MAX_SUBSCRIPTIONS_PER_SESSION
from tests.e2e.conftest import clean_env
from tests.e2e.test_load import rss_kib

ATTEMPTS = 10_000
BATCH = 500


class StdioPeer:
    """A handshake-era client speaking newline-delimited JSON-RPC to a server subprocess."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdin and proc.stdout
        self.proc, self.stdin, self.stdout = proc, proc.stdin, proc.stdout
        self.next_id = 0

    def send(self, method: str, params: dict, *, notify: bool = False) -> None:
        message = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            self.next_id += 1
            message["id"] = self.next_id
        self.stdin.write(json.dumps(message) + "\n")

    def answers(self, count: int) -> list[dict]:
        self.stdin.flush()
        out: list[dict] = []
        while len(out) < count:
            line = self.stdout.readline()
            assert line, "server closed stdout"
            message = json.loads(line)
            if "id" in message:
                out.append(message)
        return out


@pytest.mark.slow
def test_ten_thousand_subscribe_attempts_keep_rss_flat(sandbox):
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "opentrain_mcp", "--ledger", "none"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        peer = StdioPeer(proc)
        info = {"name": "subscribe-flood", "version": "1"}
        peer.send("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": info})
        assert "result" in peer.answers(1)[0]
        peer.send("notifications/initialized", {}, notify=True)
        for _ in range(BATCH):  # warm-up: the same request path, refused
            peer.send("resources/subscribe", {"uri": "https://example.com/warm-up"})
        peer.answers(BATCH)
        before = rss_kib(proc.pid)
        results: list[dict] = []
        for start in range(0, ATTEMPTS, BATCH):
            for n in range(start, start + BATCH):
                uri = f"opentrain://approvals/a{n}" if n % 2 else f"https://example.com/{n}"
                peer.send("resources/subscribe", {"uri": uri})
            results += peer.answers(BATCH)
        after = rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
    accepted = sum("result" in r for r in results)
    assert accepted == MAX_SUBSCRIPTIONS_PER_SESSION
    assert all(r["error"]["code"] == -32602 for r in results if "error" in r)
    growth_mib = (after - before) / 1024
    print(f"RSS growth after {ATTEMPTS} subscribe attempts: {growth_mib:.1f} MiB")
    assert growth_mib < 10, f"RSS grew {growth_mib:.1f} MiB"
