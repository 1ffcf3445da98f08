"""Shared by every framework driver (standard library only: each driver runs in its framework's own venv).

A driver connects the framework's MCP client layer to ``opentrain-mcp --sandbox`` over stdio, converts every
tool with the framework's own converter, runs the hire flow (list_jobs → list_proposals → request_hire →
check_approval) through the framework's tool objects, and checks that a tool error reaches the framework as
an error. No model and no network. It prints one JSON report on stdout and exits 0 only if every check passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

SERVER = os.environ.get("OPENTRAIN_MCP_SERVER", "opentrain-mcp")
SERVER_ARGS = ["--sandbox", "--ledger", "none"]
EXPECTED_TOOLS = {
    "request_hire",
    "check_approval",
    "wait_for_approval",
    "list_hire_requests",
    "list_jobs",
    "list_proposals",
    "get_proposal",
    "list_contracts",
    "get_contract",
    "check_hiring_readiness",
    "preview_hire",
    "get_spend_status",
}
TERMS = {"name": "Framework matrix batch", "amount": 120, "dueDate": "2099-06-30"}
MISSING_APPROVAL = "doesnotexist"

Call = Callable[[str, dict[str, Any]], Awaitable["str | dict[str, Any]"]]


def server_env() -> dict[str, str]:
    """What a stdio host passes: a few variables, nothing of the developer's."""
    keep = {k: os.environ[k] for k in ("HOME", "PATH", "LANG") if k in os.environ}
    return {**keep, "OPENTRAIN_MCP_LOG_LEVEL": "ERROR"}


class Report:
    """Named checks and the versions they ran with; printed as one JSON object."""

    def __init__(self, framework: str, packages: list[str]) -> None:
        self.framework = framework
        self.versions = {p: version(p) for p in packages}
        self.checks: list[dict[str, Any]] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail[:500]})
        return bool(ok)

    def run(self, main: Callable[[Report], Awaitable[None]]) -> None:
        try:
            asyncio.run(main(self))
        except Exception as exc:
            tb = traceback.format_exc(limit=6)
            self.check("driver ran to the end", False, f"{type(exc).__name__}: {exc}\n{tb}")
        ok = bool(self.checks) and all(c["ok"] for c in self.checks)
        report = {"framework": self.framework, "versions": self.versions, "ok": ok, "checks": self.checks}
        print(json.dumps(report, ensure_ascii=False))
        sys.exit(0 if ok else 1)


def check_listed(report: Report, names: set[str]) -> None:
    report.check(f"lists all {len(EXPECTED_TOOLS)} tools", names == EXPECTED_TOOLS, f"got {sorted(names)}")


def check_converted(report: Report, converted: dict[str, bool], how: str) -> None:
    """``converted`` maps tool name → whether the framework's converter accepted it (strictly, if it can)."""
    bad = sorted(name for name, ok in converted.items() if not ok)
    report.check(
        f"every tool converts ({how})",
        set(converted) == EXPECTED_TOOLS and not bad,
        f"not converted: {bad}" if bad else f"{len(converted)} tools",
    )


def first_id(seen: str | dict[str, Any], key: str) -> str:
    """The first item's id, from structured content (``{key: [{id}]}``) or our text table's first data row."""
    if isinstance(seen, dict):
        return str(seen[key][0]["id"])
    rows = [line for line in seen.splitlines()[1:] if " | " in line]
    if not rows:
        raise AssertionError(f"no rows in {seen!r}")
    return rows[0].split(" | ")[0].strip()


def approval_of(seen: str | dict[str, Any]) -> tuple[str, str]:
    """(approval id, status) from structured content, check_approval's summary or request_hire's summary."""
    if isinstance(seen, dict):
        return seen["approval"]["id"], seen["approval"]["status"]
    checked = re.search(r"Approval ([A-Za-z0-9_.-]+): (\w+)\.", seen)
    if checked:
        return checked.group(1), checked.group(2)
    requested = re.search(r"NOT hired.*approvalId ([A-Za-z0-9_.-]+)\)", seen, re.S)
    if requested:
        return requested.group(1), "pending"
    raise AssertionError(f"no approval in {seen!r}")


def is_our_error(text: str) -> bool:
    """The actionable error text for an unknown approval id: HTTP status and request id."""
    return "404" in text and "requestId" in text


async def hire_flow(report: Report, call: Call) -> None:
    """list_jobs → list_proposals → request_hire → check_approval, reading what the framework gives the model
    (our text summary, or the structured content for frameworks that forward that instead)."""
    jobs = await call("list_jobs", {})
    job = first_id(jobs, "jobs")
    report.check("list_jobs", bool(job), str(jobs)[:200])
    proposals = await call("list_proposals", {"jobId": job, "status": "UNREVIEWED"})
    proposal = first_id(proposals, "proposals")
    report.check("list_proposals", bool(proposal), str(proposals)[:200])
    hired = await call("request_hire", {"proposalId": proposal, "milestone": TERMS})
    approval, status = approval_of(hired)
    report.check(
        "request_hire", status == "pending" and f"/approvals/{approval}" in str(hired), str(hired)[:300]
    )
    checked = await call("check_approval", {"approvalId": approval})
    report.check("check_approval", approval_of(checked) == (approval, "pending"), str(checked)[:300])
