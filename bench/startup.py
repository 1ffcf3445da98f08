"""Benchmark 1: cold start (spawn -> first tools/list over stdio) and the biggest imports."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Any

from common import FLOOR, PY, ROOT, minimal_env, ours_args, stdio


async def spawn_to_tools_list(args: list[str]) -> float:
    """Seconds from spawning ``python *args`` to the first ``tools/list`` answer (legacy handshake)."""
    t0 = time.perf_counter()
    async with stdio(args) as client:
        await client.list_tools()
        return time.perf_counter() - t0


async def cold_start(runs: int) -> dict[str, Any]:
    """Median of ``runs`` cold starts of ours (no token) and the floor, interleaved to share any drift."""
    ours: list[float] = []
    floor: list[float] = []
    await spawn_to_tools_list([FLOOR])  # page cache warm-up, not counted
    for _ in range(runs):
        ours.append(await spawn_to_tools_list(ours_args()))
        floor.append(await spawn_to_tools_list([FLOOR]))
    bare = [_timed([PY, "-c", "pass"]) for _ in range(runs)]
    return {
        "ours": statistics.median(ours),
        "floor": statistics.median(floor),
        "ours_runs": ours,
        "floor_runs": floor,
        "python": statistics.median(bare),
    }


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=minimal_env())
    return time.perf_counter() - t0


def top_imports(module: str = "opentrain_mcp.server.app", n: int = 5) -> dict[str, Any]:
    """The ``n`` biggest third-party imports made by our own modules, from ``-X importtime`` (ms)."""
    err = subprocess.run(
        [PY, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT
    ).stderr
    rows: list[tuple[int, str, int, int]] = []  # (depth, name, self us, cumulative us)
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, self_us, cum_us, raw = [line[:12], *line[12:].split("|")]
        if not self_us.strip().isdigit():
            continue
        name = raw.rstrip()[1:]  # drop the single leading space; nesting is two spaces per level
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, name.strip(), int(self_us), int(cum_us)))
    # importtime prints children before their parent: a row adopts the deeper rows just before it.
    parent: dict[int, str] = {}
    pending: list[tuple[int, int]] = []  # (index, depth) waiting for a parent
    for i, (depth, name, _, _) in enumerate(rows):
        while pending and pending[-1][1] > depth:
            parent[pending.pop()[0]] = name
        pending.append((i, depth))
    ours = [r for r in rows if r[1].startswith("opentrain_mcp")]
    third = [
        (r[3], r[1], parent.get(i, "-"))
        for i, r in enumerate(rows)
        if not r[1].startswith("opentrain_mcp") and parent.get(i, "").startswith("opentrain_mcp")
    ]
    third.sort(reverse=True)
    inside = []
    if third:
        biggest = third[0][1]
        inside = sorted(
            ((r[3], r[1], biggest) for i, r in enumerate(rows) if parent.get(i) == biggest), reverse=True
        )
    return {
        "total_ms": max((r[3] for r in rows), default=0) / 1000,
        "ours_self_ms": sum(r[2] for r in ours) / 1000,
        "top": [{"module": m, "cumulative_ms": c / 1000, "imported_by": p} for c, m, p in third[:n]],
        "inside_biggest": [
            {"module": m, "cumulative_ms": c / 1000, "imported_by": p} for c, m, p in inside[:n]
        ],
    }
