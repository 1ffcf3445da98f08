"""The server as desktop clients run it: a stdio subprocess with a bare environment."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from mcp import Client, StdioServerParameters

from opentrain_mcp.sandbox.state import SandboxState
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio
TERMS = {"name": "Batch 1", "amount": 120, "dueDate": "2099-01-15"}


def params(*args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "opentrain_mcp", *args], env=clean_env(**env)
    )


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_env_configured_server_hires_through_stdio(sandbox, controls, ids, mode):
    server = params(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    async with Client(server, mode=mode) as c:
        names = {t.name for t in (await c.list_tools()).tools}
        assert {"request_hire", "check_approval"} <= names
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        assert not r.is_error, r.content
        approval = r.structured_content["approval"]
        assert approval["approvalUrl"].startswith(sandbox.base_url)
        assert r.structured_content["sandbox"] is True, "a loopback sandbox says so in every result"
        controls.confirm(approval["id"])
        r = await c.call_tool("check_approval", {"approvalId": approval["id"]})
        assert r.structured_content["approval"]["status"] == "confirmed"


async def test_sandbox_flag_needs_no_token():
    expected = SandboxState(seed=0).fixtures()["proposals"]["hireable"][0]
    async with Client(params("--sandbox"), mode="legacy") as c:
        r = await c.call_tool("request_hire", {"proposalId": expected, "milestone": TERMS})
        assert not r.is_error, r.content
        assert r.structured_content["sandbox"] is True
        assert "Sandbox" in r.content[0].text
        assert r.structured_content["approval"]["approvalUrl"].startswith("http://127.0.0.1:")


async def test_without_token_tools_list_and_explain():
    async with Client(params(), mode="legacy") as c:
        assert len((await c.list_tools()).tools) >= 2
        r = await c.call_tool("check_approval", {"approvalId": "abc"})
    assert r.is_error and "OT_API_TOKEN" in r.content[0].text


def _rpc(id_: int | None, method: str, params: dict | None = None) -> str:
    msg: dict = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        msg["id"] = id_
    if params is not None:
        msg["params"] = params
    return json.dumps(msg)


def test_stdout_is_only_json_rpc_even_under_errors(sandbox, ids):
    """Every stdout line is a JSON-RPC message, through successes, tool errors, faults and bad input."""
    lines = [
        _rpc(
            1,
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "purity-test", "version": "1"},
            },
        ),
        _rpc(None, "notifications/initialized"),
        _rpc(2, "tools/list", {}),
        _rpc(
            3, "tools/call", {"name": "request_hire", "arguments": {"proposalId": "../x", "milestone": TERMS}}
        ),
        _rpc(4, "tools/call", {"name": "check_approval", "arguments": {"approvalId": "missing"}}),
        _rpc(
            5,
            "tools/call",
            {
                "name": "request_hire",
                "arguments": {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS},
            },
        ),
        _rpc(6, "tools/call", {"name": "no_such_tool", "arguments": {}}),
        _rpc(7, "no/such/method", {}),
        "this is not json",
    ]
    env = clean_env(
        OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url, OPENTRAIN_MCP_LOG_LEVEL="DEBUG"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "opentrain_mcp", "--ledger", "none"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    out: list[str] = []
    answered: set[int] = set()
    deadline = time.monotonic() + 60
    while not {1, 2, 3, 4, 5, 6, 7} <= answered and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip():
            out.append(line)
            msg = json.loads(line)
            assert msg.get("jsonrpc") == "2.0", line
            if isinstance(msg.get("id"), int):
                answered.add(msg["id"])
    proc.stdin.close()
    proc.wait(timeout=30)
    rest, stderr = proc.stdout.read(), proc.stderr.read() if proc.stderr else ""
    for line in rest.splitlines():
        if line.strip():
            assert json.loads(line).get("jsonrpc") == "2.0", line
    assert {1, 2, 3, 4, 5, 6, 7} <= answered, stderr
    assert sandbox.token not in "".join(out) + rest + stderr


async def test_toolsets_flag_and_env_choose_tool_families():
    async with Client(params("--sandbox", "--toolsets", "contracts"), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert "end_contract" in names and "request_hire" not in names
    async with Client(params("--sandbox", OPENTRAIN_MCP_TOOLSETS="hiring", OPENTRAIN_MCP_READ_ONLY="1")) as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert "check_approval" in names and not names & {"request_hire", "end_contract", "create_milestone"}
    bad = subprocess.run(
        [sys.executable, "-m", "opentrain_mcp", "--toolsets", "payments"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert bad.returncode != 0 and "unknown toolset" in bad.stderr
