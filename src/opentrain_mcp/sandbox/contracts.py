"""Contracts and their milestones (§8, §9): the reads, milestone creation, the three co-signed money moves
(``milestone_fund``, ``milestone_approve``, ``contract_end``) and what confirming each does.

Assumptions where the docs are silent: a contract's pending fund/release/end requests are found per milestone
or contract across the account's tokens; ending a contract cancels its unfunded milestones and refunds the
funded ones (``CANCELLED`` / ``REFUNDED``, A14); a later milestone's funding charges amount + 10 % (A16).
``GET /contracts`` omits cancelled and refunded milestones, as documented (§8.1); ``GET /contracts/{id}``, whose
page says nothing of omissions, shows every milestone with its final state, so an ended contract still tells
what became of each milestone's escrow.
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .approvals import Approvals
from .errors import ApiError, SandboxError
from .fees import CENT, fund_charge
from .records import Account, Approval, Contract, Milestone, Token
from .seed import date_to_iso, new_id
from .store import newest_first
from .validation import parse_milestone_body

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
PAYMENT_TYPES = ("FIXED_PRICE", "PAY_PER_HOUR", "PAY_PER_LABEL")
PAYMENTS_ACTION = "move money on contracts"
MILESTONE_TYPES = ("milestone_fund", "milestone_approve")
MESSAGES = {
    "milestone_fund": "Funding request recorded. A signed-in human must confirm this approval in the OpenTrain "
    "app before the milestone is funded and any money moves.",
    "milestone_approve": "Release request recorded. A signed-in human must confirm this approval in the "
    "OpenTrain app before the milestone is approved and the payout released.",
    "contract_end": "End request recorded. A signed-in human must confirm this approval in the OpenTrain app "
    "before the contract ends.",
}


class Contracts(Approvals):
    """The account's contracts and the money moves on their milestones."""

    def _contract_wire(self, contract: Contract, detail: bool) -> dict[str, Any]:
        milestones = [
            copy.deepcopy(m)
            for m in contract["milestones"]
            if detail or m["status"] not in HIDDEN_MILESTONE_STATUSES
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

    # ------------------------------------------------------- the writes (§9)

    def _payments_gate(self, token: Token) -> Account:
        self._require_scope(token, "payments:write")
        account = self._account(token)
        self._require_feature(account, "public_api_payments_write")
        self._require_claimed(account, PAYMENTS_ACTION)
        return account

    def _own_contract(self, token: Token, contract_id: str) -> Contract:
        contract = self._data["contracts"].get(contract_id)
        if contract is None or contract["accountId"] != token["accountId"]:
            raise ApiError(404, "Contract not found.", {"resource": "contracts", "contractId": contract_id})
        return contract

    def _own_milestone(self, token: Token, milestone_id: str) -> tuple[Contract, Milestone]:
        contract, milestone = self._find_milestone(milestone_id)
        if contract is None or milestone is None or contract["accountId"] != token["accountId"]:
            raise ApiError(
                404, "Milestone not found.", {"resource": "milestones", "milestoneId": milestone_id}
            )
        return contract, milestone

    @staticmethod
    def _ended(contract: Contract) -> ApiError:
        return ApiError(
            409, "This contract has ended.", {"reason": "contract_ended", "contractId": contract["id"]}
        )

    def _request(
        self, token: Token, kind: str, contract: Contract, milestone: Milestone | None
    ) -> dict[str, Any]:
        """The 202 body: the pending ``kind`` approval for this target, reused while one is pending."""
        key, target = ("milestoneId", milestone["id"]) if milestone else ("contractId", contract["id"])
        approval = self._pending(kind, key, target)
        if approval is None:
            approval = self._new_approval(
                kind,
                token,
                job_id=contract["jobId"],
                contract_id=contract["id"],
                milestone_id=milestone["id"] if milestone else None,
            )
            if milestone is not None:
                milestone["pendingApproval"] = True
        self._save()
        return {"approval": self._approval_wire(approval), "message": MESSAGES[kind]}

    def create_milestone(self, token: Token, contract_id: str, raw_body: bytes) -> dict[str, Any]:
        """`POST /contracts/{id}/milestones`: runs directly (no money moves); returns the 201 body."""
        with self._lock:
            self._payments_gate(token)
            contract = self._own_contract(token, contract_id)
            if contract["status"] != "active":
                raise self._ended(contract)
            fields = parse_milestone_body(raw_body, fixed_price=contract["paymentType"] == "FIXED_PRICE")
            amount = fields["amountUsd"]
            if amount is None:
                rate = contract["rateUsd"]
                if rate is None:
                    raise ApiError(
                        409,
                        "This contract has no rate, so a volume cannot be priced; send amountUsd.",
                        {"reason": "contract_rate_missing", "contractId": contract_id},
                    )
                amount = _money(Decimal(repr(fields["volume"])) * Decimal(repr(rate)))
            now = self.now_iso()
            milestone: Milestone = {
                "id": new_id(self._rng),
                "name": fields["name"],
                "description": fields["description"],
                "status": "NOT_FUNDED",
                "amountUsd": amount,
                "volume": fields["volume"],
                "milestoneNumber": len(contract["milestones"]) + 1,
                "dueDate": date_to_iso(fields["dueDate"]),
                "pendingApproval": False,
                "needsReview": False,
                "invoiceId": None,
                "createdAt": now,
            }
            contract["milestones"].append(milestone)
            contract["updatedAt"] = now
            self._save()
            return {"milestone": copy.deepcopy(milestone)}

    def fund_milestone(self, token: Token, milestone_id: str) -> dict[str, Any]:
        """`POST /milestones/{id}/fund`: a ``milestone_fund`` approval; the milestone must be ``NOT_FUNDED``."""
        with self._lock:
            account = self._payments_gate(token)
            contract, milestone = self._own_milestone(token, milestone_id)
            if contract["status"] != "active" or milestone["status"] != "NOT_FUNDED":
                raise ApiError(
                    409,
                    f"This milestone cannot be funded: it is {milestone['status']} on a contract that is "
                    f"{contract['status']}.",
                    {"reason": "milestone_not_fundable", "milestoneId": milestone_id},
                )
            if not self._can_pay(account, fund_charge(milestone["amountUsd"] or 0)["totalCents"]):
                raise self._payment_required()
            return self._request(token, "milestone_fund", contract, milestone)

    def approve_milestone(self, token: Token, milestone_id: str) -> dict[str, Any]:
        """`POST /milestones/{id}/approve`: a ``milestone_approve`` approval; the milestone must be funded."""
        with self._lock:
            self._payments_gate(token)
            contract, milestone = self._own_milestone(token, milestone_id)
            if contract["status"] != "active" or milestone["status"] != "ACTIVE_FUNDED":
                raise ApiError(
                    409,
                    f"Only a funded milestone can be approved; this one is {milestone['status']}.",
                    {"reason": "milestone_not_funded", "milestoneId": milestone_id},
                )
            return self._request(token, "milestone_approve", contract, milestone)

    def end_contract(self, token: Token, contract_id: str) -> tuple[int, dict[str, Any]]:
        """`POST /contracts/{id}/end`: ends at once (200) without funded milestones, else a ``contract_end``
        approval (202). Returns ``(status, body)``."""
        with self._lock:
            self._payments_gate(token)
            contract = self._own_contract(token, contract_id)
            if contract["status"] != "active":
                raise self._ended(contract)
            if any(m["status"] == "ACTIVE_FUNDED" for m in contract["milestones"]):
                return 202, self._request(token, "contract_end", contract, None)
            self._close(contract)
            self._save()
            return 200, {"ok": True, "contractId": contract_id, "status": "ended"}

    def update_contract(self, contract_id: str, changes: Any) -> dict[str, Any]:
        """Test control: set ``paymentType`` and/or ``rateUsd`` (``null`` allowed) of a main-account contract."""
        if not isinstance(changes, dict) or set(changes) - {"paymentType", "rateUsd"}:
            raise ValueError("body must be an object with 'paymentType' and/or 'rateUsd'")
        if "paymentType" in changes and changes["paymentType"] not in PAYMENT_TYPES:
            raise ValueError(f"'paymentType' must be one of {', '.join(PAYMENT_TYPES)}")
        rate = changes.get("rateUsd")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0):
            raise ValueError("'rateUsd' must be a positive number or null")
        with self._lock:
            contract = self._data["contracts"].get(contract_id)
            if contract is None or contract["accountId"] != self._data["fixtures"]["accountId"]:
                raise ValueError(f"no contract {contract_id!r} on the main account")
            if "paymentType" in changes:
                contract["paymentType"] = changes["paymentType"]
            if "rateUsd" in changes:
                contract["rateUsd"] = rate
            self._save()
            return self._contract_wire(contract, detail=False)

    # ------------------------------------------------------ the human's side

    def _after_resolve(self, approval: Approval) -> None:
        if approval["type"] in MILESTONE_TYPES:
            _, milestone = self._find_milestone(approval["milestoneId"])
            if milestone is not None:
                milestone["pendingApproval"] = False

    def _close(self, contract: Contract) -> None:
        """End ``contract``: unfunded milestones are cancelled, funded ones refunded (assumptions, A14)."""
        now = self.now_iso()
        for milestone in contract["milestones"]:
            closed = {"NOT_FUNDED": "CANCELLED", "ACTIVE_FUNDED": "REFUNDED"}.get(milestone["status"])
            if closed is not None:
                milestone["status"] = closed
                self._milestone_event(contract["accountId"], contract, milestone)
        contract["status"] = "ended"
        contract["endDate"] = now
        contract["updatedAt"] = now

    def _confirm_payment(self, approval: Approval, payment_source: str | None) -> None:
        """Confirm a ``milestone_fund``, ``milestone_approve`` or ``contract_end`` approval (§5.4 results)."""
        now = self.now_iso()
        kind = approval["type"]
        contract, milestone = self._find_milestone(approval.get("milestoneId"))
        if kind == "contract_end":
            contract = self._data["contracts"].get(approval.get("contractId") or "")
        if contract is None or contract["status"] != "active":
            raise SandboxError(409, "The contract has ended; nothing can run on it.", reason="contract_ended")
        account = self._data["accounts"][approval["accountId"]]
        result: dict[str, Any]
        if kind == "milestone_fund" and milestone is not None:
            if milestone["status"] != "NOT_FUNDED":
                raise SandboxError(
                    409, "The milestone is no longer fundable.", reason="milestone_not_fundable"
                )
            cents = fund_charge(milestone["amountUsd"] or 0)["totalCents"]
            source = self._payment_source(account, cents, payment_source)
            invoice_id = new_id(self._rng)
            if source == "credits":
                self._hold_credits(account, cents, contract, milestone, now)
            approval["paymentSource"] = source
            result = {"invoiceId": invoice_id, "paymentIntentId": f"pi_{new_id(self._rng)}"}
            milestone["status"] = "ACTIVE_FUNDED"
            milestone["invoiceId"] = invoice_id
            self._milestone_event(account["id"], contract, milestone)
        elif kind == "milestone_approve" and milestone is not None:
            if milestone["status"] != "ACTIVE_FUNDED":
                raise SandboxError(409, "The milestone is not funded.", reason="milestone_not_funded")
            invoice_id = milestone["invoiceId"] or new_id(self._rng)
            result = {"invoiceId": invoice_id, "payoutTransactionId": new_id(self._rng)}
            milestone["status"] = "PAID"
            self._milestone_event(account["id"], contract, milestone)
        elif kind == "contract_end":
            self._close(contract)
            result = {"contractEnded": True}
        else:
            raise SandboxError(409, f"Approval type {kind!r} has nothing to run here.")
        self._resolve(approval, "confirmed", now, result)

    def _hold_credits(
        self, account: Account, cents: int, contract: Contract, milestone: Milestone, now: str
    ) -> None:
        credits = account["credits"]
        credits["availableCents"] -= cents
        credits["reservedCents"] += cents
        credits["entries"].append(
            {
                "id": new_id(self._rng),
                "type": "HOLD",
                "amountCents": cents,
                "holdEntryId": None,
                "jobofferId": None,
                "contractId": contract["id"],
                "milestoneId": milestone["id"],
                "topUpId": None,
                "note": "Milestone funded: milestone amount + 10% marketplace fee",
                "createdAt": now,
            }
        )

    def _milestone_event(self, account_id: str, contract: Contract, milestone: Milestone) -> None:
        contract["updatedAt"] = self.now_iso()
        self._emit(
            account_id,
            "milestone.status_changed",
            milestone["id"],
            contract["jobId"],
            {"milestoneId": milestone["id"], "contractId": contract["id"], "status": milestone["status"]},
        )


def _money(value: Decimal) -> float | int:
    """A USD amount rounded half-up to cents, as the API's JSON number."""
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return int(cents) if cents == cents.to_integral_value() else float(cents)
