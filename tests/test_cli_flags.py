"""The command line's tool and ledger flags, as a desktop client launches the server (stdio subprocess)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio
TERMS = {"name": "Flag batch", "amount": 50, "dueDate": "2099-03-01"}


def launch(sandbox: Any, *args: str, **env: str) -> Client:
    configured = {"OT_API_TOKEN": sandbox.token, "OPENTRAIN_API_BASE_URL": sandbox.base_url, **env}
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "opentrain_mcp", *args], env=clean_env(**configured)
    )
    return Client(server, mode="legacy")


async def tool_names(c: Client) -> set[str]:
    return {t.name for t in (await c.list_tools()).tools}


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--read-only",), {}), ((), {"OPENTRAIN_MCP_READ_ONLY": "1"})],
    ids=["flag", "env"],
)
async def test_read_only_registers_no_write_tool(sandbox, controls, ids, tmp_path, args, env):
    async with launch(sandbox, *args, "--ledger", "none", **env) as c:
        names = await tool_names(c)
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    assert "request_hire" not in names and {"check_approval", "list_hire_requests"} <= names
    assert r.is_error
    assert [e for e in controls.requests() if e["method"] == "POST"] == [], "nothing was sent upstream"


async def test_tools_subset_and_read_only_together(sandbox, tmp_path):
    async with launch(sandbox, "--tools", " check_approval,list_jobs ,") as c:
        assert await tool_names(c) == {"check_approval", "list_jobs"}
    async with launch(sandbox, "--read-only", OPENTRAIN_MCP_TOOLS="request_hire,check_approval") as c:
        assert await tool_names(c) == {"check_approval"}, "read-only removes a write tool even when listed"


def test_unknown_tool_name_refuses_to_start(sandbox):
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    proc = subprocess.run(
        [sys.executable, "-m", "opentrain_mcp", "--tools", "check_approval,hire_everyone"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "hire_everyone" in proc.stderr and "request_hire" in proc.stderr, "names the choices"


def ledger_rows(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT approvalId, proposalId FROM hires").fetchall()


async def test_ledger_flag_default_and_none(sandbox, ids, tmp_path):
    proposal = ids["proposals"]["hireable"][0]
    chosen = tmp_path / "chosen" / "hires.sqlite3"
    data_home = tmp_path / "data"
    async with launch(sandbox, "--ledger", str(chosen), XDG_DATA_HOME=str(data_home)) as c:
        r = await c.call_tool("request_hire", {"proposalId": proposal, "milestone": TERMS})
    approval_id = r.structured_content["approval"]["id"]
    assert ledger_rows(chosen) == [(approval_id, proposal)]
    assert not data_home.exists(), "--ledger PATH writes nowhere else"

    async with launch(sandbox, XDG_DATA_HOME=str(data_home)) as c:
        await c.call_tool("request_hire", {"proposalId": proposal, "milestone": TERMS})
    assert ledger_rows(data_home / "opentrain-mcp" / "ledger.sqlite3") == [(approval_id, proposal)]

    async with launch(sandbox, OPENTRAIN_MCP_LEDGER="none", XDG_DATA_HOME=str(tmp_path / "off")) as c:
        r = await c.call_tool("list_hire_requests", {})
    assert not r.is_error, r.content
    assert r.structured_content == {"hireRequests": []}
    assert "turned off" in r.content[0].text and not (tmp_path / "off").exists()


async def test_sandbox_mode_keeps_its_hires_out_of_the_real_ledger(tmp_path):
    data_home = tmp_path / "data"
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "opentrain_mcp", "--sandbox"],
        env=clean_env(XDG_DATA_HOME=str(data_home)),
    )
    async with Client(server, mode="legacy") as c, Client(server, mode="legacy") as beside:
        assert (await beside.call_tool("list_jobs", {})).structured_content["jobs"], (
            "each picks its own free port"
        )
        fixtures_proposal = (await c.call_tool("list_jobs", {})).structured_content["jobs"][0]["id"]
        proposals = (await c.call_tool("list_proposals", {"jobId": fixtures_proposal})).structured_content
        hireable = next(p["id"] for p in proposals["proposals"] if p["status"] not in ("HIRED", "DECLINED"))
        r = await c.call_tool("request_hire", {"proposalId": hireable, "milestone": TERMS})
        listed = (await c.call_tool("list_hire_requests", {})).structured_content
    assert not r.is_error, r.content
    assert [x["approvalId"] for x in listed["hireRequests"]] == [r.structured_content["approval"]["id"]]
    assert not data_home.exists(), "sandbox hires never reach the user's real ledger"


@pytest.mark.parametrize("command", ["sandbox", "demo", "check"])
def test_subcommands_take_their_own_options(command):
    proc = subprocess.run(
        [sys.executable, "-m", "opentrain_mcp", command, "--bogus"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"usage: opentrain-mcp {command}"), proc.stderr[:200]
    assert proc.stderr.endswith("error: unrecognized argument '--bogus'\n"), proc.stderr[-200:]


def test_a_bare_command_line_gets_the_documented_defaults(monkeypatch):
    """stdio, and for --transport http the loopback address and port 8000 that the README and --help state."""
    from opentrain_mcp.cli import _parser

    for var in (
        "OPENTRAIN_MCP_LOG_LEVEL",
        "OPENTRAIN_MCP_READ_ONLY",
        "OPENTRAIN_MCP_TOOLS",
        "OPENTRAIN_MCP_LEDGER",
    ):
        monkeypatch.delenv(var, raising=False)
    args = _parser().parse_args([])
    assert (args.transport, args.host, args.port, args.log_level) == ("stdio", "127.0.0.1", 8000, "WARNING")
    assert (args.read_only, args.tools, args.ledger, args.stateless) == (False, None, None, False)
    usage = _parser().format_help()
    assert "HTTP port (default 8000)" in usage
    for flag in ("--max-hire-usd USD", "--max-daily-usd USD", "--max-pending N", "--allowed-job-ids ID,ID"):
        assert flag in usage, f"--help shows {flag}"
