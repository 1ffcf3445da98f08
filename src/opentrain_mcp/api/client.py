"""Async client for the OpenTrain public API (hiring lifecycle). No MCP imports: usable from any program.

async with OpenTrainClient(token="ot_pat_...") as ot:
    accepted = await ot.hire("prop123", Milestone(name="Batch 1", amount=300))
    print(accepted.approval.approvalUrl)   # a human confirms there; nothing is hired before that
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import time
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
import httpx2

from opentrain_mcp import __version__
from opentrain_mcp.api.errors import (
    ConfigurationError,
    MalformedResponseError,
    OpenTrainError,
    RateLimitError,
    TransportError,
    error_class_for,
)
from opentrain_mcp.api.models import (
    Approval,
    ApprovalAccepted,
    ContractEnd,
    ContractMilestone,
    HireAccepted,
    Milestone,
    NewMilestone,
    check_id,
)
from opentrain_mcp.api.retry import RETRYABLE_STATUSES, Deadline, RetryPolicy, parse_retry_after

DEFAULT_BASE_URL = "https://app.opentrain.ai"
API_PREFIX = "/api/public/v1"
USER_AGENT = f"opentrain-mcp/{__version__}"
SANDBOX_HEADER = "x-opentrain-sandbox"

log = logging.getLogger("opentrain_mcp.api")


@functools.lru_cache(maxsize=256)
def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP literals."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Validate an OpenTrain origin and return it as ``scheme://host[:port]``.

    Accepts the origin with or without a trailing ``/api/public/v1``. Plain ``http`` is allowed only
    for loopback hosts (a local sandbox); anything else must be ``https``.
    """
    raw = url.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base URL {raw!r} must be an origin such as {DEFAULT_BASE_URL}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError(f"base URL {raw!r} must not contain credentials, a query or a fragment")
    path = parts.path.rstrip("/")
    if path not in ("", API_PREFIX):
        raise ConfigurationError(
            f"base URL {raw!r} must be an origin without a path, e.g. {DEFAULT_BASE_URL}"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"base URL {raw!r} uses plain http; only loopback hosts (a local sandbox) may, use https"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"base URL {raw!r} has an invalid port") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


