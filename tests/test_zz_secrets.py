"""No API token in what the server logs or the suite records, even when the server is made to log one."""

from __future__ import annotations

import re
import sys

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import ARTIFACTS
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio
TOKEN = re.compile(r"ot_(?:pat|clm|cat)_[A-Za-z0-9]{4,}")


async def test_server_log_redacts_a_token_it_was_made_to_log(sandbox, controls, tmp_path):
    """A model pasting the token as an id makes the server log it in a request path; the log must hide it."""
    other = "ot_pat_someoneelse_0123456789abcdef"
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "opentrain_mcp", "--log-level", "DEBUG", "--ledger", "none"],
        env=clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url),
    )
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as errlog:
        async with Client(stdio_client(server, errlog=errlog), mode="legacy") as c:
            for pasted in (sandbox.token, other):
                r = await c.call_tool("get_proposal", {"proposalId": pasted})
                assert r.is_error and pasted not in r.content[0].text
    paths = [e["path"] for e in controls.requests()]
    assert any(sandbox.token in p for p in paths), "the token did reach a request path, so it was logged"
    log = log_path.read_text()
    assert "/proposals/" in log, "the server logged the requests at DEBUG level"
    assert sandbox.token not in log and other not in log and not TOKEN.search(log), log
    assert log.count("[redacted]") >= 2


def test_no_token_in_recorded_artifacts(sandbox):
    """Whatever earlier tests in this run left in test-artifacts/ holds no token (none may be there)."""
    for path in ARTIFACTS.rglob("*") if ARTIFACTS.exists() else ():
        if path.is_file() and path.suffix in (".log", ".json", ".txt"):
            text = path.read_text(errors="replace")
            assert sandbox.token not in text, path
            assert not TOKEN.search(text), (path, TOKEN.search(text))
