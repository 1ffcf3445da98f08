"""Build the MCP server: tools, instructions and the lifespan that owns the API client."""

from __future__ import annotations

from typing import Any

from mcp.server import MCPServer

from opentrain_mcp import __version__
from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings
from opentrain_mcp.server import text
from opentrain_mcp.server.state import lifespan_for
from opentrain_mcp.server.tools import approvals, hire


def build_server(
    settings: Settings, *, policy: RetryPolicy | None = None, http_auth: tuple[str, str] | None = None
) -> MCPServer[Any]:
    """An ``MCPServer`` exposing the OpenTrain tools.

    ``http_auth`` = (shared secret, public /mcp URL) turns on bearer auth for the HTTP transport.
    """
    auth_kwargs: dict[str, Any] = {}
    if http_auth is not None:
        from mcp.server.auth.settings import AuthSettings
        from pydantic import AnyHttpUrl

        from opentrain_mcp.server.http import StaticTokenVerifier

        secret, url = http_auth
        auth_kwargs = {
            "token_verifier": StaticTokenVerifier(secret, url),
            "auth": AuthSettings(
                issuer_url=AnyHttpUrl(url.rsplit("/mcp", 1)[0]),
                resource_server_url=AnyHttpUrl(url),
                validate_token_resource=False,
            ),
        }
    mcp: MCPServer[Any] = MCPServer(
        "opentrain",
        title="OpenTrain hiring",
        version=__version__,
        instructions=text.INSTRUCTIONS,
        website_url="https://app.opentrain.ai",
        lifespan=lifespan_for(settings, policy),
        log_level="WARNING",
        **auth_kwargs,
    )
    hire.register(mcp)
    approvals.register(mcp)
    return mcp
