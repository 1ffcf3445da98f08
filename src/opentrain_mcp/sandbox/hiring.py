"""Hiring: `POST /proposals/{id}/hire` (a co-signed ``proposal_hire`` approval) and what its confirmation does."""

from __future__ import annotations

from typing import Any

from .approvals import Approvals
from .errors import ApiError, SandboxError
from .fees import hire_charge
from .records import Approval, Token
from .seed import iso, make_contract, new_id
from .validation import merge_terms, parse_hire_body

HIRE_MESSAGE = (
    "Hire request recorded. A signed-in human must confirm this approval in the OpenTrain app before the "
    "freelancer is hired and any money moves."
)


class Hiring(Approvals):
    """Hire requests and their confirmation: proposal hired, contract created, first milestone funded."""

    def hire(self, token: Token, proposal_id: str, raw_body: bytes) -> dict[str, Any]:
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
            if not self._can_pay(account, hire_charge(terms["amount"])["totalCents"]):
                raise self._payment_required()
            pending = self._pending("proposal_hire", "proposalId", proposal_id)
            if pending is not None and pending["terms"] == terms:
                self._save()
                return {"approval": self._approval_wire(pending), "message": HIRE_MESSAGE}
            if pending is not None:  # supersede (A1): the old request reads expired
                self._resolve(pending, "expired", iso(self.now()))
            approval = self._new_approval(
                "proposal_hire",
                token,
                job_id=job["id"],
                proposal_id=proposal_id,
                terms=terms,
                override=override,
            )
            self._save()
            return {"approval": self._approval_wire(approval), "message": HIRE_MESSAGE}

    def _confirm_hire(self, approval: Approval, edits: Any, payment_source: str | None) -> None:
        terms = dict(approval["terms"] or {})
        if edits is not None:
            terms, issues = merge_terms(terms, edits)
            if issues:
                raise SandboxError(400, "Invalid milestone edits.", issues=issues)
        proposal = self._data["proposals"][approval["proposalId"] or ""]
        if proposal["status"] == "HIRED":
            raise SandboxError(409, "This proposal is already hired.", reason="already_accepted")
        account = self._data["accounts"][approval["accountId"]]
        job = self._data["jobs"][approval["jobId"] or ""]
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
