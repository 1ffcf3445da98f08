"""The README's main-job command: `opentrain-mcp demo` walks the whole flow and exits 0, saying that it stands in
for the human and what to do next."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx2

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
    steps = (
        "request_hire",
        "/approvals/",
        "confirmed",
        "ACTIVE_FUNDED",
        "create_milestone",
        "request_milestone_funding",
        "request_milestone_release",
        "end_contract",
        ": ended",
        "Demo complete",
    )
    for step in steps:
        assert step in proc.stdout, (step, proc.stdout)
    intro = proc.stdout.split("\n== 1.")[0]
    assert "The demo plays both parts" in intro and "opentrain-mcp demo --interactive" in intro
    assert "The demo, standing in for the human, clicked Confirm" in proc.stdout
    tail = proc.stdout.rstrip().splitlines()[-3:]
    assert tail[0].startswith("Next: give your MCP client the same sandbox"), tail
    assert tail[1].strip().endswith(" --sandbox") and "opentrain-mcp check" in tail[2]


def _interactive_demo(timeout: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "opentrain_mcp", "demo", "--interactive", "--timeout", str(timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )


def test_interactive_demo_timeout_is_the_whole_wait():
    proc = _interactive_demo(2)
    assert proc.stdout
    link = next(
        (line for line in proc.stdout if line.strip().startswith("http") and "/approvals/" in line), None
    )
    assert link, "the demo never printed the approval link"
    waiting = time.monotonic()  # from here the demo only waits for the human, then stops
    _, err = proc.communicate(timeout=60)
    waited = time.monotonic() - waiting
    assert proc.returncode == 1
    assert "Demo stopped: nobody confirmed the approval within 2 s" in err, err
    assert "TaskGroup" not in err and "Traceback" not in err
    assert waited < 20, f"--timeout 2 waited {waited:.0f} s (the wait must not round up to 20 s chunks)"


def test_interactive_demo_reports_a_decline_in_plain_words():
    proc = _interactive_demo(60)
    assert proc.stdout
    link = None
    for line in proc.stdout:
        if "/approvals/" in line and line.strip().startswith("http"):
            link = line.strip()
            break
    assert link, "the demo never printed the approval link"
    origin = link.split("/approvals/")[0]
    assert httpx2.post(link + "/decline", headers={"Origin": origin}, timeout=10).status_code == 303
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Demo stopped: the approval ended 'declined', not confirmed" in err, err
    assert "TaskGroup" not in err and "Traceback" not in err
