"""The floor: a minimal one-tool MCPServer on the same SDK (stdio, or ``--http PORT [--stateless]``)."""

from __future__ import annotations

import sys

from mcp.server import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse

mcp = MCPServer("floor", log_level="WARNING")


@mcp.tool()
async def echo(text: str) -> str:
    """Return ``text`` unchanged."""
    return text


@mcp.custom_route("/healthz", methods=["GET"])
async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["--http"]:
        mcp.run("streamable-http", host="127.0.0.1", port=int(argv[1]), stateless_http="--stateless" in argv)
    else:
        mcp.run()
