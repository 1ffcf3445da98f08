"""Benchmark 4: upstream requests, counted from the sandbox request log."""

from __future__ import annotations

from typing import Any

from common import Sandbox, ours_args, stdio

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.api.models import Approval
from opentrain_mcp.server.watcher import ApprovalWatcher

API = "/api/public/v1"


def _api_requests(sb: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sb.requests() if str(r.get("path", "")).startswith(API)]


async def settled_cache(sb: Sandbox, calls: int = 20) -> dict[str, Any]:
    """``calls`` check_approval calls on a confirmed approval: upstream reads of that approval."""
    approval = sb.hire(sb.fixtures["proposals"]["hireable"][2], 120)
    sb.control("POST", f"approvals/{approval['id']}/confirm", json={})
    async with stdio(ours_args(), sb.server_env()) as client:
        await client.list_tools()
        sb.clear()
        for _ in range(calls):
            r = await client.call_tool("check_approval", {"approvalId": approval["id"]})
            assert not r.is_error, r.content
        reqs = _api_requests(sb)
    reads = [r for r in reqs if r["path"] == f"{API}/approvals/{approval['id']}"]
    return {"calls": calls, "reads": len(reads), "all_api": len(reqs)}


async def watcher_polls(
    sb: Sandbox, counts: list[int], polls: int, interval: float = 2.0
) -> list[dict[str, Any]]:
    """Upstream requests per poll while watching N pending approvals (real ones first, then synthetic)."""
    real = [sb.hire(p, 77)["id"] for p in sb.fixtures["proposals"]["hireable"][3:]]
    out = []
    for n in counts:
        async with OpenTrainClient(token=sb.token, base_url=sb.base_url) as client:

            async def on_change(_a: Approval) -> None:
                return None

            w = ApprovalWatcher(client, on_change, interval=interval)
            ids = (real + [f"benchwatch{i:015d}" for i in range(n)])[:n]
            for i in ids:
                w.watch(Approval(id=i, type="proposal_hire", status="pending"))
            await w.poll_once()  # first poll catches up on the feed; not counted
            sb.clear()
            for _ in range(polls):
                await w.poll_once()
            reqs = _api_requests(sb)
        per_poll = len(reqs) / polls
        out.append(
            {
                "watched": n,
                "real": min(n, len(real)),
                "polls": polls,
                "per_poll": per_poll,
                "per_minute": per_poll * 60 / interval,
                "paths": sorted({r["path"].removeprefix(API) for r in reqs}),
            }
        )
    return out
