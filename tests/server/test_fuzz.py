"""Property-based fuzzing of every tool's arguments: no crash, nothing invalid or path-injected upstream."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client

from opentrain_mcp.sandbox.state import SandboxState
from opentrain_mcp.server.app import ALL_TOOLS, TOOLSETS, build_server
from tests.conftest import ARTIFACTS, FAST_POLICY, SANDBOX_SEED, Controls

EXAMPLES = int(os.environ.get("OPENTRAIN_MCP_FUZZ_EXAMPLES", "2000"))
SAFE_PATH = re.compile(r"^/api/public/v1(/[A-Za-z0-9][A-Za-z0-9_.-]*)+$")
SEEDED = SandboxState(seed=SANDBOX_SEED).fixtures()  # the ids the session's sandbox really has
REAL_IDS = [
    *SEEDED["proposals"]["hireable"],
    *SEEDED["jobs"].values(),
    *SEEDED["contracts"].values(),
    *SEEDED["approvals"].values(),
]

ids = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["..", "../admin", "a/b", "a?b=1", "a#b", "%2e%2e", "a b", "", " ", "x" * 129, "ok1", "\u0000"]
    ),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    st.sampled_from(REAL_IDS),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
amounts = st.one_of(
    scalars,
    st.floats(min_value=-1e6, max_value=1e6),
    st.decimals(places=3, allow_nan=False, allow_infinity=False).map(float),
)
dates = st.one_of(scalars, st.dates().map(str), st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True))
valid_milestones = st.fixed_dictionaries(
    {
        "name": st.text("abcdefgh XYZ", min_size=1, max_size=20).filter(str.strip),
        "amount": st.integers(1, 5000),
        "dueDate": st.dates(dt.date(2030, 1, 1), dt.date(2031, 12, 31)).map(str),
    }
)
milestones = st.one_of(
    scalars,
    valid_milestones,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(scalars, st.text(max_size=60)),
            "description": st.one_of(scalars, st.text(max_size=60)),
            "amount": amounts,
            "dueDate": dates,
            "confirmed": st.booleans(),
        },
    ),
)
new_milestones = st.one_of(
    scalars,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(scalars, st.text(max_size=60)),
            "description": st.one_of(scalars, st.text(max_size=60)),
            "amountUsd": amounts,
            "volume": amounts,
            "dueDate": dates,
        },
    ),
)
ARGS: dict[str, Any] = {
    "request_hire": st.one_of(
        st.fixed_dictionaries(
            {"proposalId": ids, "milestone": milestones}, optional={"confirmNotFitOverride": scalars}
        ),
        st.fixed_dictionaries(
            {"proposalId": st.sampled_from(SEEDED["proposals"]["hireable"]), "milestone": valid_milestones}
        ),
    ),
    "check_approval": st.fixed_dictionaries({"approvalId": ids}),
    "wait_for_approval": st.fixed_dictionaries(
        {"approvalId": ids},
        optional={"timeoutSeconds": st.one_of(st.just(1), st.integers(-5, 0), st.integers(51))},
    ),
    "list_hire_requests": st.fixed_dictionaries({}, optional={"status": scalars}),
    "list_jobs": st.fixed_dictionaries({}, optional={"extra": scalars}),
    "list_proposals": st.fixed_dictionaries(
        {"jobId": ids}, optional={"status": scalars, "cursor": scalars, "limit": scalars}
    ),
    "get_proposal": st.fixed_dictionaries({"proposalId": ids}),
    "list_contracts": st.fixed_dictionaries({}, optional={"jobId": ids, "status": scalars}),
    "get_contract": st.fixed_dictionaries({"contractId": ids}),
    "check_hiring_readiness": st.fixed_dictionaries({}, optional={"x": scalars}),
    "preview_hire": st.fixed_dictionaries(
        {"proposalId": ids, "milestone": milestones}, optional={"confirmNotFitOverride": scalars}
    ),
    "get_spend_status": st.fixed_dictionaries({}, optional={"x": scalars}),
    "create_milestone": st.fixed_dictionaries({"contractId": ids, "milestone": new_milestones}),
    "request_milestone_funding": st.fixed_dictionaries({"milestoneId": ids}),
    "request_milestone_release": st.fixed_dictionaries({"milestoneId": ids}),
    "end_contract": st.fixed_dictionaries({"contractId": ids}),
}


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal("asyncio") as p:
        yield p


@pytest.fixture(scope="module")
def fuzz_client(portal, sandbox, tmp_path_factory) -> Iterator[Client]:
    from opentrain_mcp.config import Settings

    settings_ = Settings(token=sandbox.token, base_url=sandbox.base_url, sandbox=True)
    ledger = str(tmp_path_factory.mktemp("fuzz") / "ledger.sqlite3")
    server = build_server(
        settings_, policy=FAST_POLICY, ledger_path=ledger, watch_interval=5, toolsets=TOOLSETS
    )
    with portal.wrap_async_context_manager(Client(server, mode="legacy")) as client:
        yield client


@pytest.mark.slow
@pytest.mark.parametrize("tool", ALL_TOOLS)
def test_fuzz_tool_arguments(tool, portal, fuzz_client, controls: Controls):
    stats = {"examples": 0, "errors": 0, "ok": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(ARGS[tool])
    def run(args: dict[str, Any]) -> None:
        result = portal.call(fuzz_client.call_tool, tool, args)
        stats["examples"] += 1
        stats["errors" if result.is_error else "ok"] += 1
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        assert text.strip() != f"Error executing tool {tool}", args
        assert "Internal error" not in text, (args, text)
        sent = controls.requests()  # every example's requests, before the log's 1,000-entry window drops any
        controls.clear_requests()
        stats["requests"] = stats.get("requests", 0) + len(sent)
        bad = [r["path"] for r in sent if not SAFE_PATH.match(r["path"])]
        assert bad == [], f"unsafe paths reached the API for {args}: {bad}"
        assert controls.sandbox.token not in repr(sent)

    try:
        run()
    finally:  # one file per tool: the tools may run in different test processes
        (ARTIFACTS / "fuzz").mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "fuzz" / f"{tool}.json").write_text(json.dumps(stats, indent=1))
    assert stats["examples"] >= EXAMPLES
    if tool in (
        "request_hire",
        "list_jobs",
        "get_proposal",
        "check_approval",
    ):  # seeded ids make these succeed
        assert stats["ok"] > 0, f"no {tool} call succeeded, so the success path went unfuzzed"
        assert stats["requests"] > 0, "the path check saw requests"
