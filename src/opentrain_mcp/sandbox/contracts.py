"""Contracts and their milestones: `GET /contracts`, `GET /contracts/{id}` and what confirming a
``milestone_fund``, ``milestone_approve`` or ``contract_end`` approval does to them."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from .approvals import Approvals
from .errors import ApiError
from .records import Approval, Contract, Milestone, Token
from .seed import new_id
from .store import newest_first

CONTRACT_STATUSES = ["active", "ended"]
HIDDEN_MILESTONE_STATUSES = ("CANCELLED", "REFUNDED")
CONTRACT_WIRE_HEAD = (
    "id",
    "status",
    "title",
    "jobId",
    "proposalId",
    "paymentType",
    "rateUsd",
    "estimatedTotalUsd",
    "estimatedVolume",
)
CONTRACT_WIRE_TAIL = ("startDate", "endDate", "createdAt", "updatedAt", "freelancer")


class Contracts(Approvals):
    """The account's contracts and the money moves on their milestones."""

    def _contract_wire(self, contract: Contract, detail: bool) -> dict[str, Any]:
        milestones = [
            copy.deepcopy(m) for m in contract["milestones"] if m["status"] not in HIDDEN_MILESTONE_STATUSES
        ]
        record: dict[str, Any] = dict(contract)
        active = next((m for m in milestones if m["status"] == "ACTIVE_FUNDED"), None)
        ordered: dict[str, Any] = {key: copy.deepcopy(record[key]) for key in CONTRACT_WIRE_HEAD}
        ordered["hasActiveMilestone"] = active is not None
        for key in CONTRACT_WIRE_TAIL:
            ordered[key] = copy.deepcopy(record[key])
        ordered["milestones"] = milestones
        if detail:
            funded = sum(
                (
                    Decimal(repr(m["amountUsd"]))
                    for m in milestones
                    if m["status"] in ("ACTIVE_FUNDED", "PAID") and m["amountUsd"] is not None
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

    def list_contracts(self, token: Token, job_id: str | None, status: str | None) -> dict[str, Any]:
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
            return {"contracts": [self._contract_wire(c, detail=False) for c in newest_first(items)]}

    def get_contract(self, token: Token, contract_id: str) -> dict[str, Any]:
        """`GET /contracts/{id}` (404 for unknown or another account's contract)."""
        with self._lock:
            self._require_scope(token, "payments:read")
            contract = self._data["contracts"].get(contract_id)
            if contract is None or contract["accountId"] != token["accountId"]:
                raise ApiError(
                    404, "Contract not found.", {"resource": "contracts", "contractId": contract_id}
                )
            return {"contract": self._contract_wire(contract, detail=True)}

    # ------------------------------------------------------ the human's side

    def _confirm_payment(self, approval: Approval) -> None:
        """Confirm a ``milestone_fund``, ``milestone_approve`` or ``contract_end`` approval (§5.4 results)."""
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
            invoice_id = (milestone["invoiceId"] if milestone else None) or new_id(self._rng)
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

    def _milestone_event(self, account_id: str, contract: Contract, milestone: Milestone) -> None:
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
            contract = self._data["contracts"].get(contract_id or "")
            main_token = self._data["tokens"][self._data["fixtures"]["tokenId"]]
            approval = self._new_approval(
                approval_type,
                main_token,
                job_id=job_id or (contract["jobId"] if contract else None),
                contract_id=contract_id,
                milestone_id=milestone_id,
            )
            self._save()
            return self._approval_wire(approval)
