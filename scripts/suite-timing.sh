#!/usr/bin/env bash
# Times the README's test command (and with --ci, `.ci/run` in a fresh clone of HEAD) step by step, with wall
# and CPU time, the load average and the 20 slowest tests, and writes them to docs/benchmarks.md (section 7).
# Options: --repeat N (the pytest step N times in a row), --ci, --no-doc. See bench/suite_timing.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/suite_timing.py "$@"
