"""The Streamable HTTP app in-process (real ASGI app, the SDK's auth and transport-security middleware)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest

from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import ServerOptions, build_server
from opentrain_mcp.server.http import BearerGate, HttpOptions, build_http_app

pytestmark = pytest.mark.anyio
SECRET = "s3cret-0123456789-abcdefgh"
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


@asynccontextmanager
async def serving(options: HttpOptions) -> AsyncIterator[httpx2.AsyncClient]:
    """The app the CLI would serve for ``options``, driven through ASGI with its lifespan running."""
    settings = Settings(token="ot_pat_unused_0000", base_url="http://127.0.0.1:9")
    app = build_http_app(build_server(settings, ServerOptions(ledger_path=None)), options)
    inner = app.app if isinstance(app, BearerGate) else app
    async with inner.router.lifespan_context(inner):  # type: ignore[attr-defined]
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{options.port}") as c:
            yield c


async def status(c: httpx2.AsyncClient, **headers: str) -> int:
    return (await c.post("/mcp", json=INIT, headers={**ACCEPT, **headers})).status_code


async def test_only_the_exact_bearer_secret_gets_in():
    async with serving(HttpOptions(auth_token=SECRET)) as c:
        assert await status(c) == 401
        for wrong in (
            "someone-else-9876543-abcdefgh",  # same last 8 characters
            SECRET[:-1],
            SECRET + "x",
            SECRET.upper(),
        ):
            assert await status(c, Authorization=f"Bearer {wrong}") == 401, wrong
        assert await status(c, Authorization=f"Bearer {SECRET}") == 200
        health = await c.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}, "liveness needs no secret"


def test_the_gate_never_shows_the_secret():
    gate = BearerGate(healthz_only, SECRET)
    assert SECRET not in repr(gate) and SECRET not in str(gate)


async def healthz_only(scope: object, receive: object, send: object) -> None:
    raise AssertionError("not called")


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        (HttpOptions(host="0.0.0.0"), "OPENTRAIN_MCP_AUTH_TOKEN"),
        (HttpOptions(host="192.168.1.5"), "OPENTRAIN_MCP_AUTH_TOKEN"),
        (HttpOptions(host="0.0.0.0", auth_token="a" * 15), "too short"),
        (HttpOptions(host="127.0.0.1", auth_token="short"), "too short"),
        (HttpOptions(host="0.0.0.0", auth_token="a" * 16), None),
        (HttpOptions(host="127.0.0.1"), None),
        (HttpOptions(host="::1"), None),
    ],
)
def test_unsafe_configurations_refuse_to_start(options, refusal):
    said = options.refusal()
    assert (said is None) if refusal is None else (said is not None and refusal in said), said


def test_public_url_brackets_ipv6():
    assert HttpOptions(host="::1", port=9000).public_url == "http://[::1]:9000/mcp"
    assert HttpOptions(host="127.0.0.1", port=9000).public_url == "http://127.0.0.1:9000/mcp"


async def test_host_and_origin_allow_lists_on_a_public_bind():
    options = HttpOptions(
        host="0.0.0.0",
        auth_token=SECRET,
        allowed_hosts=["mcp.example.com", "proxy.test:8443", "[2001:db8::1]"],
        allowed_origins=["https://app.example.com"],
    )
    auth = {"Authorization": f"Bearer {SECRET}"}
    async with serving(options) as c:
        for host, expected in (
            ("mcp.example.com", 200),
            ("mcp.example.com:9999", 200),
            ("proxy.test:8443", 200),
            ("proxy.test:9999", 421),
            ("[2001:db8::1]:8000", 200),
            ("[2001:db8::1]", 200),
            ("localhost:8000", 200),
            ("[::1]:8000", 200),
            ("0.0.0.0:8000", 421),
            ("evil.example", 421),
        ):
            assert await status(c, Host=host, **auth) == expected, host
        for origin, expected in (
            ("https://app.example.com", 200),
            ("http://localhost:3000", 200),
            ("https://evil.example", 403),
        ):
            assert await status(c, Origin=origin, **auth) == expected, origin


async def test_a_named_bind_accepts_its_own_name():
    async with serving(HttpOptions(host="mcp.internal.test", auth_token=SECRET)) as c:
        auth = {"Authorization": f"Bearer {SECRET}"}
        assert await status(c, Host="mcp.internal.test:8000", **auth) == 200
        assert await status(c, Host="other.test:8000", **auth) == 421


def body_of(size: int) -> bytes:
    """An initialize request padded to exactly ``size`` bytes."""
    empty = json.dumps({**INIT, "params": {**INIT["params"], "pad": ""}}).encode()
    return json.dumps({**INIT, "params": {**INIT["params"], "pad": "x" * (size - len(empty))}}).encode()


async def test_request_bodies_are_limited_to_256_kib():
    async with serving(HttpOptions()) as c:
        under = await c.post("/mcp", content=body_of(256 * 1024 - 100), headers=ACCEPT)
        over = await c.post("/mcp", content=body_of(256 * 1024 + 100), headers=ACCEPT)
    assert (under.status_code, over.status_code) == (200, 413)


async def test_sessions_are_kept_unless_stateless():
    async with serving(HttpOptions(stateless=False)) as c:
        stateful = await c.post("/mcp", json=INIT, headers=ACCEPT)
    async with serving(HttpOptions(stateless=True)) as c:
        stateless = await c.post("/mcp", json=INIT, headers=ACCEPT)
    assert stateful.headers.get("mcp-session-id") and "mcp-session-id" not in stateless.headers


def test_options_print_without_their_secret():
    """HttpOptions may end up in a debug log or a traceback."""
    options = HttpOptions(auth_token=SECRET)
    assert SECRET not in repr(options) and SECRET not in str(options)
