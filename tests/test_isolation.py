"""The suite never touches the real user's data or configuration (issue 10, item 5)."""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from opentrain_mcp.ledger import Ledger, default_ledger_path
from tests.conftest import REAL_USER_DIRS
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio


def _real_places() -> list[Path]:
    """Where the real user's ledger and OpenTrain configuration live, whatever HOME says now."""
    homes = {Path(pwd.getpwuid(os.getuid()).pw_dir)}
    if REAL_USER_DIRS["HOME"]:
        homes.add(Path(REAL_USER_DIRS["HOME"]))
    data = {h / ".local" / "share" for h in homes}
    config = {h / ".config" for h in homes}
    if REAL_USER_DIRS["XDG_DATA_HOME"]:
        data.add(Path(REAL_USER_DIRS["XDG_DATA_HOME"]))
    if REAL_USER_DIRS["XDG_CONFIG_HOME"]:
        config.add(Path(REAL_USER_DIRS["XDG_CONFIG_HOME"]))
    return [d / "opentrain-mcp" for d in data] + [c / "opentrain" for c in config]


def _snapshot(places: list[Path]) -> dict[str, tuple[int, int] | None]:
    shot: dict[str, tuple[int, int] | None] = {}
    for place in places:
        files = [place, *place.rglob("*")] if place.exists() else [place]
        for f in files:
            stat = f.stat() if f.exists() else None
            shot[str(f)] = (stat.st_mtime_ns, stat.st_size) if stat else None
    return shot


REAL_BEFORE = _snapshot(_real_places())  # taken at collection, before any test ran


def test_user_dirs_point_into_a_temporary_tree(isolated_user_dirs):
    home = isolated_user_dirs
    assert Path(os.environ["HOME"]) == home
    assert Path(os.environ["XDG_DATA_HOME"]).is_relative_to(home)
    assert Path(os.environ["XDG_CONFIG_HOME"]).is_relative_to(home)
    if sys.platform not in ("win32", "darwin"):
        assert default_ledger_path().is_relative_to(home)
    for real in _real_places():
        assert not real.is_relative_to(home)


async def test_a_hire_through_stdio_writes_only_the_temporary_ledger(isolated_user_dirs, sandbox, ids):
    ledger_path = default_ledger_path()
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "opentrain_mcp"],
        env=clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url),
    )
    terms = {"name": "Isolation check", "amount": 40, "dueDate": "2099-01-01"}
    async with Client(server, mode="legacy") as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms}
        )
    assert not r.is_error, r.content
    approval_id = r.structured_content["approval"]["id"]
    ledger = Ledger(ledger_path)
    try:
        assert ledger.get(approval_id, api_origin=sandbox.base_url) is not None, "the server wrote elsewhere"
    finally:
        ledger.close()
    assert _snapshot(_real_places()) == REAL_BEFORE
