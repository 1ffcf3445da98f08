"""Bounded loopback load: 50 concurrent HTTP clients calling tools for 30 s; zero failures, flat memory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conftest import ARTIFACTS
from tests.e2e.conftest import clean_env, http_server

pytestmark = pytest.mark.anyio
CLIENTS = int(os.environ.get("OPENTRAIN_MCP_LOAD_CLIENTS", "50"))
SECONDS = float(os.environ.get("OPENTRAIN_MCP_LOAD_SECONDS", "30"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def server_pid(port: int) -> int:
    """The pid of the server subprocess listening on ``port`` (found by its command line)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"opentrain_mcp" in argv and str(port).encode() in argv:
                return int(proc.name)
    raise RuntimeError(f"no server process for port {port}")


@pytest.mark.slow
async def test_concurrent_clients_zero_failures_flat_memory(sandbox, controls, ids):
    need_proc = Path("/proc/self/status").exists()
    if not need_proc:
        pytest.skip("needs /proc to read the server's memory")
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    with http_server("--ledger", "none", env=env) as (base, _):
        pid = server_pid(int(base.rsplit(":", 1)[1]))
        async with Client(base + "/mcp", mode="legacy") as c:
            hired = await c.call_tool(
                "request_hire",
                {"proposalId": ids["proposals"]["hireable"][0], "milestone": {"name": "x", "amount": 5}},
            )
        approval_id = hired.structured_content["approval"]["id"]
        calls = failures = sessions = 0
        samples: list[tuple[float, int]] = []
        started = time.monotonic()

        async def worker(n: int) -> None:
            nonlocal calls, failures, sessions
            mode = "legacy" if n % 2 else "auto"
            while time.monotonic() - started < SECONDS:
                async with Client(base + "/mcp", mode=mode) as c:  # a new session every 20 calls
                    sessions += 1
                    for i in range(20):
                        if time.monotonic() - started >= SECONDS:
                            break
                        tool, args = (
                            ("check_approval", {"approvalId": approval_id})
                            if i % 4
                            else ("get_proposal", {"proposalId": ids["proposals"]["hireable"][1]})
                        )
                        r = await c.call_tool(tool, args)
                        calls += 1
                        failures += bool(r.is_error)

        async def sampler() -> None:
            while time.monotonic() - started < SECONDS:
                samples.append((round(time.monotonic() - started, 1), rss_kib(pid)))
                await anyio.sleep(1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sampler)
            for n in range(CLIENTS):
                tg.start_soon(worker, n)
        elapsed = time.monotonic() - started

    warm = [kib for t, kib in samples if t >= SECONDS / 3]
    growth = (warm[-1] - warm[0]) / warm[0] if len(warm) > 1 else 0.0
    figures = {
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "calls": calls,
        "failures": failures,
        "sessions": sessions,
        "callsPerSecond": round(calls / elapsed, 1),
        "rssKiB": {"first": samples[0][1], "warmStart": warm[0], "end": warm[-1]},
        "warmGrowthPercent": round(100 * growth, 1),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(figures, indent=1))
    assert failures == 0, figures
    assert calls > CLIENTS, figures
    assert growth < 0.25, f"memory grew with sessions: {figures}"
