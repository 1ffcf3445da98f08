"""Benchmark 5: token budget of tools/list and of typical results (bytes/4, or tiktoken if importable)."""

from __future__ import annotations

import json
from typing import Any

from common import Sandbox, ours_args, stdio
from pydantic import BaseModel

from opentrain_mcp.server.app import TOOLS_LIST_BUDGET

try:
    import tiktoken

    _ENC: Any = tiktoken.get_encoding("cl100k_base")
except Exception:  # not installed (we do not install it)
    _ENC = None


def size(obj: Any) -> dict[str, Any]:
    """Compact-JSON bytes (strings as-is), approximate tokens (bytes/4) and tiktoken tokens if available."""
    if isinstance(obj, BaseModel):
        data = obj.model_dump_json(by_alias=True, exclude_none=True)
    elif isinstance(obj, str):
        data = obj
    else:
        data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    n = len(data.encode())
    return {"bytes": n, "tokens": round(n / 4), "tiktoken": len(_ENC.encode(data)) if _ENC else None}


async def token_budget(sb: Sandbox) -> dict[str, Any]:
    """tools/list as a whole and per tool, the hire pair, and three typical results."""
    fx = sb.fixtures
    async with stdio(ours_args(), sb.server_env()) as client:
        listed = await client.list_tools()
        tools = {t.name: t for t in listed.tools}
        hire = await client.call_tool(
            "request_hire",
            {
                "proposalId": fx["proposals"]["hireable"][0],
                "milestone": {"name": "Label 500 images", "amount": 300},
            },
        )
        check = await client.call_tool(
            "check_approval", {"approvalId": hire.structured_content["approval"]["id"]}
        )
        props = await client.call_tool("list_proposals", {"jobId": fx["jobs"]["primary"]})
    async with stdio(ours_args("--toolsets", "hiring,contracts"), sb.server_env()) as client:
        full = await client.list_tools()
    pair = [
        tools[n].model_dump(by_alias=True, exclude_none=True, mode="json")
        for n in ("request_hire", "check_approval")
        if n in tools
    ]
    results = {}
    for name, r in (("request_hire", hire), ("check_approval", check), ("list_proposals", props)):
        text = "\n".join(getattr(c, "text", "") for c in r.content)
        results[name] = {
            "text": size(text),
            "structured": size(r.structured_content or {}),
            "whole": size(r),
            "is_error": r.is_error,
        }
    return {
        "tiktoken": _ENC is not None,
        "toolset": size(listed),
        "toolsetBudget": TOOLS_LIST_BUDGET,
        "toolsetFull": {**size(full), "count": len(full.tools)},
        "count": len(tools),
        "per_tool": {n: size(t) for n, t in sorted(tools.items())},
        "pair": size(pair),
        "results": results,
    }
