"""The MCP Inspector CLI 2.12.0 (the era Claude Desktop speaks, 2025-11-25) over stdio and HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need, node_bin
from tests.e2e.conftest import clean_env, http_server

SCRIPT = str(Path(sys.executable).with_name("opentrain-mcp"))
TERMS = {"name": "Inspector batch", "amount": 75, "dueDate": "2099-03-01"}
# The Inspector's 15 s default also bounds a stdio server's start, which a busy machine can exceed.
CONNECT_TIMEOUT = ["--connect-timeout", "60000"]


@pytest.fixture(scope="module")
def inspector() -> str:
    path = node_bin("inspector")
    need(path, "MCP Inspector CLI not installed (run scripts/install-test-tools.sh)")
    need(Path(SCRIPT).exists(), f"console script {SCRIPT} not installed")
    return str(path)


def run(inspector: str, target: list[str], *args: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [inspector, "--cli", *CONNECT_TIMEOUT, *target, *args, "--format", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout.strip()
    return proc.returncode, (json.loads(out) if out else {"stderr": proc.stderr})


def stdio_target(sandbox) -> list[str]:
    return ["-e", f"OT_API_TOKEN={sandbox.token}", "-e", f"OPENTRAIN_API_BASE_URL={sandbox.base_url}", SCRIPT]


def check_flow(inspector: str, target: list[str], proposal: str) -> None:
    rc, listed = run(inspector, target, "--method", "tools/list")
    assert rc == 0, listed
    tools = listed.get("result", listed)["tools"]
    assert {"request_hire", "check_approval"} <= {t["name"] for t in tools}

    rc, hired = run(
        inspector,
        target,
        "--method",
        "tools/call",
        "--tool-name",
        "request_hire",
        "--tool-args-json",
        json.dumps({"proposalId": proposal, "milestone": TERMS}),
    )
    assert rc == 0, hired
    result = hired.get("result", hired)
    assert result["isError"] is False
    approval = result["structuredContent"]["approval"]
    assert approval["status"] == "pending" and "/approvals/" in approval["approvalUrl"]

    rc, checked = run(
        inspector,
        target,
        "--method",
        "tools/call",
        "--tool-name",
        "check_approval",
        "--tool-arg",
        f"approvalId={approval['id']}",
    )
    assert rc == 0 and checked.get("result", checked)["structuredContent"]["approval"]["id"] == approval["id"]

    rc, failed = run(
        inspector,
        target,
        "--method",
        "tools/call",
        "--tool-name",
        "check_approval",
        "--tool-arg",
        "approvalId=doesnotexist",
    )
    assert rc == 5, failed
    text = failed.get("result", failed)["content"][0]["text"]
    assert "404" in text and "requestId" in text


def test_inspector_stdio(inspector, sandbox, controls, ids):
    check_flow(inspector, stdio_target(sandbox), ids["proposals"]["hireable"][0])


def test_inspector_http(inspector, sandbox, controls, ids):
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    with http_server(env=env) as (base, _):
        check_flow(
            inspector, ["--transport", "http", "--server-url", base + "/mcp"], ids["proposals"]["hireable"][1]
        )


def test_inspector_modern_era_over_http(inspector, sandbox, controls, ids):
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    with http_server(env=env) as (base, _):
        target = ["--transport", "http", "--server-url", base + "/mcp", "--protocol-era", "modern"]
        rc, listed = run(inspector, target, "--method", "tools/list")
        assert rc == 0, listed
        assert "request_hire" in {t["name"] for t in listed.get("result", listed)["tools"]}
        rc, checked = run(
            inspector,
            target,
            "--method",
            "tools/call",
            "--tool-name",
            "get_proposal",
            "--tool-arg",
            f"proposalId={ids['proposals']['hireable'][0]}",
        )
        assert rc == 0, checked
        assert checked.get("result", checked)["structuredContent"]["candidate"].endswith(".")


def test_inspector_with_the_bearer_secret(inspector, sandbox):
    secret = "inspector-secret-0123456789"
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    with http_server(env={**env, "OPENTRAIN_MCP_AUTH_TOKEN": secret}) as (base, _):
        target = ["--transport", "http", "--server-url", base + "/mcp"]
        rc, listed = run(
            inspector, [*target, "--header", f"Authorization: Bearer {secret}"], "--method", "tools/list"
        )
        assert rc == 0, listed
        assert "request_hire" in {t["name"] for t in listed.get("result", listed)["tools"]}
        rc, refused = run(inspector, [*target, "--stored-auth-only"], "--method", "tools/list")
    assert rc != 0
    message = json.dumps(refused)
    assert "OPENTRAIN_MCP_AUTH_TOKEN" in message and secret not in message
    assert "Dynamic Client Registration" not in message and "HTTP 404" not in message


def test_inspector_finds_no_schema_portability_problem(inspector):
    """``--strict`` lints every input and output schema (type lists, untyped nodes, remote refs, booleans)."""
    proc = subprocess.run(
        [
            inspector,
            "--cli",
            *CONNECT_TIMEOUT,
            "-e",
            "OPENTRAIN_MCP_SANDBOX=1",
            "-e",
            "OPENTRAIN_MCP_LEDGER=none",
            SCRIPT,
            "--method",
            "tools/list",
            "--strict",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert len(listed.get("result", listed)["tools"]) == 12
    assert "Schema portability" not in proc.stderr and "Warning:" not in proc.stderr, proc.stderr
