"""The agent-framework matrix (tests/frameworks/): each framework's own MCP client layer and tool converters,
in its own pinned venv, against ``opentrain-mcp --sandbox`` — no model, no network."""

from __future__ import annotations

import pytest

from tests.conftest import need
from tests.frameworks.matrix import Framework, frameworks, run_driver, server_command

FRAMEWORKS = frameworks()


def test_every_framework_has_a_pinned_driver():
    names = {fw.name for fw in FRAMEWORKS}
    assert names == {
        "openai_agents",
        "langchain",
        "pydantic_ai",
        "mcp1",
        "fastmcp2",
        "google_adk",
        "google_genai",
    }
    for fw in FRAMEWORKS:
        pins = [line for line in fw.requirements.splitlines() if line and not line.startswith("#")]
        assert pins and all("==" in line for line in pins), f"{fw.name}: every requirement pinned"


@pytest.mark.parametrize("fw", FRAMEWORKS, ids=lambda fw: fw.name)
def test_framework(fw: Framework):
    need(fw.ready(), f"{fw.name} venv missing or stale (run scripts/framework-matrix.sh)")
    report = run_driver(fw, server_command())
    failed = [f"{c['name']}: {c['detail']}" for c in report["checks"] if not c["ok"]]
    assert report["ok"] and not failed, "\n".join(failed)