class OpenTrainClient:
    """One authenticated view of the OpenTrain public API.

    Pass a shared ``httpx2.AsyncClient`` to reuse connections across clients; otherwise one is created on
    first use and closed with the client. Methods return parsed JSON (or models) and raise ``OpenTrainError``
    subclasses; retries and time budgets follow ``policy``.
    """

    def __init__(
        self,
        *,
        token: str | None,
        base_url: str = DEFAULT_BASE_URL,
        http: httpx2.AsyncClient | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.api_url = self.base_url + API_PREFIX
        self.policy = policy or RetryPolicy()
        self._token = token
        self._own_http = http is None
        self._http = http
        self.sandbox_seen = False
        """True once a loopback API answered as the OpenTrain sandbox (``X-OpenTrain-Sandbox: 1``)."""

    def __repr__(self) -> str:
        return f"OpenTrainClient(base_url={self.base_url!r}, token={'set' if self._token else 'missing'})"

    async def __aenter__(self) -> OpenTrainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()

    @property
    def http(self) -> httpx2.AsyncClient:
        """The HTTP client, created on first use (building its TLS context costs ~50 ms at start-up)."""
        if self._http is None:
            self._http = new_http_client(self.policy, self.base_url)
        return self._http

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    # --- hiring -------------------------------------------------------------------------------

    async def hire(
        self,
        proposal_id: str,
        milestone: Milestone | dict[str, Any],
        *,
        confirm_not_fit_override: bool = False,
    ) -> HireAccepted:
        """Request a hire. Returns the pending approval; nobody is hired until a human confirms it.

        Safe to repeat with identical terms: the API returns the same pending approval.
        """
        check_id(proposal_id, "proposalId")
        terms = milestone if isinstance(milestone, Milestone) else Milestone.model_validate(milestone)
        body: dict[str, Any] = {"milestone": terms.to_wire()}
        if confirm_not_fit_override:
            body["confirmNotFitOverride"] = True
        data = await self._call("POST", f"/proposals/{_seg(proposal_id)}/hire", json=body, ok=(200, 201, 202))
        accepted = _parse(HireAccepted, data, "hire response")
        if accepted.approval.proposalId not in (None, proposal_id):
            raise MalformedResponseError(f"hire response names a different proposal than {proposal_id}")
        return accepted

    async def get_approval(self, approval_id: str) -> Approval:
        """Read an approval (any type); a pending one past ``expiresAt`` reads as ``expired``."""
        check_id(approval_id, "approvalId")
        data = await self._call("GET", f"/approvals/{_seg(approval_id)}")
        approval = _parse(Approval, data.get("approval"), "approval response")
        if approval.id != approval_id:
            raise MalformedResponseError(f"approval response is for a different approval than {approval_id}")
        return approval

    # --- after the hire: milestones and contract end (payments:write) --------------------------

    async def create_milestone(
        self, contract_id: str, milestone: NewMilestone | dict[str, Any]
    ) -> ContractMilestone:
        """Add an unfunded milestone to a contract (runs directly; no money moves).

        Not idempotent: a repeat creates a second milestone, so only a request that never reached OpenTrain is
        retried.
        """
        check_id(contract_id, "contractId")
        terms = milestone if isinstance(milestone, NewMilestone) else NewMilestone.model_validate(milestone)
        data = await self._call(
            "POST",
            f"/contracts/{_seg(contract_id)}/milestones",
            json=terms.to_wire(),
            ok=(200, 201),
            idempotent=False,
        )
        return _parse(ContractMilestone, data.get("milestone"), "milestone response")

    async def fund_milestone(self, milestone_id: str) -> ApprovalAccepted:
        """Ask to fund a ``NOT_FUNDED`` milestone: a pending ``milestone_fund`` approval a human must confirm."""
        return await self._milestone_request(milestone_id, "fund")

    async def approve_milestone(self, milestone_id: str) -> ApprovalAccepted:
        """Ask to approve a funded milestone (releases the payout): a pending ``milestone_approve`` approval."""
        return await self._milestone_request(milestone_id, "approve")

    async def end_contract(self, contract_id: str) -> ContractEnd:
        """End a contract: at once when nothing is funded, else a pending ``contract_end`` approval."""
        check_id(contract_id, "contractId")
        path = f"/contracts/{_seg(contract_id)}/end"
        data = await self._call("POST", path, ok=(200, 202))
        if "approval" not in data:
            if data.get("ok") is not True or data.get("contractId") not in (None, contract_id):
                raise MalformedResponseError(f"POST {path}: neither an approval nor ok for {contract_id!r}")
            return ContractEnd(ended=True)
        accepted = _parse(ApprovalAccepted, data, "contract end response")
        _same_target(accepted.approval, "contractId", contract_id)
        return ContractEnd(ended=False, approval=accepted.approval, message=accepted.message)

    async def _milestone_request(self, milestone_id: str, action: str) -> ApprovalAccepted:
        check_id(milestone_id, "milestoneId")
        data = await self._call("POST", f"/milestones/{_seg(milestone_id)}/{action}", ok=(200, 201, 202))
        accepted = _parse(ApprovalAccepted, data, f"milestone {action} response")
        _same_target(accepted.approval, "milestoneId", milestone_id)
        return accepted

    # --- reads --------------------------------------------------------------------------------

    async def list_updates(self, cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """``GET /updates``: events oldest first, with ``nextCursor``."""
        return await self._call("GET", "/updates", params=_params(cursor=cursor, limit=limit))

    async def list_jobs(self) -> dict[str, Any]:
        return await self._call("GET", "/jobs/mine")

    async def list_proposals(
        self, job_id: str, *, status: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        check_id(job_id, "jobId")
        params = _params(status=status, cursor=cursor, limit=limit)
        return await self._call("GET", f"/jobs/{_seg(job_id)}/proposals", params=params)

    async def get_proposal(self, proposal_id: str) -> dict[str, Any]:
        check_id(proposal_id, "proposalId")
        return await self._call("GET", f"/proposals/{_seg(proposal_id)}")

    async def list_contracts(self, *, job_id: str | None = None, status: str | None = None) -> dict[str, Any]:
        if job_id is not None:
            check_id(job_id, "jobId")
        return await self._call("GET", "/contracts", params=_params(jobId=job_id, status=status))

    async def get_contract(self, contract_id: str) -> dict[str, Any]:
        check_id(contract_id, "contractId")
        return await self._call("GET", f"/contracts/{_seg(contract_id)}")

    async def me(self) -> dict[str, Any]:
        return await self._call("GET", "/auth/me")

    async def capabilities(self) -> dict[str, Any]:
        return await self._call("GET", "/job-drafts/capabilities")

    async def credits(self) -> dict[str, Any]:
        return await self._call("GET", "/credits")

    # --- transport ----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200,),
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """Send one logical request under the retry policy; return the JSON object of a success.

        A non-idempotent request is retried only when it certainly did not run: it never reached the server, or
        the server answered 429.
        """
        if not self._token:
            raise ConfigurationError("no OpenTrain API token is configured")
        policy = self.policy
        deadline = Deadline(policy.budget)
        url = self.api_url + path
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        attempt = 0
        while True:
            attempt += 1
            timeout = min(policy.request_timeout, deadline.remaining())
            if timeout < 0.05:
                raise TransportError(
                    f"{method} {path}: no answer within the {policy.budget:.0f} s budget after {attempt - 1} tries"
                )
            started = time.monotonic()
            try:
                with anyio.fail_after(timeout):  # wall clock for connect, send and the whole body
                    response = await self.http.request(
                        method,
                        url,
                        json=json,
                        params=params,
                        headers=headers,
                        timeout=httpx2.Timeout(timeout, connect=min(policy.connect_timeout, timeout)),
                    )
            except (httpx2.HTTPError, TimeoutError) as exc:
                never_sent = isinstance(exc, (httpx2.ConnectError, httpx2.ConnectTimeout))
                timed_out = isinstance(exc, (httpx2.TimeoutException, TimeoutError))
                kind = f"timed out after {timeout:.1f} s" if timed_out else "connection failed"
                failure: OpenTrainError = TransportError(
                    f"{method} {path}: {kind} ({type(exc).__name__})", may_have_reached_server=not never_sent
                )
                log.warning("%s %s attempt %d: %s", method, path, attempt, failure.message)
                if not idempotent and not never_sent:
                    raise failure from None
                wait = policy.backoff(attempt)
            else:
                elapsed_ms = (time.monotonic() - started) * 1000
                if log.isEnabledFor(logging.INFO):
                    log.info(
                        "%s %s -> %d (%.0f ms, requestId=%s)",
                        method,
                        path,
                        response.status_code,
                        elapsed_ms,
                        _request_id(response),
                    )
                if response.headers.get(SANDBOX_HEADER) == "1" and is_loopback_host(
                    urlsplit(url).hostname or ""
                ):
                    self.sandbox_seen = True
                if response.status_code in ok:
                    return _json_object(response, f"{method} {path}")
                failure = _error_from(response, method, path)
                if response.status_code not in RETRYABLE_STATUSES or (
                    not idempotent and response.status_code != 429
                ):
                    raise failure
                asked = getattr(failure, "retry_after", None)
                wait = asked if asked is not None else policy.backoff(attempt)
            if attempt > policy.max_retries:
                raise failure
            if wait > deadline.remaining() - 0.5:
                if isinstance(failure, RateLimitError) and failure.retry_after is not None:
                    failure.message = f"{failure.message} (the API asked to wait {failure.retry_after:.0f} s)"
                raise failure
            await anyio.sleep(wait)


def new_http_client(policy: RetryPolicy | None = None, base_url: str | None = None) -> httpx2.AsyncClient:
    """The shared HTTP client: explicit timeouts, our User-Agent, no redirects.

    For a loopback ``base_url`` (a local sandbox) environment proxy variables are ignored, so the bearer
    token never travels through a proxy; a remote https origin honours ``HTTPS_PROXY``/``NO_PROXY``.
    """
    policy = policy or RetryPolicy()
    host = urlsplit(base_url).hostname if base_url else None
    return httpx2.AsyncClient(
        trust_env=not (host and is_loopback_host(host)),
        timeout=httpx2.Timeout(policy.request_timeout, connect=policy.connect_timeout),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20),
    )


def _seg(value: str) -> str:
    """Percent-encode an (already validated) id as one path segment."""
    return quote(value, safe="")


def _same_target(approval: Approval, key: str, expected: str) -> None:
    """Reject an approval that names a different target than the one asked about."""
    named = getattr(approval, key)
    if named not in (None, expected):
        raise MalformedResponseError(f"approval {approval.id!r} names {key} {named!r}, not {expected!r}")


def _params(**values: Any) -> dict[str, Any] | None:
    kept = {k: v for k, v in values.items() if v is not None}
    return kept or None


def _request_id(response: httpx2.Response) -> str | None:
    header = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        return header
    rid = body.get("requestId") if isinstance(body, dict) else None
    return rid if isinstance(rid, str) else header


def _json_object(response: httpx2.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise MalformedResponseError(
            f"{what}: HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None
    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"{what}: expected a JSON object, got {type(data).__name__}", status=response.status_code
        )
    return data


def _error_from(response: httpx2.Response, method: str, path: str) -> OpenTrainError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = body if isinstance(body, dict) else {}
    details = envelope.get("details")
    code = envelope.get("code")
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code if isinstance(code, str) else None,
        "request_id": _request_id(response),
        "details": details if isinstance(details, dict) else {},
    }
    message = envelope.get("error")
    if not isinstance(message, str) or not message:
        if 300 <= status < 400:
            return MalformedResponseError(
                f"{method} {path}: unexpected redirect (HTTP {status}); not followed", **kwargs
            )
        message = f"HTTP {status} without an OpenTrain error body"
    if 200 <= status < 400:
        return MalformedResponseError(f"{method} {path}: unexpected HTTP {status}", **kwargs)
    cls = error_class_for(status)
    if cls is RateLimitError:
        return RateLimitError(
            message, retry_after=parse_retry_after(response.headers.get("retry-after")), **kwargs
        )
    return cls(message, **kwargs)


def _parse(model: type[Any], data: Any, what: str) -> Any:
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise MalformedResponseError(f"{what} has no object where one was expected")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise MalformedResponseError(f"{what} is missing or has invalid fields: {fields}") from None
