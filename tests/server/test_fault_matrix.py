"""Every fault the sandbox injects × every tool: no crash, no duplicate approval, answers within budget."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.server.app import ALL_TOOLS, TOOLSETS, build_server
from tests.conftest import ARTIFACTS, Controls

pytestmark = pytest.mark.anyio
POLICY = RetryPolicy(request_timeout=0.5, connect_timeout=0.5, backoff_base=0.05, backoff_cap=0.2, budget=3.0)
FAULTS: dict[str, dict[str, Any]] = {
    "500": {"kind": "status", "status": 500},
    "502": {"kind": "status", "status": 502},
    "503": {"kind": "status", "status": 503},
    "504": {"kind": "status", "status": 504},
    "429-short": {"kind": "rate_limit", "retryAfter": 1},
    "429-long": {"kind": "rate_limit", "retryAfter": 3600},
    "delay": {"kind": "delay", "delaySeconds": 0.8},
    "malformed": {"kind": "malformed"},
    "drop": {"kind": "drop"},
    "drop-after": {"kind": "drop", "after": True},
    "500-after": {"kind": "status", "status": 500, "after": True},
}
TERMS = {"name": "Fault batch", "amount": 99, "dueDate": "2099-05-01"}
ACTIONABLE = (
    "Next:",
    "same terms is safe",
    "again is safe",
    "before calling",
    "Try again",
    "try again",
    "wait",
)
# hire POSTs that reach the fake API under each fault (transient, persistent), read from its own request log:
# retried are 429 within budget, 502/503/504, timeouts and lost connections, at most 1 + max_retries times.
RETRIED, NOT_RETRIED = (2, 1 + POLICY.max_retries), (1, 1)
HIRE_POSTS: dict[str, tuple[int, int]] = {
    "500": NOT_RETRIED,
    "502": RETRIED,
    "503": RETRIED,
    "504": RETRIED,
    "429-short": RETRIED,
    "429-long": NOT_RETRIED,
    "delay": RETRIED,
    "malformed": NOT_RETRIED,
    "drop": RETRIED,
    "drop-after": RETRIED,
    "500-after": NOT_RETRIED,
}


def arguments(tool: str, ids: dict[str, Any], approval_id: str) -> dict[str, Any]:
    return {
        "request_hire": {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS},
        "preview_hire": {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS},
        "check_approval": {"approvalId": approval_id},
        "wait_for_approval": {"approvalId": approval_id, "timeoutSeconds": 1},
        "list_proposals": {
            "jobId": ids["jobs"]["primary"] if isinstance(ids["jobs"], dict) else ids["jobs"][0]
        },
        "get_proposal": {"proposalId": ids["proposals"]["hireable"][0]},
        "get_contract": {"contractId": "contractx"},
        "create_milestone": {
            "contractId": ids["contracts"]["alreadyHired"],
            "milestone": {"description": "Fault batch", "amountUsd": 50},
        },
        "request_milestone_funding": {"milestoneId": "milestonex"},
        "request_milestone_release": {"milestoneId": "milestonex"},
        "end_contract": {"contractId": "contractx"},
    }.get(tool, {})


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    """One case's answers, written to test-artifacts/fault-matrix/<case>.json (cases may run in parallel)."""
    recorded: list[dict[str, Any]] = []
    yield recorded
    (ARTIFACTS / "fault-matrix").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "fault-matrix" / f"{request.node.callspec.id}.json").write_text(
        json.dumps(recorded, indent=1)
    )


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("count", [1, 10], ids=["transient", "persistent"])
async def test_fault_matrix(settings, controls: Controls, ids, fault, count, figures, tmp_path):
    ledger = str(tmp_path / "ledger.sqlite3")
    async with Client(
        build_server(settings, policy=POLICY, ledger_path=ledger, watch_interval=60, toolsets=TOOLSETS),
        mode="legacy",
    ) as c:
        seed = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][1], "milestone": TERMS}
        )
        approval_id = seed.structured_content["approval"]["id"]
        hired_ids: set[str] = set()
        for tool in ALL_TOOLS:
            controls.clear_faults()
            controls.fault(path="/api/public/v1/", count=count, **FAULTS[fault])
            controls.clear_requests()
            started = time.monotonic()
            r = await c.call_tool(tool, arguments(tool, ids, approval_id))
            elapsed = time.monotonic() - started
            posts = [e for e in controls.requests() if e["method"] == "POST" and e["path"].endswith("/hire")]
            text = "\n".join(getattr(b, "text", "") for b in r.content)
            figures.append(
                {
                    "fault": fault,
                    "count": count,
                    "tool": tool,
                    "error": r.is_error,
                    "seconds": round(elapsed, 2),
                }
            )
            assert elapsed < POLICY.budget + 3, (tool, fault, elapsed)
            assert text.strip() != f"Error executing tool {tool}" and "Internal error" not in text, (
                tool,
                text,
            )
            if r.is_error:
                assert any(a in text for a in ACTIONABLE), (tool, fault, text)
            if tool == "request_hire":
                expected = HIRE_POSTS[fault][0 if count == 1 else 1]
                assert len(posts) == expected, f"{fault} x{count}: {len(posts)} hire POSTs, want {expected}"
                assert r.is_error == (count > 1 or HIRE_POSTS[fault] == NOT_RETRIED), (fault, count, text)
                if not r.is_error:
                    hired_ids.add(r.structured_content["approval"]["id"])
            else:
                assert posts == [], f"{tool} sent a hire request"
        controls.clear_faults()
        again = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        hired_ids.add(again.structured_content["approval"]["id"])
    assert len(hired_ids) == 1, f"{fault}: a retried hire produced several approvals {hired_ids}"
