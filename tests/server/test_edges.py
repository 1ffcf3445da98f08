"""The edges a new user hits (issue 10), through the SDK's real Client in both protocol eras."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from mcp import Client

from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import build_server
from tests.conftest import FAST_POLICY, Controls
from tests.server.test_tools import text_of

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]


@pytest.fixture(params=ERAS)
async def client(request, settings: Settings, controls: Controls) -> AsyncIterator[Client]:
    async with Client(build_server(settings, policy=FAST_POLICY), mode=request.param) as c:
        yield c


@pytest.mark.parametrize("mode", ERAS)
async def test_list_hire_requests_with_the_ledger_off(settings, mode):
    async with Client(build_server(settings, policy=FAST_POLICY, ledger_path=None), mode=mode) as c:
        r = await c.call_tool("list_hire_requests", {})
    assert not r.is_error, text_of(r)
    assert r.structured_content == {"hireRequests": []}
    assert "--ledger none" in text_of(r)


@pytest.mark.parametrize("mode", ERAS)
async def test_readiness_without_a_token_is_an_answer_not_an_error(mode):
    async with Client(build_server(Settings(), policy=FAST_POLICY), mode=mode) as c:
        r = await c.call_tool("check_hiring_readiness", {})
    assert not r.is_error, text_of(r)
    out = r.structured_content
    assert out["ready"] is False and out["verdict"] == "not_ready"
    assert out["checks"][0]["name"] == "token" and out["checks"][0]["status"] == "not_ready"
    assert "OT_API_TOKEN" in out["checks"][0]["detail"]


async def test_readiness_of_an_unclaimed_account_is_not_ready_true(client, controls):
    controls.account(claimed=False)
    out = (await client.call_tool("check_hiring_readiness", {})).structured_content
    claim = next(c for c in out["checks"] if c["name"] == "account_claimed")
    assert claim["status"] == "unknown"
    assert out["ready"] is False and out["verdict"] == "unknown"


async def test_json_text_keeps_non_ascii(client):
    r = await client.call_tool("list_jobs", {})
    text = text_of(r)
    assert "—" in text and "\\u" not in text
