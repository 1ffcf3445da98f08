"""Fault injection specs for `/__sandbox__/faults` (assumption A10 and the reliability tests)."""

from __future__ import annotations

import dataclasses
from typing import Any

FAULT_KINDS = ("status", "rate_limit", "delay", "malformed", "drop")
AFTER_KINDS = ("status", "malformed", "drop")
DEFAULT_MALFORMED_BODY = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>sandbox-proxy</center></body></html>"
)


@dataclasses.dataclass
class Fault:
    """One queued fault: applies to the next ``count`` matching requests under `/api/public/v1`."""

    id: str
    kind: str
    path: str = ""
    method: str | None = None
    count: int = 1
    status: int = 500
    retry_after: int = 1
    delay_seconds: float = 1.0
    body: str = DEFAULT_MALFORMED_BODY
    content_type: str = "text/html; charset=utf-8"
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to a request with ``method`` and ``path``."""
        return self.count > 0 and self.path in path and (self.method is None or self.method == method.upper())

    def to_json(self) -> dict[str, Any]:
        """The fault as returned by the controls (same keys as the request)."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "after": self.after,
        }
        if self.kind in ("status", "malformed"):
            out["status"] = self.status
        if self.kind == "malformed":
            out["body"] = self.body
            out["contentType"] = self.content_type
        if self.kind == "rate_limit":
            out["retryAfter"] = self.retry_after
        if self.kind == "delay":
            out["delaySeconds"] = self.delay_seconds
        return out


def _int(spec: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = spec.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"'{key}' must be an integer between {low} and {high}")
    return value


def parse_fault(spec: Any, fault_id: str) -> Fault:
    """Validate a fault spec from `POST /__sandbox__/faults`; raise ``ValueError`` with a readable message."""
    if not isinstance(spec, dict):
        raise ValueError("body must be a JSON object")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"'kind' must be one of {', '.join(FAULT_KINDS)}")
    path = spec.get("path", "")
    if path is None:
        path = ""
    if not isinstance(path, str):
        raise ValueError("'path' must be a string (a substring of the request path)")
    method = spec.get("method")
    if method is not None and (not isinstance(method, str) or not method.strip()):
        raise ValueError("'method' must be an HTTP method name or null")
    after = spec.get("after", False)
    if not isinstance(after, bool):
        raise ValueError("'after' must be a boolean")
    if after and kind not in AFTER_KINDS:
        raise ValueError(f"'after' is only supported for kinds {', '.join(AFTER_KINDS)}")
    fault = Fault(
        id=fault_id,
        kind=kind,
        path=path,
        method=method.strip().upper() if isinstance(method, str) else None,
        count=_int(spec, "count", 1, 1, 1_000_000),
        after=after,
    )
    if kind == "status":
        fault.status = _int(spec, "status", 500, 400, 599)
    elif kind == "malformed":
        fault.status = _int(spec, "status", 200, 100, 599)
        body = spec.get("body", DEFAULT_MALFORMED_BODY)
        if not isinstance(body, str):
            raise ValueError("'body' must be a string")
        fault.body = body
        content_type = spec.get("contentType", fault.content_type)
        if not isinstance(content_type, str) or not content_type:
            raise ValueError("'contentType' must be a non-empty string")
        fault.content_type = content_type
    elif kind == "rate_limit":
        fault.retry_after = _int(spec, "retryAfter", 1, 0, 86_400)
    elif kind == "delay":
        delay = spec.get("delaySeconds", 1.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 120:
            raise ValueError("'delaySeconds' must be a number between 0 and 120")
        fault.delay_seconds = float(delay)
    return fault
