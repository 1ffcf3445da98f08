"""Benchmarks 2 and 3: per-call overhead (stdio, HTTP) and HTTP concurrency, each against its floor."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from common import FETCH_FLOOR, FLOOR, Sandbox, http_server, ours_args, rss_mb, stdio, summary
from mcp import Client

Call = Callable[[], Awaitable[Any]]
AMOUNT = 300


def _check(client: Client, approval_id: str) -> Call:
    async def call() -> Any:
        r = await client.call_tool("check_approval", {"approvalId": approval_id})
        if r.is_error:
            raise RuntimeError(r.content)

    return call


def _hire(client: Client, proposal_id: str) -> Call:
    args = {"proposalId": proposal_id, "milestone": {"name": "Bench milestone", "amount": AMOUNT}}

    async def call() -> Any:
        r = await client.call_tool("request_hire", args)
        if r.is_error:
            raise RuntimeError(r.content)

    return call


def _echo(client: Client) -> Call:
    async def call() -> Any:
        await client.call_tool("echo", {"text": "x"})

    return call


def _fetch(client: Client, method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    async def call() -> Any:
        r = await client.call_tool("fetch", {"method": method, "path": path, "body": body})
        if r.is_error:
            raise RuntimeError(r.content)

    return call


async def _timed(call: Call, n: int, warmup: int) -> list[float]:
    """Per-call latencies in ms after ``warmup`` untimed calls."""
    for _ in range(warmup):
        await call()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def _interleaved(calls: dict[str, Call], n: int, warmup: int, rounds: int = 10) -> dict[str, Any]:
    """Latency summaries of several calls measured in alternating blocks, so machine drift hits all alike."""
    for call in calls.values():
        await _timed(call, 0, warmup)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name] += await _timed(call, max(1, n // rounds), 0)
    return {name: summary(values) for name, values in samples.items()}


async def per_call(sb: Sandbox, n: int, warmup: int) -> dict[str, Any]:
    """ms/call for check_approval and request_hire over stdio and HTTP, with both floors, interleaved.

    Each tool is compared with the same upstream request: ``check_approval`` with a GET of the approval,
    ``request_hire`` with a POST of the identical hire body (the same pending approval comes back).
    """
    proposal = sb.fixtures["proposals"]["hireable"][0]
    approval_id = sb.hire(proposal, AMOUNT)["id"]  # the pending approval request_hire will repeat
    approval_path, hire_path = f"/approvals/{approval_id}", f"/proposals/{proposal}/hire"
    hire_body = {"milestone": {"name": "Bench milestone", "amount": AMOUNT}}
    out: dict[str, Any] = {}
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {sb.token}"}) as http:

        async def get() -> None:  # the upstream part of the floors: plain keep-alive requests
            (await http.get(sb.api_base_url + approval_path)).raise_for_status()

        async def post() -> None:
            (await http.post(sb.api_base_url + hire_path, json=hire_body)).raise_for_status()

        async def measure(ours: Client, floor: Client, fetch: Client, prefix: str) -> None:
            calls = {
                "check": _check(ours, approval_id),
                "hire": _hire(ours, proposal),
                "echo": _echo(floor),
                "get": get,
                "post": post,
                "fetch_get": _fetch(fetch, "GET", approval_path),
                "fetch_post": _fetch(fetch, "POST", hire_path, hire_body),
            }
            for name, result in (await _interleaved(calls, n, warmup)).items():
                out[f"{prefix}_{name}"] = result

        async with (
            stdio(ours_args(), sb.server_env()) as ours,
            stdio([FLOOR]) as floor,
            stdio([FETCH_FLOOR], sb.server_env()) as fetch,
        ):
            await measure(ours, floor, fetch, "stdio")
        with (
            http_server("ours", sb) as (server_url, _),
            http_server("floor", None) as (floor_url, _),
            http_server("fetch", sb) as (fetch_url, _),
        ):
            async with (
                Client(server_url, mode="legacy") as ours,
                Client(floor_url, mode="legacy") as floor,
                Client(fetch_url, mode="legacy") as fetch,
            ):
                await measure(ours, floor, fetch, "http")
    return out


async def _load(
    url: str, pid: int, tool: str, args: dict[str, Any], sessions: int, seconds: float
) -> dict[str, Any]:
    """``sessions`` concurrent legacy sessions calling ``tool`` back to back for ``seconds``."""
    lat: list[float] = []
    errors = 0
    peak = 0.0
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(url, mode="legacy")) for _ in range(sessions)]
        for c in clients:  # each session's first call also fetches tools/list; keep it out of the window
            await c.call_tool(tool, args)
        idle = rss_mb(pid)
        deadline = time.perf_counter() + seconds

        async def worker(c: Client) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await c.call_tool(tool, args)
                    if r.is_error:
                        errors += 1
                except Exception:
                    errors += 1
                lat.append((time.perf_counter() - t0) * 1000)

        async def sample() -> None:
            nonlocal peak
            while time.perf_counter() < deadline:
                peak = max(peak, rss_mb(pid))
                await anyio.sleep(0.25)

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            for c in clients:
                tg.start_soon(worker, c)
        elapsed = time.perf_counter() - t0
    s = summary(lat)
    return {
        "sessions": sessions,
        "rps": len(lat) / elapsed,
        "p50": s["median"],
        "p99": s["p99"],
        "errors": errors,
        "calls": len(lat),
        "rss_idle": idle,
        "rss_load": peak,
    }


async def concurrency(sb: Sandbox, levels: list[int], seconds: float, stateless: bool) -> dict[str, Any]:
    """Throughput, latency, errors and RSS at each concurrency level, ours vs the floor echo server."""
    approval_id = sb.hire(sb.fixtures["proposals"]["hireable"][1], AMOUNT)["id"]
    variants = [("ours", ())] + ([("ours", ("--stateless",))] if stateless else []) + [("floor", ())]
    out: dict[str, Any] = {}
    for kind, extra in variants:
        label = kind + (" --stateless" if extra else "")
        tool, args = (
            ("check_approval", {"approvalId": approval_id}) if kind == "ours" else ("echo", {"text": "x"})
        )
        with http_server(kind, sb, *extra) as (url, pid):
            out[label] = {
                "rss_start": rss_mb(pid),
                "levels": [await _load(url, pid, tool, args, n, seconds) for n in levels],
            }
    return out
