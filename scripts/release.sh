#!/usr/bin/env bash
# Builds the release artifacts into dist/ (or the folder given): the sdist and the wheel (python -m build),
# checked with twine; the MCP Bundle opentrain-mcp-<version>.mcpb for one-click install in Claude Desktop
# (scripts/bundle.py; validated and packed with the mcpb CLI); server.json for the MCP Registry with the
# bundle's SHA-256; and SHA256SUMS of them all. Publishes nothing.
#
#   bash scripts/release.sh [OUT]      # needs the test extra (build, twine) in .venv and Node for the mcpb CLI
#
# The bundle carries compiled dependencies, so it runs on the platform and Python minor version that built it.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
python="${PYTHON:-.venv/bin/python}"
if [ -x tools/node/node_modules/.bin/mcpb ]; then
  mcpb="$PWD/tools/node/node_modules/.bin/mcpb"
else
  mcpb="npx --yes @anthropic-ai/mcpb@2.1.2"
fi
rm -rf "$out"
mkdir -p "$out"
"$python" -m build --sdist --wheel --outdir "$out" .
"$python" -m twine check --strict "$out"/*.whl "$out"/*.tar.gz
"$python" scripts/bundle.py --wheel "$(ls "$out"/*.whl)" --out "$out" --mcpb "$mcpb"
(cd "$out" && sha256sum -- *.whl *.tar.gz *.mcpb server.json > SHA256SUMS && cat SHA256SUMS)
