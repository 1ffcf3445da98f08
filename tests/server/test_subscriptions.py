"""Legacy resource subscriptions: only approval URIs, capped per session, released (issue 10, item 9)."""

from __future__ import annotations

import gc
import warnings

import pytest
from mcp import Client, MCPError

from opentrain_mcp.server.app import build_server
from opentrain_mcp.server.state import MAX_SUBSCRIPTIONS_PER_SESSION, LegacySubscriptions
from tests.conftest import FAST_POLICY

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::mcp.MCPDeprecationWarning")]


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/x",
        "file:///etc/passwd",
        "opentrain://contracts/c1",
        "opentrain://approvals/",
        "opentrain://approvals/a..b",
        "opentrain://approvals/a%2Fb",
        "opentrain://approvals/" + "x" * 200,
    ],
)
async def test_only_approval_uris_can_be_subscribed(settings, controls, uri):
    async with Client(build_server(settings, policy=FAST_POLICY), mode="legacy") as c:
        with pytest.raises(MCPError) as refused:
            await c.subscribe_resource(uri)
    assert refused.value.error.code == -32602
    assert "opentrain://approvals/{approvalId}" in refused.value.error.message


async def test_subscriptions_are_capped_per_session_and_released_on_unsubscribe(settings, controls):
    cap = MAX_SUBSCRIPTIONS_PER_SESSION
    async with Client(build_server(settings, policy=FAST_POLICY), mode="legacy") as c:
        for n in range(cap):
            await c.subscribe_resource(f"opentrain://approvals/a{n}")
        await c.subscribe_resource("opentrain://approvals/a0")  # a repeat is not a new subscription
        with pytest.raises(MCPError) as refused:
            await c.subscribe_resource("opentrain://approvals/one-too-many")
        assert str(cap) in refused.value.error.message
        await c.unsubscribe_resource("opentrain://approvals/a0")
        await c.subscribe_resource("opentrain://approvals/one-too-many")
    async with Client(build_server(settings, policy=FAST_POLICY), mode="legacy") as other:
        await other.subscribe_resource("opentrain://approvals/a1")  # the cap is per session


def test_subscriptions_go_with_their_session():
    class Session:
        pass

    registry = LegacySubscriptions(cap=2)
    alive, gone = Session(), Session()
    assert registry.add(alive, "u1") and registry.add(gone, "u1") and registry.add(gone, "u2")
    assert not registry.add(gone, "u3")
    assert len(registry) == 3 and set(map(id, registry.sessions_for("u1"))) == {id(alive), id(gone)}
    del gone
    gc.collect()
    assert len(registry) == 1 and registry.sessions_for("u1") == [alive]
    registry.remove(alive, "u1")
    assert len(registry) == 0


async def test_stateless_server_does_not_offer_subscribe(settings):
    async with Client(build_server(settings, stateless=True), mode="legacy") as c:
        assert not c.server_capabilities.resources.subscribe
        with warnings.catch_warnings(), pytest.raises(MCPError):
            await c.subscribe_resource("opentrain://approvals/a1")
    async with Client(build_server(settings), mode="legacy") as c:
        assert c.server_capabilities.resources.subscribe
