"""No API token in what the server logs or the suite records, even when the server is made to log one."""

from __future__ import annotations

import os
import sys
import time

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import TOKEN_SHAPE, token_leaks
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio


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
    assert sandbox.token not in log and other not in log and not TOKEN_SHAPE.search(log), log
    assert log.count("[redacted]") >= 2


def test_the_end_of_run_scan_finds_a_recorded_token(tmp_path):
    """The scan each test process runs on test-artifacts/ as it ends (conftest ``artifacts_hold_no_token``)."""
    (tmp_path / "server-logs").mkdir()
    (tmp_path / "server-logs" / "clean.log").write_text("GET /api/public/v1/jobs 200\n")
    (tmp_path / "load.json").write_text('{"failures": 0}')
    assert token_leaks(tmp_path) == []
    (tmp_path / "server-logs" / "leaky.log").write_text(
        "GET /api/public/v1/proposals/ot_pat_k3y9_s3cr3t 404\n"
    )
    (tmp_path / "fuzz.json").write_text('{"args": "ot_clm_abcd"}')
    (tmp_path / "page.png").write_text("ot_pat_k3y9_s3cr3t")  # images are not text; not scanned
    assert token_leaks(tmp_path) == [tmp_path / "fuzz.json", tmp_path / "server-logs" / "leaky.log"]
    run_started = time.time()
    os.utime(tmp_path / "fuzz.json", (run_started - 60, run_started - 60))  # an earlier run's, checked then
    assert token_leaks(tmp_path, since=run_started - 1) == [tmp_path / "server-logs" / "leaky.log"]
