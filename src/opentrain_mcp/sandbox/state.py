"""The sandbox's in-memory store: seed data, the clock, the Public API behaviour, faults and the request log.

All reads and writes go through one ``threading.RLock`` so a test thread can inspect or reset the state while
uvicorn serves requests from another thread. With ``state_file`` set, the store is written as JSON after every
mutation and loaded on start (faults and the request log are not persisted).
"""

from __future__ import annotations

import base64
import binascii
import collections
import copy
import datetime as dt
import json
import os
import random
import threading
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from .errors import ApiError, SandboxError
from .faults import Fault, parse_fault
from .seed import (
    FEATURE_KEYS,
    PROPOSAL_STATUS_LABELS,
    build_seed,
    iso,
    make_contract,
    new_id,
    parse_iso,
)
from .validation import merge_terms, parse_hire_body

API_PREFIX = "/api/public/v1"
DEFAULT_BASE_URL = "http://127.0.0.1:8787"
STATE_VERSION = 1
APPROVAL_TTL = dt.timedelta(hours=72)
MARKETPLACE_FEE_RATE = Decimal("0.10")
CONTRACT_FEE = Decimal("9.95")
CENT = Decimal("0.01")
REQUEST_LOG_LIMIT = 1000

HIRE_MESSAGE = (
    "Hire request recorded. A signed-in human must confirm this approval in the OpenTrain app before the "
    "freelancer is hired and any money moves."
)
JOB_STATUSES = ["DRAFT", "OPEN", "ONGOING", "COMPLETED", "ARCHIVED", "PENDING_APPROVAL"]
CONTRACT_STATUSES = ["active", "ended"]
HIDDEN_MILESTONE_STATUSES = ("CANCELLED", "REFUNDED")
UPDATE_SCOPES = ("proposals:read", "messages:read", "payments:read")
EVENT_SCOPES = {
    "proposal.received": "proposals:read",
    "proposal.status_changed": "proposals:read",
    "message.received": "messages:read",
    "contract.created": "payments:read",
    "milestone.status_changed": "payments:read",
    "payment.pending": "payments:read",
    "approval.confirmed": "payments:read",
    "contract.budget_state_changed": "payments:read",
}
APPROVAL_WIRE_KEYS = (
    "id",
    "type",
    "status",
    "contractId",
    "milestoneId",
    "jobId",
    "proposalId",
    "approvalUrl",
    "expiresAt",
    "resolvedAt",
    "result",
    "createdAt",
)
"""The approval object's fields in the order the API documents them."""


def hire_charge(amount: float | int) -> dict[str, Any]:
    """The documented hire charge (A16): amount + round_half_up(10 %) + $9.95, as Decimals plus total cents."""
    value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    fee = (value * MARKETPLACE_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)
    total = value + fee + CONTRACT_FEE
    return {
        "amount": value,
        "marketplaceFee": fee,
        "contractFee": CONTRACT_FEE,
        "total": total,
        "totalCents": int(total * 100),
    }


def has_scope(granted: list[str], needed: str) -> bool:
    """True when ``granted`` covers ``needed`` (``:write`` implies ``:read``)."""
    if needed in granted:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in granted


def _encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise ApiError(400, f"limit must be an integer between 1 and {maximum}.", {"field": "limit"})
    return value


def _paginate(
    items: list[dict[str, Any]], cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    start = 0
    if cursor:
        item_id = _decode_cursor(cursor)
        index = next((i for i, item in enumerate(items) if item["id"] == item_id), None)
        if index is None:
            raise ApiError(400, "Invalid cursor.", {"field": "cursor"})
        start = index + 1
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (_encode_cursor(page[-1]["id"]) if page and more else None)


def _newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: (item["createdAt"], item["id"]), reverse=True)


