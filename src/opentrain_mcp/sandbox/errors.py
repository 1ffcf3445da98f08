"""Exceptions raised by the sandbox state and turned into HTTP responses by the app."""

from __future__ import annotations

import uuid
from typing import Any

# Status → envelope code for the Public API (§3.2 of the API reference).
STATUS_CODES: dict[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
}


def code_for_status(status: int) -> str:
    """Return the documented envelope code for an HTTP status (5xx → INTERNAL_ERROR, other 4xx → BAD_REQUEST)."""
    if status in STATUS_CODES:
        return STATUS_CODES[status]
    return "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST"


def envelope(message: str, code: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Public API error envelope with a fresh uuid4 ``requestId`` (``details`` only when given)."""
    body: dict[str, Any] = {"error": message, "code": code, "requestId": str(uuid.uuid4())}
    if details is not None:
        body["details"] = details
    return body


class ApiError(Exception):
    """An error of the Public API (`/api/public/v1`), rendered as the documented envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.code = code or code_for_status(status)
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON envelope for this error."""
        return envelope(self.message, self.code, self.details)


class SandboxError(Exception):
    """An error of the sandbox-only surfaces (test controls, approval page): ``{"error": ..., **extra}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body for this error."""
        return {"error": self.message, **self.extra}
