"""The README's main-job command: `opentrain-mcp demo` walks the whole flow and exits 0."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import clean_env


def test_demo_runs_the_whole_flow():
    proc = subprocess.run(
        [sys.executable, "-m", "opentrain_mcp", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ("request_hire", "/approvals/", "confirmed", "ACTIVE_FUNDED", "Demo complete"):
        assert step in proc.stdout, (step, proc.stdout)
