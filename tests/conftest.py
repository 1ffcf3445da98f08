"""Shared fixtures: a real sandbox over loopback HTTP, its test controls, and MCP servers pointed at it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings
from opentrain_mcp.sandbox.runner import RunningSandbox, running_sandbox

USER_DIR_VARS = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
REAL_USER_DIRS = {name: os.environ.get(name) for name in USER_DIR_VARS}  # before isolated_user_dirs runs
REQUIRE_ALL = os.environ.get("OPENTRAIN_MCP_REQUIRE_ALL") == "1"
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SANDBOX_SEED = 7
TOKEN_SHAPE = re.compile(r"ot_(?:pat|clm|cat)_[A-Za-z0-9]{4,}")
FAST_POLICY = RetryPolicy(
    request_timeout=3.0, connect_timeout=1.0, backoff_base=0.05, backoff_cap=0.2, budget=6.0
)


def need(available: object, reason: str) -> None:
    """Skip when an external tool is missing, or fail when CI asked for every test to run."""
    if not available:
        if REQUIRE_ALL:
            pytest.fail(f"{reason} (OPENTRAIN_MCP_REQUIRE_ALL=1 turns this skip into a failure)")
        pytest.skip(reason)


def node_bin(name: str) -> str | None:
    path = ROOT / "tools" / "node" / "node_modules" / ".bin" / name
    return str(path) if path.exists() else shutil.which(name)


class Controls:
    """The sandbox's test-only control surface (``/__sandbox__``)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.http = httpx2.Client(base_url=sandbox.base_url + "/__sandbox__", timeout=10)

    def fixtures(self) -> dict[str, Any]:
        return self.http.get("/fixtures").raise_for_status().json()

    def fault(self, **spec: Any) -> None:
        self.http.post("/faults", json=spec).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/faults").raise_for_status()

    def account(self, **changes: Any) -> None:
        self.http.post("/account", json=changes).raise_for_status()

    def advance(self, seconds: float) -> None:
        self.http.post("/clock", json={"advanceSeconds": seconds}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return self.http.get("/requests").raise_for_status().json()

    def clear_requests(self) -> None:
        self.http.delete("/requests").raise_for_status()

    def confirm(self, approval_id: str) -> dict[str, Any]:
        return self.http.post(f"/approvals/{approval_id}/confirm").raise_for_status().json()

    def decline(self, approval_id: str) -> dict[str, Any]:
        return self.http.post(f"/approvals/{approval_id}/decline").raise_for_status().json()

    def reset(self) -> None:
        self.http.post("/reset").raise_for_status()


@pytest.fixture(scope="session", autouse=True)
def isolated_user_dirs() -> Iterator[Path]:
    """Point HOME and the XDG dirs at a temporary tree for the whole run, subprocesses included.

    Nothing the suite runs (the ledger's default location, the OpenTrain CLI token file) can then read or
    write the real user's data or configuration.
    """
    saved = {name: os.environ.get(name) for name in USER_DIR_VARS}
    with tempfile.TemporaryDirectory(prefix="opentrain-tests-home-") as root:
        home = Path(root)
        os.environ["HOME"] = str(home)
        for name, sub in (
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_STATE_HOME", ".local/state"),
            ("XDG_CACHE_HOME", ".cache"),
        ):
            (home / sub).mkdir(parents=True)
            os.environ[name] = str(home / sub)
        try:
            yield home
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): two test processes per core.

    Most of the suite's time is spent waiting (server subprocesses importing the SDK, sockets, browsers), so
    more processes than cores keep the cores busy. ``-n 0`` runs in one process; ``-n 3`` picks a number.
    """
    return 2 * (os.cpu_count() or 1)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Parallel workers learn when the whole run started (``artifacts_hold_no_token``)."""
    node.workerinput["run_started"] = time.time()


def token_leaks(root: Path, since: float = 0.0) -> list[Path]:
    """The recorded text files (logs, JSON, text) under ``root``, written at ``since`` (epoch seconds) or later,
    that hold something shaped like an API token."""
    recorded = [
        path
        for path in (sorted(root.rglob("*")) if root.exists() else ())
        if path.is_file() and path.suffix in (".log", ".json", ".txt") and path.stat().st_mtime >= since
    ]
    return [path for path in recorded if TOKEN_SHAPE.search(path.read_text(errors="replace"))]


@pytest.fixture(scope="session", autouse=True)
def artifacts_hold_no_token(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test process's last test, nothing this run wrote to test-artifacts/ holds an API token.

    Every test process checks as it ends, so with parallel workers the last one to finish checks what all of
    them recorded (a test cannot: it has no place in the order after every other test).
    """
    run_started = getattr(request.config, "workerinput", {}).get("run_started", time.time())
    yield
    leaks = token_leaks(ARTIFACTS, since=run_started - 1)
    assert not leaks, f"an API token was recorded in {[str(p) for p in leaks]}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=SANDBOX_SEED) as running:
        yield running


@pytest.fixture
def controls(sandbox: RunningSandbox) -> Iterator[Controls]:
    """Controls on a freshly reset sandbox, so every test starts from the seed state."""
    c = Controls(sandbox)
    c.reset()
    c.clear_faults()
    c.clear_requests()
    yield c
    c.clear_faults()
    c.http.close()


@pytest.fixture
def ids(controls: Controls) -> dict[str, Any]:
    return controls.fixtures()


@pytest.fixture
def settings(sandbox: RunningSandbox) -> Settings:
    return Settings(token=sandbox.token, token_var="OT_API_TOKEN", base_url=sandbox.base_url, sandbox=True)