def _rng_state_to_json(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(raw: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = raw
    return (version, tuple(internal), gauss)


class SandboxState:
    """The whole sandbox world for one seed: data, clock, faults and request log (thread-safe)."""

    def __init__(
        self,
        seed: int = 0,
        base_url: str = DEFAULT_BASE_URL,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.seed = seed
        self._base_url = base_url.rstrip("/")
        self.state_file = Path(state_file) if state_file is not None else None
        self._faults: list[Fault] = []
        self._fault_seq = 0
        self._requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=REQUEST_LOG_LIMIT)
        self._clock_offset = 0.0
        self._rng = random.Random(seed)
        self._data: dict[str, Any] = {}
        self._token_index: dict[str, str] = {}
        if self.state_file is not None and self.state_file.exists() and self.state_file.stat().st_size > 0:
            self._load(self.state_file)
        else:
            self._reseed()
            self._save()

    # ------------------------------------------------------------------ basics

    @property
    def base_url(self) -> str:
        """The sandbox's own origin, e.g. ``http://127.0.0.1:8787`` (used for approvalUrl, claimUrl, ...)."""
        with self._lock:
            return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        with self._lock:
            self._base_url = value.rstrip("/")

    @property
    def api_base_url(self) -> str:
        """``base_url`` + ``/api/public/v1``."""
        return self.base_url + API_PREFIX

    @property
    def token(self) -> str:
        """The main sandbox token (every scope, claimed account)."""
        return self._token_string("tokenId")

    @property
    def limited_token(self) -> str:
        """A token of the same account with only the pre-claim scope set (no ``proposals:write``)."""
        return self._token_string("limitedTokenId")

    @property
    def foreign_token(self) -> str:
        """A token of a second, unrelated employer account."""
        return self._token_string("foreignTokenId")

    def _token_string(self, key: str) -> str:
        with self._lock:
            return str(self._data["tokens"][self._data["fixtures"][key]]["token"])

    def now(self) -> dt.datetime:
        """The sandbox clock: real UTC time plus the offset set by ``advance_clock``."""
        with self._lock:
            offset = self._clock_offset
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)

    def now_iso(self) -> str:
        """The sandbox clock as an API timestamp."""
        return iso(self.now())

    def clock_info(self) -> dict[str, Any]:
        """``{"now", "offsetSeconds"}``."""
        with self._lock:
            return {"now": self.now_iso(), "offsetSeconds": self._clock_offset}

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock forward by ``seconds`` (≥ 0)."""
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= 10 * 365 * 86400
        ):
            raise ValueError("'advanceSeconds' must be a number between 0 and 315360000")
        with self._lock:
            self._clock_offset += float(seconds)
            self._save()
            return self.clock_info()

    def fixtures(self) -> dict[str, Any]:
        """Tokens, URLs and the ids of the seeded jobs/proposals/contracts, by role."""
        with self._lock:
            fx = self._data["fixtures"]
            return {
                "seed": self.seed,
                "token": self.token,
                "limitedToken": self.limited_token,
                "foreignToken": self.foreign_token,
                "baseUrl": self.base_url,
                "apiBaseUrl": self.api_base_url,
                "accountId": fx["accountId"],
                "foreignAccountId": fx["foreignAccountId"],
                "jobs": dict(fx["jobs"]),
                "proposals": copy.deepcopy(fx["proposals"]),
                "contracts": dict(fx["contracts"]),
                "approvals": dict(fx["approvals"]),
            }

    def reset(self) -> None:
        """Reseed to the initial state for ``self.seed``; clears the clock offset, faults and request log."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._reseed()
            self._save()

    # ------------------------------------------------------------- persistence

    def _reseed(self) -> None:
        self._rng = random.Random(self.seed)
        self._clock_offset = 0.0
        self._data = build_seed(self._rng, self.now())
        self._reindex()

    def _reindex(self) -> None:
        self._token_index = {t["token"]: t["id"] for t in self._data["tokens"].values()}

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported state version {raw.get('version')!r}")
            self.seed = int(raw["seed"])
            self._clock_offset = float(raw["clockOffsetSeconds"])
            self._rng = random.Random()
            self._rng.setstate(_rng_state_from_json(raw["rngState"]))
            self._data = raw["data"]
            self._reindex()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot load sandbox state file {path}: {exc}") from exc

    def _save(self) -> None:
        if self.state_file is None:
            return
        snapshot = {
            "version": STATE_VERSION,
            "seed": self.seed,
            "clockOffsetSeconds": self._clock_offset,
            "rngState": _rng_state_to_json(self._rng.getstate()),
            "data": self._data,
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(snapshot, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # ------------------------------------------------------------- auth, gates

    def authenticate(self, authorization: str | None) -> dict[str, Any]:
        """Resolve an ``Authorization`` header to a token record or raise 401."""
        if not authorization or not authorization.strip():
            raise ApiError(401, "Missing API token. Send 'Authorization: Bearer ot_pat_...'.")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Malformed Authorization header; expected 'Bearer ot_pat_...'.")
        with self._lock:
            token_id = self._token_index.get(value.strip())
            if token_id is None:
                raise ApiError(401, "Invalid, expired or revoked API token.")
            return copy.deepcopy(self._data["tokens"][token_id])

    def _account(self, token: dict[str, Any]) -> dict[str, Any]:
        return self._data["accounts"][token["accountId"]]

    @staticmethod
    def _require_scope(token: dict[str, Any], *any_of: str) -> None:
        if any(has_scope(token["scopes"], scope) for scope in any_of):
            return
        if len(any_of) == 1:
            message = f"This token lacks the {any_of[0]} scope."
        else:
            message = f"This token needs at least one of these scopes: {', '.join(any_of)}."
        raise ApiError(403, message, {"requiredScopes": list(any_of), "grantedScopes": list(token["scopes"])})

    @staticmethod
    def _require_feature(account: dict[str, Any], key: str) -> None:
        if not account["features"].get(key):
            raise ApiError(403, f"The {key} feature is not enabled for this account.", {"featureKey": key})

    def _require_claimed(self, account: dict[str, Any]) -> None:
        if not account["claimed"]:
            raise ApiError(
                403,
                "A human must claim this agent account before it can hire AI trainers.",
                {
                    "reason": "account_claim_required",
                    "action": "hire AI trainers",
                    "claimUrl": f"{self._base_url}/claim",
                },
            )

    def _own_job(self, token: dict[str, Any], job_id: str) -> dict[str, Any]:
        job = self._data["jobs"].get(job_id)
        if job is None:
            raise ApiError(404, "Job not found.", {"resource": "jobs", "jobId": job_id})
        if job["accountId"] != token["accountId"]:
            raise ApiError(403, "This job belongs to another account.", {"jobId": job_id})
        return job

    # ---------------------------------------------------------------- events

    def _emit(
        self, account_id: str, event_type: str, resource_id: str, job_id: str | None, data: dict[str, Any]
    ) -> None:
        self._data["eventSeq"] += 1
        self._data["events"].append(
            {
                "seq": self._data["eventSeq"],
                "accountId": account_id,
                "type": event_type,
                "createdAt": self.now_iso(),
                "resourceId": resource_id,
                "jobId": job_id,
                "data": data,
            }
        )

    def _event_wire(self, event: dict[str, Any]) -> dict[str, Any]:
        data = dict(event["data"])
        if event["type"] == "approval.confirmed":
            approval = self._data["approvals"].get(data.get("approvalId"))
            if approval is not None:
                data["approval"] = self._approval_wire(approval)
        return {
            "id": str(event["seq"]),
            "type": event["type"],
            "apiVersion": "v1",
            "createdAt": event["createdAt"],
            "resourceId": event["resourceId"],
            "jobId": event["jobId"],
            "data": data,
        }

    # ------------------------------------------------------------- approvals

    def _approval_wire(self, approval: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._base_url}/approvals/{approval['id']}"
        return {
            key: url if key == "approvalUrl" else copy.deepcopy(approval[key]) for key in APPROVAL_WIRE_KEYS
        }

    def _resolve(self, approval: dict[str, Any], status: str, resolved_at: str, result: Any = None) -> None:
        approval["status"] = status
        approval["resolvedAt"] = resolved_at
        approval["result"] = result
        self._emit(
            approval["accountId"],
            "approval.confirmed",
            approval["id"],
            approval.get("jobId"),
            {"approvalId": approval["id"], "status": status},
        )

    def _expire_if_due(self, approval: dict[str, Any]) -> bool:
        """Lazy expiry (A4): a pending approval touched after ``expiresAt`` becomes expired."""
        if approval["status"] != "pending" or self.now() < parse_iso(approval["expiresAt"]):
            return False
        self._resolve(approval, "expired", approval["expiresAt"])
        return True

    def _sweep_expired(self, account_id: str | None = None) -> bool:
        changed = False
        for approval in list(self._data["approvals"].values()):
            if account_id is None or approval["accountId"] == account_id:
                changed = self._expire_if_due(approval) or changed
        return changed

    def _pending_hire(self, proposal_id: str) -> dict[str, Any] | None:
        found = None
        for approval in self._data["approvals"].values():
            if approval["type"] == "proposal_hire" and approval["proposalId"] == proposal_id:
                self._expire_if_due(approval)
                if approval["status"] == "pending":
                    found = approval
        return found

    @staticmethod
    def _visible(approval: dict[str, Any], token: dict[str, Any]) -> bool:
        return approval["accountId"] == token["accountId"] or approval.get("tokenId") == token["id"]

    # --------------------------------------------------------------- the API

    def hire(self, token: dict[str, Any], proposal_id: str, raw_body: bytes) -> dict[str, Any]:
        """`POST /proposals/{id}/hire` with the checks in the order of assumption A7; returns the 202 body."""
        with self._lock:
            self._require_scope(token, "proposals:write")
            account = self._account(token)
            self._require_feature(account, "public_api_hiring")
            self._require_claimed(account)
            terms, override = parse_hire_body(raw_body)
            proposal = self._data["proposals"].get(proposal_id)
            if proposal is None:
                raise ApiError(
                    404, "Proposal not found.", {"resource": "proposals", "proposalId": proposal_id}
                )
            job = self._data["jobs"][proposal["jobId"]]
            if job["accountId"] != account["id"]:
                raise ApiError(
                    403,
                    "This proposal is on a job that belongs to another account.",
                    {"proposalId": proposal_id},
                )
            if proposal["status"] == "HIRED":
                raise ApiError(
                    409,
                    "This proposal was already accepted: the freelancer is hired.",
                    {"reason": "already_accepted"},
                )
            if proposal["status"] == "NOT_A_FIT" and not override:
                raise ApiError(
                    409,
                    "This proposal is marked Not a fit. Resend with confirmNotFitOverride: true only if the human "
                    "confirms the hire.",
                    {"reason": "not_fit_confirmation_required"},
                )
            charge = hire_charge(terms["amount"])
            if not account["paymentMethod"] and account["credits"]["availableCents"] < charge["totalCents"]:
                raise ApiError(
                    409,
                    "No payment method on file and the credit balance does not cover the full charge. A human must "
                    "add a card or credits.",
                    {"reason": "payment_method_required", "billingUrl": f"{self._base_url}/billing"},
                )
            pending = self._pending_hire(proposal_id)
            if pending is not None and pending["terms"] == terms:
                self._save()
                return {"approval": self._approval_wire(pending), "message": HIRE_MESSAGE}
            now = self.now()
            if pending is not None:  # supersede (A1): the old request reads expired
                self._resolve(pending, "expired", iso(now))
            approval = {
                "id": new_id(self._rng),
                "type": "proposal_hire",
                "status": "pending",
                "accountId": account["id"],
                "tokenId": token["id"],
                "contractId": None,
                "milestoneId": None,
                "jobId": job["id"],
                "proposalId": proposal_id,
                "expiresAt": iso(now + APPROVAL_TTL),
                "resolvedAt": None,
                "result": None,
                "createdAt": iso(now),
                "terms": dict(terms),
                "requestedTerms": dict(terms),
                "confirmNotFitOverride": override,
                "paymentSource": None,
            }
            self._data["approvals"][approval["id"]] = approval
            self._save()
            return {"approval": self._approval_wire(approval), "message": HIRE_MESSAGE}

    def get_approval(self, token: dict[str, Any], approval_id: str) -> dict[str, Any]:
        """`GET /approvals/{id}` (404 unless visible to the token; lazy expiry)."""
        with self._lock:
            self._require_scope(token, "payments:read")
            approval = self._data["approvals"].get(approval_id)
            if approval is None or not self._visible(approval, token):
                raise ApiError(
                    404, "Approval not found.", {"resource": "approvals", "approvalId": approval_id}
                )
            if self._expire_if_due(approval):
                self._save()
            return {"approval": self._approval_wire(approval)}

    def updates(self, token: dict[str, Any], cursor: str | None, limit: str | None) -> dict[str, Any]:
        """`GET /updates`: the account's events after ``cursor``, oldest first, filtered by the token's scopes."""
        with self._lock:
            self._require_scope(token, *UPDATE_SCOPES)
            size = _parse_limit(limit, 50, 200)
            cursor = cursor or None
            if cursor is not None and not cursor.isdigit():
                raise ApiError(
                    400, "cursor must be a numeric event id from a previous nextCursor.", {"field": "cursor"}
                )
            if self._sweep_expired(token["accountId"]):
                self._save()
            readable = {kind for kind, scope in EVENT_SCOPES.items() if has_scope(token["scopes"], scope)}
            after = int(cursor) if cursor is not None else 0
            matching = [
                event
                for event in self._data["events"]
                if event["accountId"] == token["accountId"]
                and event["type"] in readable
                and event["seq"] > after
            ]
            page = matching[:size]
            return {
                "events": [self._event_wire(event) for event in page],
                "nextCursor": str(page[-1]["seq"]) if page else cursor,
                "hasMore": len(matching) > size,
            }

    def _proposal_wire(self, proposal: dict[str, Any], detail: bool) -> dict[str, Any]:
        job = self._data["jobs"][proposal["jobId"]]
        wire: dict[str, Any] = {
            "id": proposal["id"],
            "jobId": proposal["jobId"],
            "jobTitle": job["title"],
            "createdAt": proposal["createdAt"],
            "updatedAt": proposal["updatedAt"],
            "status": {"raw": proposal["status"], "label": PROPOSAL_STATUS_LABELS[proposal["status"]]},
            "bid": copy.deepcopy(proposal["bid"]),
            "candidate": copy.deepcopy(proposal["candidate"]),
            "metrics": copy.deepcopy(proposal["metrics"]),
        }
        if detail:
            contract = self._data["contracts"].get(proposal.get("contractId") or "")
            wire["aiInterview"] = copy.deepcopy(proposal["aiInterview"])
            wire["verification"] = copy.deepcopy(proposal["verification"])
            wire["openLabel"] = None
            wire["contract"] = (
                None
                if contract is None
                else {"id": contract["id"], "status": contract["status"], "createdAt": contract["createdAt"]}
            )
        return wire

    def list_proposals(
        self, token: dict[str, Any], job_id: str, status: str | None, cursor: str | None, limit: str | None
    ) -> dict[str, Any]:
        """`GET /jobs/{id}/proposals`: newest first, optional status filter, cursor paging."""
        with self._lock:
            self._require_scope(token, "proposals:read")
            self._own_job(token, job_id)
            wanted = None
            if status:
                wanted = status.strip().upper().replace(" ", "_").replace("-", "_")
                if wanted not in PROPOSAL_STATUS_LABELS:
                    raise ApiError(
                        400,
                        f"Unsupported proposal status {status!r}.",
                        {"field": "status", "supportedStatuses": list(PROPOSAL_STATUS_LABELS)},
                    )
            size = _parse_limit(limit, 25, 100)
            items = [
                p
                for p in self._data["proposals"].values()
                if p["jobId"] == job_id and (wanted is None or p["status"] == wanted)
            ]
            page, next_cursor = _paginate(_newest_first(items), cursor, size)
            return {
                "proposals": [self._proposal_wire(p, detail=False) for p in page],
                "nextCursor": next_cursor,
            }

    def get_proposal(self, token: dict[str, Any], proposal_id: str) -> dict[str, Any]:
        """`GET /proposals/{id}` (403 for a proposal on another account's job)."""
        with self._lock:
            self._require_scope(token, "proposals:read")
            proposal = self._data["proposals"].get(proposal_id)
            if proposal is None:
                raise ApiError(
                    404, "Proposal not found.", {"resource": "proposals", "proposalId": proposal_id}
                )
            if self._data["jobs"][proposal["jobId"]]["accountId"] != token["accountId"]:
                raise ApiError(
                    403,
                    "This proposal is on a job that belongs to another account.",
                    {"proposalId": proposal_id},
                )
            return {"proposal": self._proposal_wire(proposal, detail=True)}

    def list_jobs(
        self, token: dict[str, Any], status: str | None, cursor: str | None, limit: str | None
    ) -> dict[str, Any]:
        """`GET /jobs/mine`: the account's jobs, newest first."""
        with self._lock:
            self._require_scope(token, "jobs:read")
            wanted = status.strip().upper() if status else None
            if wanted is not None and wanted not in JOB_STATUSES:
                raise ApiError(
                    400,
                    f"Unsupported job status {status!r}.",
                    {"field": "status", "supportedStatuses": JOB_STATUSES},
                )
            size = _parse_limit(limit, 25, 100)
            items = [
                j
                for j in self._data["jobs"].values()
                if j["accountId"] == token["accountId"] and (wanted is None or j["status"] == wanted)
            ]
            page, next_cursor = _paginate(_newest_first(items), cursor, size)
            jobs = []
            for job in page:
                proposals = [p for p in self._data["proposals"].values() if p["jobId"] == job["id"]]
                jobs.append(
                    {
                        "id": job["id"],
                        "title": job["title"],
                        "status": job["status"],
                        "published": job["published"],
                        "acceptingApplicants": job["acceptingApplicants"],
                        "createdAt": job["createdAt"],
                        "updatedAt": job["updatedAt"],
                        "jobUrl": f"{self._base_url}/jobs/{job['id']}",
                        "proposalCounts": {
                            "total": len(proposals),
                            "unreviewed": sum(1 for p in proposals if p["status"] == "UNREVIEWED"),
                        },
                    }
                )
            return {"jobs": jobs, "nextCursor": next_cursor}

    def _contract_wire(self, contract: dict[str, Any], detail: bool) -> dict[str, Any]:
        milestones = [
            copy.deepcopy(m) for m in contract["milestones"] if m["status"] not in HIDDEN_MILESTONE_STATUSES
        ]
        wire = {
            key: copy.deepcopy(value)
            for key, value in contract.items()
            if key not in ("accountId", "milestones")
        }
        wire.pop("jobDmConversationId", None)
        active = next((m for m in milestones if m["status"] == "ACTIVE_FUNDED"), None)
        ordered: dict[str, Any] = {}
        for key in (
            "id",
            "status",
            "title",
            "jobId",
            "proposalId",
            "paymentType",
            "rateUsd",
            "estimatedTotalUsd",
            "estimatedVolume",
        ):
            ordered[key] = wire[key]
        ordered["hasActiveMilestone"] = active is not None
        for key in ("startDate", "endDate", "createdAt", "updatedAt", "freelancer"):
            ordered[key] = wire[key]
        ordered["milestones"] = milestones
        if detail:
            funded = sum(
                (
                    Decimal(repr(m["amountUsd"]))
                    for m in milestones
                    if m["status"] in ("ACTIVE_FUNDED", "PAID")
                ),
                Decimal(0),
            )
            ordered["jobDmConversationId"] = contract["jobDmConversationId"]
            ordered["budget"] = {
                "contractId": contract["id"],
                "paymentType": contract["paymentType"],
                "state": "OK",
                "fundedVolume": 0,
                "fundedAmountUsd": int(funded) if funded == funded.to_integral_value() else float(funded),
                "consumed": {"seconds": 0, "hours": 0, "labels": 0, "tasks": 0},
                "consumedVolume": 0,
                "remainingVolume": 0,
                "consumedFraction": 0,
                "activeMilestone": None
                if active is None
                else {
                    "id": active["id"],
                    "name": active["name"],
                    "amountUsd": active["amountUsd"],
                    "volume": active["volume"],
                    "status": active["status"],
                },
                "lastUsageAt": None,
            }
        return ordered

    def list_contracts(self, token: dict[str, Any], job_id: str | None, status: str | None) -> dict[str, Any]:
        """`GET /contracts`: newest first, optional ``jobId`` / ``status`` filters, unpaginated (A15)."""
        with self._lock:
            self._require_scope(token, "payments:read")
            if job_id:
                self._own_job(token, job_id)
            if status and status not in CONTRACT_STATUSES:
                raise ApiError(400, "status must be 'active' or 'ended'.", {"field": "status"})
            items = [
                c
                for c in self._data["contracts"].values()
                if c["accountId"] == token["accountId"]
                and (not job_id or c["jobId"] == job_id)
                and (not status or c["status"] == status)
            ]
            return {"contracts": [self._contract_wire(c, detail=False) for c in _newest_first(items)]}

    def get_contract(self, token: dict[str, Any], contract_id: str) -> dict[str, Any]:
        """`GET /contracts/{id}` (404 for unknown or another account's contract)."""
        with self._lock:
            self._require_scope(token, "payments:read")
            contract = self._data["contracts"].get(contract_id)
            if contract is None or contract["accountId"] != token["accountId"]:
                raise ApiError(
                    404, "Contract not found.", {"resource": "contracts", "contractId": contract_id}
                )
            return {"contract": self._contract_wire(contract, detail=True)}

    def auth_me(self, token: dict[str, Any]) -> dict[str, Any]:
        """`GET /auth/me` (documented shape only; the claimed state stays internal, A13)."""
        with self._lock:
            account = self._account(token)
            owner = account["owner"]
            return {
                "actor": {
                    "userId": owner["userId"],
                    "email": owner["email"],
                    "firstName": owner["firstName"],
                    "lastName": owner["lastName"],
                    "fullName": f"{owner['firstName']} {owner['lastName']}",
                    "userType": "EMPLOYER",
                },
                "token": {
                    "id": token["id"],
                    "label": token["label"],
                    "scopes": list(token["scopes"]),
                    "ownerOrganizationId": None,
                },
                "account": {
                    "kind": "employer_organization",
                    "organizationId": account["id"],
                    "ownerUserId": owner["userId"],
                    "memberRole": "OWNER",
                },
            }

    def capabilities(self, token: dict[str, Any]) -> dict[str, Any]:
        """`GET /job-drafts/capabilities` (any valid token): the hiring-related feature flags."""
        with self._lock:
            features = self._account(token)["features"]
            return {
                "capabilities": {
                    "hiring": bool(features.get("public_api_hiring")),
                    "paymentsWrite": bool(features.get("public_api_payments_write")),
                    "credits": bool(features.get("public_api_credits")),
                }
            }

    def credits(self, token: dict[str, Any]) -> dict[str, Any]:
        """`GET /credits` (``payments:read`` + ``public_api_credits``)."""
        with self._lock:
            self._require_scope(token, "payments:read")
            account = self._account(token)
            self._require_feature(account, "public_api_credits")
            credits = account["credits"]
            return {
                "credits": {
                    "availableCents": credits["availableCents"],
                    "reservedCents": credits["reservedCents"],
                    "currency": "usd",
                    "recentEntries": copy.deepcopy(list(reversed(credits["entries"][-10:]))),
                }
            }

    # ------------------------------------------------------ the human's side

    def _approval_or_404(self, approval_id: str) -> dict[str, Any]:
        approval = self._data["approvals"].get(approval_id)
        if approval is None:
            raise SandboxError(404, f"No approval with id {approval_id!r}.")
        return approval

    def _not_pending(self, approval: dict[str, Any]) -> SandboxError:
        return SandboxError(
            409,
            f"This approval is {approval['status']}; only pending approvals can be confirmed or declined.",
            approval=self._approval_wire(approval),
        )

    def confirm_approval(
        self, approval_id: str, milestone: Any = None, payment_source: str | None = None
    ) -> dict[str, Any]:
        """Confirm as the human would (A5/A6); ``milestone`` edits win; returns the approval's wire JSON.

        ``payment_source`` is ``"card"``, ``"credits"`` or ``None``/``"auto"`` (card if on file, else credits).
        Raises ``SandboxError`` 404 (unknown), 409 (not pending / cannot pay), 400 (invalid edits).
        """
        if payment_source not in (None, "auto", "card", "credits"):
            raise SandboxError(400, "paymentSource must be 'card', 'credits' or 'auto'.")
        with self._lock:
            approval = self._pending_approval(approval_id)
            if approval["type"] == "proposal_hire":
                self._confirm_hire(approval, milestone, payment_source)
            else:
                self._confirm_other(approval)
            self._save()
            return self._approval_wire(approval)

    def _pending_approval(self, approval_id: str) -> dict[str, Any]:
        """The approval a human may still decide on (lazily expired first), else the 404/409 error."""
        approval = self._approval_or_404(approval_id)
        if self._expire_if_due(approval):
            self._save()
        if approval["status"] != "pending":
            raise self._not_pending(approval)
        return approval

    def decline_approval(self, approval_id: str) -> dict[str, Any]:
        """Decline as the human would: ``declined``, ``result: null``, nothing runs."""
        with self._lock:
            approval = self._pending_approval(approval_id)
            self._resolve(approval, "declined", self.now_iso())
            self._save()
            return self._approval_wire(approval)

    def _payment_source(self, account: dict[str, Any], cents: int, requested: str | None) -> str:
        source = (
            requested
            if requested in ("card", "credits")
            else ("card" if account["paymentMethod"] else "credits")
        )
        if source == "card" and not account["paymentMethod"]:
            raise SandboxError(
                409, "There is no card on file for this account.", reason="payment_method_required"
            )
        if source == "credits" and account["credits"]["availableCents"] < cents:
            raise SandboxError(
                409, "The credit balance does not cover the charge.", reason="payment_method_required"
            )
        return source

    def _confirm_hire(self, approval: dict[str, Any], edits: Any, payment_source: str | None) -> None:
        terms = dict(approval["terms"])
        if edits is not None:
            terms, issues = merge_terms(terms, edits)
            if issues:
                raise SandboxError(400, "Invalid milestone edits.", issues=issues)
        proposal = self._data["proposals"][approval["proposalId"]]
        if proposal["status"] == "HIRED":
            raise SandboxError(409, "This proposal is already hired.", reason="already_accepted")
        account = self._data["accounts"][approval["accountId"]]
        job = self._data["jobs"][approval["jobId"]]
        charge = hire_charge(terms["amount"])
        source = self._payment_source(account, charge["totalCents"], payment_source)
        now = self.now_iso()
        contract = make_contract(
            self._rng, account_id=account["id"], job=job, proposal=proposal, terms=terms, created_at=now
        )
        milestone = contract["milestones"][0]
        self._data["contracts"][contract["id"]] = contract
        if source == "credits":
            credits = account["credits"]
            credits["availableCents"] -= charge["totalCents"]
            credits["reservedCents"] += charge["totalCents"]
            credits["entries"].append(
                {
                    "id": new_id(self._rng),
                    "type": "HOLD",
                    "amountCents": charge["totalCents"],
                    "holdEntryId": None,
                    "jobofferId": None,
                    "contractId": contract["id"],
                    "milestoneId": milestone["id"],
                    "topUpId": None,
                    "note": "Hire confirmed: milestone amount + 10% marketplace fee + $9.95 contract fee",
                    "createdAt": now,
                }
            )
        proposal["status"] = "HIRED"
        proposal["updatedAt"] = now
        proposal["contractId"] = contract["id"]
        approval["contractId"] = contract["id"]
        approval["terms"] = terms
        approval["paymentSource"] = source
        job_id = job["id"]
        self._emit(
            account["id"],
            "proposal.status_changed",
            proposal["id"],
            job_id,
            {"proposalId": proposal["id"], "status": "HIRED"},
        )
        self._emit(
            account["id"],
            "contract.created",
            contract["id"],
            job_id,
            {"contractId": contract["id"], "jobId": job_id, "proposalId": proposal["id"]},
        )
        self._emit(
            account["id"],
            "milestone.status_changed",
            milestone["id"],
            job_id,
            {"milestoneId": milestone["id"], "contractId": contract["id"], "status": "ACTIVE_FUNDED"},
        )
        result = {
            "hired": True,
            "contractId": contract["id"],
            "jobId": job_id,
            "freelancerUserId": proposal["candidate"]["id"],
        }
        self._resolve(approval, "confirmed", now, result)

    def _find_milestone(
        self, milestone_id: str | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        for contract in self._data["contracts"].values():
            for milestone in contract["milestones"]:
                if milestone["id"] == milestone_id:
                    return contract, milestone
        return None, None

    def _confirm_other(self, approval: dict[str, Any]) -> None:
        """Confirm the co-signed payment approvals (§5.4 results); the sandbox API never creates these itself."""
        now = self.now_iso()
        contract, milestone = self._find_milestone(approval.get("milestoneId"))
        account_id = approval["accountId"]
        kind = approval["type"]
        result: dict[str, Any] | None = None
        if kind == "milestone_fund":
            invoice_id = new_id(self._rng)
            result = {"invoiceId": invoice_id, "paymentIntentId": f"pi_{new_id(self._rng)}"}
            if contract is not None and milestone is not None:
                milestone["status"] = "ACTIVE_FUNDED"
                milestone["invoiceId"] = invoice_id
                self._milestone_event(account_id, contract, milestone)
        elif kind == "milestone_approve":
            invoice_id = (milestone or {}).get("invoiceId") or new_id(self._rng)
            result = {"invoiceId": invoice_id, "payoutTransactionId": new_id(self._rng)}
            if contract is not None and milestone is not None:
                milestone["status"] = "PAID"
                self._milestone_event(account_id, contract, milestone)
        elif kind == "contract_end":
            result = {"contractEnded": True}
            ended = self._data["contracts"].get(approval.get("contractId") or "")
            if ended is not None:
                ended["status"] = "ended"
                ended["endDate"] = now
                ended["updatedAt"] = now
        self._resolve(approval, "confirmed", now, result)

    def _milestone_event(self, account_id: str, contract: dict[str, Any], milestone: dict[str, Any]) -> None:
        contract["updatedAt"] = self.now_iso()
        self._emit(
            account_id,
            "milestone.status_changed",
            milestone["id"],
            contract["jobId"],
            {"milestoneId": milestone["id"], "contractId": contract["id"], "status": milestone["status"]},
        )

    def create_approval(
        self,
        approval_type: str,
        *,
        contract_id: str | None = None,
        milestone_id: str | None = None,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        """Record a pending approval of another type (``milestone_fund``, ``milestone_approve``, ``contract_end``)
        on the main account, as those endpoints would; for demos and tests of the approval page."""
        with self._lock:
            now = self.now()
            contract = self._data["contracts"].get(contract_id or "")
            approval = {
                "id": new_id(self._rng),
                "type": approval_type,
                "status": "pending",
                "accountId": self._data["fixtures"]["accountId"],
                "tokenId": self._data["fixtures"]["tokenId"],
                "contractId": contract_id,
                "milestoneId": milestone_id,
                "jobId": job_id or (contract["jobId"] if contract else None),
                "proposalId": None,
                "expiresAt": iso(now + APPROVAL_TTL),
                "resolvedAt": None,
                "result": None,
                "createdAt": iso(now),
                "terms": None,
                "requestedTerms": None,
                "confirmNotFitOverride": False,
                "paymentSource": None,
            }
            self._data["approvals"][approval["id"]] = approval
            self._save()
            return self._approval_wire(approval)

    def approval_view(self, approval_id: str) -> dict[str, Any] | None:
        """Everything the approval page shows for one approval (after lazy expiry), or ``None``."""
        with self._lock:
            approval = self._data["approvals"].get(approval_id)
            if approval is None:
                return None
            if self._expire_if_due(approval):
                self._save()
            return self._view(approval)

    def _view(self, approval: dict[str, Any]) -> dict[str, Any]:
        account = self._data["accounts"][approval["accountId"]]
        proposal = self._data["proposals"].get(approval.get("proposalId") or "")
        job = self._data["jobs"].get(approval.get("jobId") or "")
        contract = self._data["contracts"].get(approval.get("contractId") or "")
        _, milestone = self._find_milestone(approval.get("milestoneId"))
        token = self._data["tokens"].get(approval.get("tokenId") or "")
        terms = approval.get("terms")
        return copy.deepcopy(
            {
                "approval": self._approval_wire(approval),
                "terms": terms,
                "requestedTerms": approval.get("requestedTerms"),
                "charge": hire_charge(terms["amount"]) if terms else None,
                "proposal": proposal,
                "job": job,
                "contract": contract,
                "milestone": milestone,
                "tokenLabel": token["label"] if token else None,
                "paymentSource": approval.get("paymentSource"),
                "account": {
                    "name": account["name"],
                    "paymentMethod": account["paymentMethod"],
                    "creditsAvailableCents": account["credits"]["availableCents"],
                },
            }
        )

    def approvals_overview(self) -> dict[str, list[dict[str, Any]]]:
        """Pending approvals (oldest first) and the 10 most recently resolved ones, as page views."""
        with self._lock:
            if self._sweep_expired():
                self._save()
            approvals = list(self._data["approvals"].values())
            pending = sorted((a for a in approvals if a["status"] == "pending"), key=lambda a: a["createdAt"])
            resolved = sorted(
                (a for a in approvals if a["status"] != "pending"),
                key=lambda a: a["resolvedAt"] or "",
                reverse=True,
            )
            return {
                "pending": [self._view(a) for a in pending],
                "recent": [self._view(a) for a in resolved[:10]],
            }

    # ------------------------------------------------------------ controls

    def account_info(self) -> dict[str, Any]:
        """The main account's toggles as the controls show them."""
        with self._lock:
            account = self._data["accounts"][self._data["fixtures"]["accountId"]]
            return {
                "accountId": account["id"],
                "name": account["name"],
                "claimed": account["claimed"],
                "paymentMethod": account["paymentMethod"],
                "creditsCents": account["credits"]["availableCents"],
                "reservedCents": account["credits"]["reservedCents"],
                "features": dict(account["features"]),
            }

    def update_account(self, changes: Any) -> dict[str, Any]:
        """Apply ``{"claimed", "paymentMethod", "creditsCents", "features": {...}}`` (any subset) to the main account."""
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(changes) - {"claimed", "paymentMethod", "creditsCents", "features"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        for key in ("claimed", "paymentMethod"):
            if key in changes and not isinstance(changes[key], bool):
                raise ValueError(f"'{key}' must be a boolean")
        credits = changes.get("creditsCents")
        if "creditsCents" in changes and (
            isinstance(credits, bool) or not isinstance(credits, int) or credits < 0
        ):
            raise ValueError("'creditsCents' must be a non-negative integer")
        features = changes.get("features", {})
        if not isinstance(features, dict):
            raise ValueError("'features' must be an object")
        for key, value in features.items():
            if key not in FEATURE_KEYS:
                raise ValueError(f"unknown feature {key!r}; known: {', '.join(FEATURE_KEYS)}")
            if not isinstance(value, bool):
                raise ValueError(f"feature {key!r} must be a boolean")
        with self._lock:
            account = self._data["accounts"][self._data["fixtures"]["accountId"]]
            for key in ("claimed", "paymentMethod"):
                if key in changes:
                    account[key] = changes[key]
            if "creditsCents" in changes:
                account["credits"]["availableCents"] = credits
            account["features"].update(features)
            self._save()
            return self.account_info()

    def add_fault(self, spec: Any) -> dict[str, Any]:
        """Queue a fault (see ``faults.parse_fault``); raises ``ValueError`` for a bad spec."""
        with self._lock:
            self._fault_seq += 1
            fault = parse_fault(spec, f"f{self._fault_seq}")
            self._faults.append(fault)
            return fault.to_json()

    def list_faults(self) -> list[dict[str, Any]]:
        """The queued faults with their remaining counts."""
        with self._lock:
            return [f.to_json() for f in self._faults]

    def clear_faults(self) -> int:
        """Drop every queued fault; return how many there were."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume one use of the first fault matching the request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return copy.copy(fault)
            return None

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append one entry to the request log (oldest entries drop after 1000)."""
        with self._lock:
            self._requests.append(entry)

    def update_request(self, entry: dict[str, Any], changes: dict[str, Any]) -> None:
        """Complete a logged entry (status, requestId, fault outcome) once its response is known."""
        with self._lock:
            entry.update(changes)

    def request_log(self) -> list[dict[str, Any]]:
        """The request log, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._requests))

    def clear_request_log(self) -> int:
        """Empty the request log; return how many entries it had."""
        with self._lock:
            count = len(self._requests)
            self._requests.clear()
            return count
