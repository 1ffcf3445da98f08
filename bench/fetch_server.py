"""The in-server floor: a one-tool MCPServer whose tool makes the same authenticated API request ours make.

It measures what any MCP server pays to call an API from inside a tool (the SDK transport plus an upstream
request in the server's event loop), so the difference to ours is our own code. stdio, or ``--http PORT``.
Reads ``OT_API_TOKEN`` and ``OPENTRAIN_API_BASE_URL`` like our server.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx2
from mcp.server import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

mcp = MCPServer("fetch-floor", log_level="WARNING")
_http: list[httpx2.AsyncClient] = []


@mcp.tool()
async def fetch(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Send one request to ``/api/public/v1{path}`` and return its JSON."""
    if not _http:
        _http.append(httpx2.AsyncClient(headers={"Authorization": f"Bearer {os.environ['OT_API_TOKEN']}"}))
    url = f"{os.environ['OPENTRAIN_API_BASE_URL']}/api/public/v1{path}"
    response = await _http[0].request(method, url, json=body)
    response.raise_for_status()
    return dict(response.json())


@mcp.custom_route("/healthz", methods=["GET"])
async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["--http"]:
        mcp.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        mcp.run()
