"""Typed errors raised by the OpenTrain API client.

Every error carries what a caller needs to explain it: the HTTP status (if a response arrived), the
API's ``code``, its ``requestId`` and ``details``. Messages never contain the API token.
"""

from __future__ import annotations

from typing import Any


class OpenTrainError(Exception):
    """Base class for everything the client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.details: dict[str, Any] = details or {}

    @property
    def reason(self) -> str | None:
        value = self.details.get("reason")
        return value if isinstance(value, str) else None

    @property
    def claim_url(self) -> str | None:
        return _str_or_none(self.details.get("claimUrl"))

    @property
    def billing_url(self) -> str | None:
        return _str_or_none(self.details.get("billingUrl"))

    @property
    def issues(self) -> list[dict[str, Any]]:
        value = self.details.get("issues")
        return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []

    @property
    def required_scopes(self) -> list[str]:
        value = self.details.get("requiredScopes")
        return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"request_id={self.request_id!r}, message={self.message!r})"
        )


class ConfigurationError(OpenTrainError):
    """The client is not configured well enough to call the API (no token, bad base URL)."""


class ApiError(OpenTrainError):
    """The API answered with an error envelope (any non-2xx status)."""


class BadRequestError(ApiError):
    """400: the request body was rejected; see ``issues``."""


class AuthenticationError(ApiError):
    """401: the token is missing, malformed, revoked or unknown."""


class PermissionDeniedError(ApiError):
    """403: a scope, feature flag, account claim or ownership gate refused the call."""


class NotFoundError(ApiError):
    """404: no such resource, or not visible to this token."""


class ConflictError(ApiError):
    """409: a business conflict (``reason`` says which)."""


class RateLimitError(ApiError):
    """429: rate limited; ``retry_after`` is the wait the API asked for, in seconds, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the API failed."""


class TransportError(OpenTrainError):
    """No usable HTTP response: connection failure, timeout, or the time budget ran out.

    ``may_have_reached_server`` is False only when the request certainly never left this process.
    """

    def __init__(self, message: str, *, may_have_reached_server: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.may_have_reached_server = may_have_reached_server


class MalformedResponseError(OpenTrainError):
    """The API answered, but not with what its contract promises (non-JSON, missing fields, odd status)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[ApiError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
