"""Approvals (human co-signs): the wire shape, lazy expiry, ``GET /approvals/{id}``, the human's decline, and
the views the approval pages render. Each co-signed endpoint's own effects live with its domain."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from .accounts import Accounts
from .errors import ApiError, SandboxError
from .fees import fund_charge, hire_charge
from .records import Approval, Contract, Milestone, Token
from .seed import iso, new_id, parse_iso

APPROVAL_TTL = dt.timedelta(hours=72)
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


class Approvals(Accounts):
    """Pending co-signs and how they resolve."""

    def _approval_wire(self, approval: Approval) -> dict[str, Any]:
        url = f"{self._base_url}/approvals/{approval['id']}"
        record: dict[str, Any] = dict(approval)
        return {
            key: url if key == "approvalUrl" else copy.deepcopy(record[key]) for key in APPROVAL_WIRE_KEYS
        }

    def _new_approval(
        self,
        approval_type: str,
        token: Token,
        *,
        job_id: str | None,
        contract_id: str | None = None,
        milestone_id: str | None = None,
        proposal_id: str | None = None,
        terms: dict[str, Any] | None = None,
        override: bool = False,
    ) -> Approval:
        """Record a new pending approval requested by ``token``."""
        now = self.now()
        approval: Approval = {
            "id": new_id(self._rng),
            "type": approval_type,
            "status": "pending",
            "accountId": token["accountId"],
            "tokenId": token["id"],
            "contractId": contract_id,
            "milestoneId": milestone_id,
            "jobId": job_id,
            "proposalId": proposal_id,
            "expiresAt": iso(now + APPROVAL_TTL),
            "resolvedAt": None,
            "result": None,
            "createdAt": iso(now),
            "terms": None if terms is None else dict(terms),
            "requestedTerms": None if terms is None else dict(terms),
            "confirmNotFitOverride": override,
            "paymentSource": None,
        }
        self._data["approvals"][approval["id"]] = approval
        return approval

    def _resolve(self, approval: Approval, status: str, resolved_at: str, result: Any = None) -> None:
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
        self._after_resolve(approval)

    def _after_resolve(self, approval: Approval) -> None:
        """Hook for domains that mirror a pending co-sign on their own records."""

    def _expire_if_due(self, approval: Approval) -> bool:
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

    def _pending(self, approval_type: str, key: str, value: str) -> Approval | None:
        """The pending approval of ``approval_type`` whose ``key`` is ``value`` (lazily expiring others)."""
        found = None
        for approval in self._data["approvals"].values():
            record: dict[str, Any] = dict(approval)
            if approval["type"] == approval_type and record[key] == value:
                self._expire_if_due(approval)
                if approval["status"] == "pending":
                    found = approval
        return found

    @staticmethod
    def _visible(approval: Approval, token: Token) -> bool:
        return approval["accountId"] == token["accountId"] or approval.get("tokenId") == token["id"]

    def _find_milestone(self, milestone_id: str | None) -> tuple[Contract | None, Milestone | None]:
        for contract in self._data["contracts"].values():
            for milestone in contract["milestones"]:
                if milestone["id"] == milestone_id:
                    return contract, milestone
        return None, None

    # ---------------------------------------------------------------- the API

    def get_approval(self, token: Token, approval_id: str) -> dict[str, Any]:
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

    # ------------------------------------------------------ the human's side

    def _approval_or_404(self, approval_id: str) -> Approval:
        approval = self._data["approvals"].get(approval_id)
        if approval is None:
            raise SandboxError(404, f"No approval with id {approval_id!r}.")
        return approval

    def _not_pending(self, approval: Approval) -> SandboxError:
        return SandboxError(
            409,
            f"This approval is {approval['status']}; only pending approvals can be confirmed or declined.",
            approval=self._approval_wire(approval),
        )

    def _pending_approval(self, approval_id: str) -> Approval:
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

    def approval_view(self, approval_id: str) -> dict[str, Any] | None:
        """Everything the approval page shows for one approval (after lazy expiry), or ``None``."""
        with self._lock:
            approval = self._data["approvals"].get(approval_id)
            if approval is None:
                return None
            if self._expire_if_due(approval):
                self._save()
            return self._view(approval)

    def _view(self, approval: Approval) -> dict[str, Any]:
        account = self._data["accounts"][approval["accountId"]]
        proposal = self._data["proposals"].get(approval.get("proposalId") or "")
        job = self._data["jobs"].get(approval.get("jobId") or "")
        contract = self._data["contracts"].get(approval.get("contractId") or "")
        _, milestone = self._find_milestone(approval.get("milestoneId"))
        token = self._data["tokens"].get(approval.get("tokenId") or "")
        terms = approval.get("terms")
        charge = hire_charge(terms["amount"]) if terms else None
        if approval["type"] == "milestone_fund" and milestone and milestone["amountUsd"] is not None:
            charge = fund_charge(milestone["amountUsd"])
        return copy.deepcopy(
            {
                "approval": self._approval_wire(approval),
                "terms": terms,
                "requestedTerms": approval.get("requestedTerms"),
                "charge": charge,
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
