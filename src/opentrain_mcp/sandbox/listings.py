"""Reads of the hiring side: `GET /jobs/mine`, `GET /jobs/{id}/proposals`, `GET /proposals/{id}` and the
`GET /updates` event feed."""

from __future__ import annotations

import copy
from typing import Any

from .approvals import Approvals
from .errors import ApiError
from .records import Event, Proposal, Token
from .seed import PROPOSAL_STATUS_LABELS
from .store import has_scope, newest_first, paginate, parse_limit

JOB_STATUSES = ["DRAFT", "OPEN", "ONGOING", "COMPLETED", "ARCHIVED", "PENDING_APPROVAL"]
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


class Listings(Approvals):
    """Jobs, proposals and the updates feed."""

    def _event_wire(self, event: Event) -> dict[str, Any]:
        data = dict(event["data"])
        if event["type"] == "approval.confirmed":
            approval = self._data["approvals"].get(data.get("approvalId") or "")
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

    def updates(self, token: Token, cursor: str | None, limit: str | None) -> dict[str, Any]:
        """`GET /updates`: the account's events after ``cursor``, oldest first, filtered by the token's scopes."""
        with self._lock:
            self._require_scope(token, *UPDATE_SCOPES)
            size = parse_limit(limit, 50, 200)
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

    def _proposal_wire(self, proposal: Proposal, detail: bool) -> dict[str, Any]:
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
        self, token: Token, job_id: str, status: str | None, cursor: str | None, limit: str | None
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
            size = parse_limit(limit, 25, 100)
            items = [
                p
                for p in self._data["proposals"].values()
                if p["jobId"] == job_id and (wanted is None or p["status"] == wanted)
            ]
            page, next_cursor = paginate(newest_first(items), cursor, size)
            return {
                "proposals": [self._proposal_wire(p, detail=False) for p in page],
                "nextCursor": next_cursor,
            }

    def get_proposal(self, token: Token, proposal_id: str) -> dict[str, Any]:
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
        self, token: Token, status: str | None, cursor: str | None, limit: str | None
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
            size = parse_limit(limit, 25, 100)
            items = [
                j
                for j in self._data["jobs"].values()
                if j["accountId"] == token["accountId"] and (wanted is None or j["status"] == wanted)
            ]
            page, next_cursor = paginate(newest_first(items), cursor, size)
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
