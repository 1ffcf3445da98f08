"""Configuration a user sets that must never fail silently: boolean switches and the token file (issue 10)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.conftest import SERVER_CMD, clean_env

pytestmark = pytest.mark.anyio


def stdio(*args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "opentrain_mcp", *args], env=clean_env(**env)
    )


@pytest.mark.parametrize("word", ["true", "YES", "On", "1"])
async def test_read_only_accepts_every_true_word(word):
    async with Client(stdio(OPENTRAIN_MCP_READ_ONLY=word, OPENTRAIN_MCP_SANDBOX=word), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        r = await c.call_tool("check_hiring_readiness", {})
    assert "request_hire" not in names and "check_approval" in names
    token = r.structured_content["checks"][0]
    assert token["name"] == "token" and token["status"] == "ready", "OPENTRAIN_MCP_SANDBOX was ignored"


@pytest.mark.parametrize("word", ["false", "No", "OFF", "0", ""])
async def test_false_words_leave_switches_off(word):
    async with Client(stdio(OPENTRAIN_MCP_READ_ONLY=word, OPENTRAIN_MCP_SANDBOX=word), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        r = await c.call_tool("check_hiring_readiness", {})
    assert "request_hire" in names
    assert r.structured_content["checks"] == [
        {"name": "token", "status": "not_ready", "detail": r.structured_content["checks"][0]["detail"]}
    ]
    assert "OT_API_TOKEN" in r.structured_content["checks"][0]["detail"]


@pytest.mark.parametrize("name", ["OPENTRAIN_MCP_READ_ONLY", "OPENTRAIN_MCP_SANDBOX"])
@pytest.mark.parametrize("word", ["maybe", "2", "enabled"])
def test_unclear_boolean_refuses_to_start_naming_the_variable(name, word):
    proc = subprocess.run(
        SERVER_CMD, env=clean_env(**{name: word}), capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert name in proc.stderr and "1/true/yes/on" in proc.stderr
    assert proc.stdout == ""


async def test_ledger_none_lists_nothing_without_an_error():
    async with Client(stdio("--sandbox", "--ledger", "none"), mode="legacy") as c:
        r = await c.call_tool("list_hire_requests", {})
    assert not r.is_error, r.content
    assert r.structured_content == {"hireRequests": []}


@contextmanager
def standalone_sandbox() -> Iterator[tuple[str, dict[str, str]]]:
    """``opentrain-mcp sandbox`` in its own process: its base URL and the environment pointing a server at it."""
    sandbox = subprocess.Popen(
        [*SERVER_CMD, "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True, env=clean_env()
    )
    try:
        assert sandbox.stdout
        printed: dict[str, str] = {}  # with port 0 the sandbox prints the port it bound
        for line in sandbox.stdout:
            name, _, value = line.partition(":")
            printed[name.strip()] = value.strip()
            if {"Token", "Approvals"} <= printed.keys():
                break
        token, base_url = printed["Token"], printed["Approvals"].rstrip("/")
        yield base_url, {"OT_API_TOKEN": token, "OPENTRAIN_API_BASE_URL": base_url}
    finally:
        sandbox.terminate()
        sandbox.wait(10)


async def test_a_standalone_sandbox_is_reported_as_sandbox():
    with standalone_sandbox() as (_, env):
        async with Client(stdio(**env), mode="legacy") as c:
            jobs = await c.call_tool("list_jobs", {})
            proposal = await c.call_tool(
                "list_proposals", {"jobId": jobs.structured_content["jobs"][0]["id"]}
            )
            pick = proposal.structured_content["proposals"][0]["id"]
            terms = {"name": "Standalone", "amount": 10, "dueDate": "2099-01-01"}
            r = await c.call_tool("request_hire", {"proposalId": pick, "milestone": terms})
    assert r.structured_content["sandbox"] is True, r.content
    assert "Sandbox" in r.content[0].text


async def test_a_standalone_sandbox_is_reported_by_a_first_co_signed_call():
    """A fresh server whose very first API call is a co-signed request still says it talked to a sandbox."""
    with standalone_sandbox() as (base_url, env):
        fixtures = httpx2.get(base_url + "/__sandbox__/fixtures", timeout=10).json()
        contract_id = fixtures["contracts"]["alreadyHired"]
        contract = httpx2.get(
            f"{base_url}/api/public/v1/contracts/{contract_id}",
            headers={"Authorization": f"Bearer {env['OT_API_TOKEN']}"},
            timeout=10,
        ).json()["contract"]
        funded = next(m["id"] for m in contract["milestones"] if m["status"] == "ACTIVE_FUNDED")
        async with Client(stdio("--toolsets", "hiring,contracts", **env), mode="legacy") as c:
            r = await c.call_tool("request_milestone_release", {"milestoneId": funded})
    assert not r.is_error, r.content
    assert r.structured_content["sandbox"] is True, r.content


def _cli_file(root, token: str, base_url: str, mode: int = 0o600):
    path = root / "opentrain" / "cli.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"apiToken": token, "baseUrl": base_url, "claimToken": "ot_clm_x"}))
    path.chmod(mode)
    return path


async def test_token_file_of_the_opentrain_cli_is_read(sandbox, tmp_path):
    path = _cli_file(tmp_path, sandbox.token, sandbox.base_url)
    async with Client(stdio(XDG_CONFIG_HOME=str(tmp_path)), mode="legacy") as c:
        r = await c.call_tool("check_hiring_readiness", {})
    assert r.structured_content["checks"][0] == {
        "name": "token",
        "status": "ready",
        "detail": f"Token accepted (from {path}).",
    }


async def test_environment_variables_win_over_the_token_file(sandbox, tmp_path):
    _cli_file(tmp_path, "ot_pat_fromfile_0000", "http://127.0.0.1:9")
    env = {
        "XDG_CONFIG_HOME": str(tmp_path),
        "OT_API_TOKEN": sandbox.token,
        "OPENTRAIN_API_BASE_URL": sandbox.base_url,
    }
    async with Client(stdio(**env), mode="legacy") as c:
        r = await c.call_tool("check_hiring_readiness", {})
    assert r.structured_content["checks"][0]["status"] == "ready"


async def test_a_token_file_others_can_read_is_refused(sandbox, tmp_path):
    path = _cli_file(tmp_path, sandbox.token, sandbox.base_url, mode=0o644)
    async with Client(stdio(XDG_CONFIG_HOME=str(tmp_path)), mode="legacy") as c:
        r = await c.call_tool("list_jobs", {})
    text = r.content[0].text
    assert r.is_error and f"chmod 600 {path}" in text and sandbox.token not in text
