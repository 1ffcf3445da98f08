"""The sandbox's Starlette app: `/api/public/v1/...`, the human's approval pages, and `/__sandbox__` controls.

Requests under `/api/public/v1` pass through a gate that records them in the request log and applies queued
faults. The gate wraps the whole Starlette stack so that it sees uvicorn's own ``send`` callable, which is
what lets a ``drop`` fault close the connection without any response.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount

from .api import api_routes
from .controls import CONTROL_PREFIX, control_routes
from .errors import ApiError, SandboxError, code_for_status, envelope
from .faults import Fault
from .state import API_PREFIX, SandboxState
from .views import error_page, page_routes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("opentrain_mcp.sandbox")

MAX_BODY_BYTES = 1024 * 1024
LOG_BODY_LIMIT = 4096
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SANDBOX_HEADER = (b"x-opentrain-sandbox", b"1")  # lets a client on loopback say "sandbox" in its results


class _ClientGone(Exception):
    """The client disconnected before the request body was read."""


class _BodyTooLarge(Exception):
    """The request body exceeds ``MAX_BODY_BYTES``."""


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _query_for_log(query_string: bytes) -> dict[str, Any]:
    parsed = urllib.parse.parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}


def _headers_for_log(scope: Scope) -> dict[str, Any]:
    """Header names, the User-Agent and the Authorization scheme; never a credential."""
    headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", [])]
    values = dict(headers)
    scheme, _, credential = values.get("authorization", "").partition(" ")
    return {
        "headerNames": sorted({name for name, _ in headers}),
        "userAgent": values.get("user-agent"),
        "authScheme": scheme if credential else None,
    }


def _body_for_log(body: bytes) -> Any:
    if not body:
        return None
    if len(body) <= LOG_BODY_LIMIT:
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            pass
    return body[:LOG_BODY_LIMIT].decode("utf-8", errors="replace")


async def _send_raw(
    send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        SANDBOX_HEADER,
    ]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _send_envelope(
    send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    await _send_raw(
        send, status, json.dumps(payload, ensure_ascii=False).encode(), "application/json", headers
    )


async def _send_fault(send: Send, fault: Fault) -> dict[str, Any]:
    """Answer with the fault's response; return ``{"status", "requestId"}`` for the log."""
    if fault.kind == "rate_limit":
        payload = envelope(f"Too many requests. Retry after {fault.retry_after} seconds.", "RATE_LIMITED")
        await _send_envelope(send, 429, payload, {"Retry-After": str(fault.retry_after)})
        return {"status": 429, "requestId": payload["requestId"]}
    if fault.kind == "malformed":
        await _send_raw(send, fault.status, fault.body.encode("utf-8"), fault.content_type)
        return {"status": fault.status, "requestId": None}
    try:
        phrase = http.HTTPStatus(fault.status).phrase
    except ValueError:
        phrase = "Error"
    payload = envelope(f"{phrase} (fault injected by the OpenTrain sandbox).", code_for_status(fault.status))
    await _send_envelope(send, fault.status, payload)
    return {"status": fault.status, "requestId": payload["requestId"]}


