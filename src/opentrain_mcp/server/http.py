"""The Streamable HTTP app: bearer auth, explicit Host/Origin allow-lists, a body limit and /healthz."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field

from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from opentrain_mcp.api.client import is_loopback_host
from opentrain_mcp.config import AUTH_TOKEN_VAR

MAX_BODY_BYTES = 256 * 1024
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    }
)
UNAUTHORIZED = (
    "Missing or wrong bearer secret. Send 'Authorization: Bearer <secret>', where <secret> is the value of "
    f"{AUTH_TOKEN_VAR} (or --auth-token) this server was started with. This server does not use OAuth."
)


@dataclass
class HttpOptions:
    """How the HTTP transport listens and whom it lets in."""

    host: str = "127.0.0.1"
    port: int = 8000
    auth_token: str | None = field(default=None, repr=False)
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    stateless: bool = False

    @property
    def public_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/mcp"

    def refusal(self) -> str | None:
        """Why this configuration must not start, or None."""
        if not is_loopback_host(self.host) and not self.auth_token:
            return (
                f"Refusing to serve HTTP on {self.host}, which is reachable from other machines, without "
                "authentication. Set OPENTRAIN_MCP_AUTH_TOKEN (or --auth-token) to a long random secret that "
                "clients send as 'Authorization: Bearer <secret>', or bind to 127.0.0.1."
            )
        if self.auth_token is not None and len(self.auth_token) < 16:
            return "The HTTP auth token is too short; use at least 16 random characters."
        return None

    def transport_security(self) -> TransportSecuritySettings:
        """Always an explicit allow-list, so binding to 0.0.0.0 never turns the checks off."""
        hosts = [f"{h}:*" for h in LOOPBACK_HOSTS] + list(LOOPBACK_HOSTS)
        origins = [f"http://{h}:*" for h in LOOPBACK_HOSTS]
        if not is_loopback_host(self.host) and self.host not in ("0.0.0.0", "::"):
            hosts += [self.host, f"{self.host}:*"]
        for name in self.allowed_hosts:
            hosts += [name] if ":" in name.rsplit("]", 1)[-1] else [name, f"{name}:*"]
        origins += self.allowed_origins
        return TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )


class BearerGate:
    """Requires ``Authorization: Bearer <secret>`` on every HTTP request but ``/healthz``.

    A plain shared secret, not OAuth: a refusal is a 401 with ``WWW-Authenticate: Bearer`` and a body that
    names the variable holding the secret, and no OAuth metadata is advertised (clients would otherwise try
    dynamic client registration against endpoints that do not exist). The OAuth discovery paths answer 404
    without the secret, so a client probing them learns at once that there is no OAuth here.
    """

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self._secret = secret.encode()

    def __repr__(self) -> str:
        return "BearerGate(secret=[redacted])"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "unauthorized", "error_description": UNAUTHORIZED}).encode()
        headers = [
            (b"www-authenticate", b"Bearer"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, secret = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(secret.strip(), self._secret)
        return False


async def healthz(_request: Request) -> JSONResponse:
    """Liveness only: reveals nothing about configuration or the account."""
    return JSONResponse({"status": "ok"})


def build_http_app(mcp: object, options: HttpOptions) -> ASGIApp:
    """The ASGI app serving MCP at ``/mcp`` (and ``/healthz``) for an already-built server."""
    from mcp.server import MCPServer

    assert isinstance(mcp, MCPServer)
    mcp.custom_route("/healthz", methods=["GET"])(healthz)
    app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=options.stateless,
        transport_security=options.transport_security(),
        max_request_body_size=MAX_BODY_BYTES,
        host=options.host,
    )
    return BearerGate(app, options.auth_token) if options.auth_token else app
