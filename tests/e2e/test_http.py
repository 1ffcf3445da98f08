"""Streamable HTTP as agent frameworks use it: both eras, auth, Host checks, health, limits."""

from __future__ import annotations

import subprocess

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import SERVER_CMD, clean_env, http_server

pytestmark = pytest.mark.anyio
TERMS = {"description": "Label 100 images", "amount": 45.5}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def api_env(sandbox):
    return clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)


@pytest.fixture(scope="module")
def open_server(api_env):
    with http_server(env=api_env) as (base, log):
        yield base, log


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_tools_over_http_both_eras(open_server, controls, ids, mode, sandbox):
    base, log = open_server
    async with Client(base + "/mcp", mode=mode) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        assert not r.is_error, r.content
        approval_id = r.structured_content["approval"]["id"]
        r = await c.call_tool("check_approval", {"approvalId": approval_id})
        assert r.structured_content["approval"]["status"] == "pending"
        r = await c.call_tool("check_approval", {"approvalId": "nope"})
        assert r.is_error and "404" in r.content[0].text
    assert sandbox.token not in log.read_text()


def test_healthz_reveals_nothing(open_server, sandbox):
    base, _ = open_server
    r = httpx2.get(base + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert sandbox.base_url not in r.text and sandbox.token not in r.text


def test_host_and_origin_are_checked(open_server):
    base, _ = open_server
    assert (
        httpx2.post(base + "/mcp", json=INIT, headers={**ACCEPT, "Host": "evil.example"}).status_code == 421
    )
    r = httpx2.post(base + "/mcp", json=INIT, headers={**ACCEPT, "Origin": "https://evil.example"})
    assert r.status_code == 403
    assert httpx2.post(base + "/mcp", json=INIT, headers=ACCEPT).status_code == 200


def test_request_body_limit(open_server):
    base, _ = open_server
    big = {**INIT, "params": {**INIT["params"], "pad": "x" * 2_000_000}}
    assert httpx2.post(base + "/mcp", json=big, headers=ACCEPT).status_code == 413


async def test_bearer_auth(api_env, ids):
    secret = "test-secret-0123456789abcdef"
    with http_server(env={**api_env, "OPENTRAIN_MCP_AUTH_TOKEN": secret}) as (base, log):
        bad = {**ACCEPT, "Authorization": "Bearer wrong-secret-0123456789"}
        for headers in (ACCEPT, bad, {**ACCEPT, "Authorization": secret}):
            refused = httpx2.post(base + "/mcp", json=INIT, headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer", "no OAuth resource_metadata pointer"
            assert "OPENTRAIN_MCP_AUTH_TOKEN" in refused.json()["error_description"]
            assert secret not in refused.text
        for path in (
            "/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ):
            assert httpx2.get(base + path).status_code == 404, "no OAuth metadata is advertised"
        assert httpx2.get(base + "/healthz").status_code == 200
        for mode in ("legacy", "auto"):
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"})
            async with Client(streamable_http_client(base + "/mcp", http_client=http), mode=mode) as c:
                assert {t.name for t in (await c.list_tools()).tools} >= {"request_hire", "check_approval"}
        assert secret not in log.read_text()


def test_public_bind_without_auth_refuses_to_start(api_env):
    proc = subprocess.run(
        [*SERVER_CMD, "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        env=api_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "OPENTRAIN_MCP_AUTH_TOKEN" in proc.stderr


def test_public_bind_keeps_host_checks(api_env):
    env = {**api_env, "OPENTRAIN_MCP_AUTH_TOKEN": "another-secret-0123456789"}
    with http_server("--host", "0.0.0.0", "--allowed-host", "mcp.internal.test", env=env) as (base, _):
        auth = {**ACCEPT, "Authorization": "Bearer another-secret-0123456789"}
        assert (
            httpx2.post(base + "/mcp", json=INIT, headers={**auth, "Host": "evil.example"}).status_code == 421
        )
        assert (
            httpx2.post(base + "/mcp", json=INIT, headers={**auth, "Host": "mcp.internal.test"}).status_code
            == 200
        )


async def test_stateless_does_not_advertise_legacy_subscribe(api_env):
    with http_server("--stateless", env=api_env) as (base, _):
        async with Client(base + "/mcp", mode="legacy") as c:
            assert not c.server_capabilities.resources.subscribe