async def _drop_connection(send: Send) -> None:
    """Close the client connection without sending any response (uvicorn h11 and httptools cycles)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionResetError("sandbox 'drop' fault: no server transport to close")
    transport.close()
    # Wait for connection_lost so uvicorn sees the cycle as disconnected and does not answer with a 500.
    for _ in range(400):
        await asyncio.sleep(0 if _ == 0 else 0.005)
        if getattr(cycle, "disconnected", True):
            return


class _Recorder:
    """Wraps ``send`` to learn the response status (and error requestId); optionally swallows the response."""

    def __init__(self, send: Send, swallow: bool) -> None:
        self._send = send
        self.swallow = swallow
        self.status: int | None = None
        self.complete = False
        self._json = False
        self._chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), SANDBOX_HEADER]}
            self.status = int(message["status"])
            self._json = any(
                k.lower() == b"content-type" and b"json" in v for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            if self.status is not None and self.status >= 400 and self._json:
                self._chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        if not self.swallow:
            await self._send(message)

    def request_id(self) -> str | None:
        if not self._chunks:
            return None
        try:
            value = json.loads(b"".join(self._chunks)).get("requestId")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
]


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def _same_origin(scope: Scope) -> bool:
    """True unless a browser says the request comes from another origin (no ``Origin`` is not proof)."""
    headers = _headers(scope)
    origin = headers.get(b"origin")
    if origin is None:
        return True
    return urllib.parse.urlsplit(origin.decode("latin-1")).netloc == headers.get(b"host", b"").decode(
        "latin-1"
    )


@functools.lru_cache(maxsize=8)
def allowed_hosts(base_url: str) -> frozenset[str]:
    """``Host`` values the sandbox answers to: its own origin and the loopback names on the same port.

    Anything else (a DNS-rebinding attacker's name that resolves to 127.0.0.1) is refused, so a web page
    elsewhere can never reach the approval pages or the test controls through the victim's browser.
    """
    netloc = urllib.parse.urlsplit(base_url).netloc
    port = netloc.rsplit(":", 1)[1] if not netloc.endswith("]") and ":" in netloc else ""
    names = {f"{name}:{port}" if port else name for name in LOOPBACK_NAMES}
    return frozenset({netloc, *names})


def _with_security_headers(send: Send) -> Send:
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)

    return secured


class SandboxApp(Starlette):
    """Starlette plus the API gate (faults, request log), a Host allow-list, anti-framing headers and a
    same-origin check on state-changing pages."""

    def __init__(self, state: SandboxState, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sandbox = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] == "http":
            host = _headers(scope).get(b"host", b"").decode("latin-1").lower()
            if host not in allowed_hosts(self.sandbox.base_url):
                await _send_raw(
                    send,
                    421,
                    b"Unknown Host: this OpenTrain sandbox answers only to its own origin.",
                    "text/plain",
                )
                return
            if _is_api(scope["path"]):  # JSON only; the gate needs uvicorn's own send for 'drop' faults
                await self._api_gate(scope, receive, send)
                return
            send = _with_security_headers(send)
            if scope["method"] not in SAFE_METHODS and not _same_origin(scope):
                await _send_raw(
                    send, 403, b"Cross-origin request refused by the OpenTrain sandbox.", "text/plain"
                )
                return
        await super().__call__(scope, receive, send)

    async def _api_gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.sandbox
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "query": _query_for_log(scope.get("query_string", b"")),
            **_headers_for_log(scope),
            "body": None,
            "status": None,
            "at": state.now_iso(),
            "fault": None,
            "requestId": None,
        }
        try:
            body = await _read_body(receive)
        except _ClientGone:
            return
        except _BodyTooLarge:
            payload = envelope("Request body too large.", "BAD_REQUEST", {"maxBytes": MAX_BODY_BYTES})
            await _send_envelope(send, 413, payload)
            entry.update(status=413, requestId=payload["requestId"])
            state.log_request(entry)
            return
        entry["body"] = _body_for_log(body)
        fault = state.take_fault(scope["method"], scope["path"])
        if fault is not None:
            entry["fault"] = {"id": fault.id, "kind": fault.kind, "after": fault.after}
        state.log_request(entry)  # logged on arrival, completed below, so the log keeps arrival order
        outcome: dict[str, Any] = {}
        try:
            if fault is not None and not fault.after:
                if fault.kind == "drop":
                    await _drop_connection(send)
                    return
                if fault.kind != "delay":
                    outcome.update(await _send_fault(send, fault))
                    return
                await asyncio.sleep(fault.delay_seconds)
            recorder = _Recorder(send, swallow=fault is not None and fault.after)
            try:
                await super().__call__(scope, _replay(body, receive), recorder.send)
            except Exception:
                if not recorder.complete:
                    raise
                logger.exception("error after the response was sent")
            outcome.update(status=recorder.status, requestId=recorder.request_id())
            if fault is not None and fault.after:
                outcome.update(
                    status=None,
                    requestId=None,
                    fault={
                        "id": fault.id,
                        "kind": fault.kind,
                        "after": True,
                        "processedStatus": recorder.status,
                    },
                )
                if fault.kind == "drop":
                    state.update_request(entry, outcome)  # record before the client can see the drop
                    await _drop_connection(send)
                else:
                    outcome.update(await _send_fault(send, fault))
        finally:
            state.update_request(entry, outcome)


def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _sandbox_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)
    return JSONResponse(exc.body(), status_code=exc.status)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    headers = dict(exc.headers or {})
    if _is_api(path):
        if exc.status_code == 404:
            payload = envelope("No such endpoint.", "NOT_FOUND", {"path": path})
        else:
            payload = envelope(str(exc.detail), code_for_status(exc.status_code))
        return JSONResponse(payload, status_code=exc.status_code, headers=headers)
    if path.startswith(CONTROL_PREFIX + "/") or path == CONTROL_PREFIX:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)
    state = getattr(request.app, "sandbox", None)
    return error_page(exc.status_code, str(exc.detail), state.api_base_url if state else "")


def _server_error(request: Request, exc: Exception) -> Response:
    if _is_api(request.url.path):
        return JSONResponse(envelope("Internal server error.", "INTERNAL_ERROR"), status_code=500)
    if request.url.path.startswith(CONTROL_PREFIX):
        return JSONResponse({"error": f"internal error: {exc!r}"}, status_code=500)
    return PlainTextResponse("Internal server error.", status_code=500)


def create_app(state: SandboxState) -> Starlette:
    """Build the sandbox app around ``state``."""
    routes = [
        Mount(API_PREFIX, routes=api_routes(state)),
        Mount(CONTROL_PREFIX, routes=control_routes(state)),
        *page_routes(state),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Response]] = {
        ApiError: _api_error,
        SandboxError: _sandbox_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
    return SandboxApp(state, routes=routes, exception_handlers=handlers)


__all__ = ["SandboxApp", "create_app"]
