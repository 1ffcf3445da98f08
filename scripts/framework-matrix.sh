#!/usr/bin/env bash
# The agent-framework matrix (issue #13): creates one pinned venv per framework under .cache/frameworks
# (git-ignored; reused while tests/frameworks/<name>/requirements.txt is unchanged), runs every driver against
# `opentrain-mcp --sandbox` and rewrites docs/compatibility.md. Needs the project venv (.venv) installed.
# Options: --only NAME (repeatable), --install-only (CI: venvs only; tests/e2e/test_frameworks.py runs them),
# --no-install, --no-doc.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tests.frameworks.matrix "$@"
