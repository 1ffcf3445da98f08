"""The spend policy around a request that may cost money (a hire, or a milestone funding, release or contract
end): reserve before it is sent, settle after, release if nothing arrived."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError

from opentrain_mcp.api.errors import ApiError, ConfigurationError, OpenTrainError
from opentrain_mcp.api.models import Approval, Milestone, check_id
from opentrain_mcp.ledger import MONEY_KINDS
from opentrain_mcp.policy import SpendRefused, hire_charge
from opentrain_mcp.server import text
from opentrain_mcp.server.state import AppState

if TYPE_CHECKING:
    from opentrain_mcp.ledger import Reservation, SpendRequest

log = logging.getLogger("opentrain_mcp.server")
MAX_REFRESH = 20
RELEASABLE = frozenset({"max_pending", "max_daily_usd", "max_monthly_usd"})
"""Limits a decision made on OpenTrain's page can free, so a refresh is worth its GETs."""


def hire_request(proposal_id: str, milestone: Milestone) -> SpendRequest:
    from opentrain_mcp.ledger import SpendRequest

    charge = hire_charge(milestone.amount).total_cents
    return SpendRequest(
        kind="proposal_hire", subject=proposal_id, terms=milestone.to_wire(), charge_cents=charge
    )


async def refresh_pending(state: AppState) -> int:
    """Re-read up to ``MAX_REFRESH`` approvals the spend book counts as pending; how many were decided."""
    decided = 0
    for approval_id in state.spend_book.pending_spend(api_origin=state.trusted_origin, limit=MAX_REFRESH):
        try:
            approval = await state.client.get_approval(approval_id)
        except OpenTrainError as exc:
            log.info("could not refresh %s: %s", approval_id, exc.message)
            continue
        if approval.status != "pending":
            decided += 1
            await state.approval_changed(approval)
    return decided


def safe_id(value: Any) -> str | None:
    """``value`` if it is a well-formed opaque id (upstream values are checked before we repeat them)."""
    try:
        return check_id(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def read_proposal(state: AppState, proposal_id: str) -> dict[str, Any]:
    proposal = (await state.client.get_proposal(proposal_id)).get("proposal")
    return proposal if isinstance(proposal, dict) else {}


class HireBudget:
    """A hire request's place in the spend book while its POST is under way."""

    def __init__(self, state: AppState, request: SpendRequest, reservation: Reservation) -> None:
        self._state, self._request, self.reservation = state, request, reservation
        self.settled = False

    def settle(self, approval: Approval) -> None:
        """The request got ``approval``: from now on the book counts that approval."""
        self._state.spend_book.settle_spend(self.reservation, approval.model_dump())
        self.settled = True

    def release(self) -> None:
        """The request ran at once and left nothing pending (a contract ended without a co-sign)."""
        self._state.spend_book.release_spend(self.reservation)
        self.settled = True

    @property
    def caps_used(self) -> dict[str, str]:
        return self._state.spend_policy.used(self._request.charge_cents, self.reservation.usage)


async def reserve(state: AppState, request: SpendRequest, job_id: str | None = None) -> Reservation:
    """Check the policy and reserve; a refusal is a ``ToolError`` and nothing is sent upstream.

    ``job_id``: the job a request other than a hire acts on (a hire's is read from its proposal).
    """
    policy, book = state.spend_policy, state.spend_book
    if policy.allowed_job_ids:
        if request.kind == "proposal_hire":
            job_id = safe_id((await read_proposal(state, request.subject)).get("jobId"))
        breach = policy.job_breach(job_id)
        if breach is not None:
            raise ToolError(text.spend_refused(breach, request.kind))
    check = policy.check(request.charge_cents, money=request.kind in MONEY_KINDS)
    try:
        return book.reserve_spend(request, check, api_origin=state.trusted_origin)
    except SpendRefused as first:
        if first.breach.limit not in RELEASABLE or not await refresh_pending(state):
            raise ToolError(text.spend_refused(first.breach, request.kind)) from None
    try:
        return book.reserve_spend(request, check, api_origin=state.trusted_origin)
    except SpendRefused as refused:
        raise ToolError(text.spend_refused(refused.breach, request.kind)) from None


def _never_arrived(exc: BaseException) -> bool:
    """True when OpenTrain certainly recorded nothing: not sent, or refused with a 4xx answer."""
    if isinstance(exc, ConfigurationError):
        return True
    return (
        isinstance(exc, ApiError) and exc.status is not None and 400 <= exc.status < 500 and exc.status != 408
    )


@asynccontextmanager
async def spend_budget(
    state: AppState, request: SpendRequest, job_id: str | None = None
) -> AsyncIterator[HireBudget]:
    """Reserve room for a request; call ``settle`` with its approval. Released only if nothing arrived."""
    budget = HireBudget(state, request, await reserve(state, request, job_id))
    try:
        yield budget
    except BaseException as exc:
        if not budget.settled and _never_arrived(exc):
            state.spend_book.release_spend(budget.reservation)
        raise


@asynccontextmanager
async def hire_budget(state: AppState, proposal_id: str, milestone: Milestone) -> AsyncIterator[HireBudget]:
    """``spend_budget`` for a hire request."""
    async with spend_budget(state, hire_request(proposal_id, milestone)) as budget:
        yield budget
