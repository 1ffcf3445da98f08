"""``request_hire`` (ask for a hire that a human must confirm) and ``list_hire_requests`` (the local ledger)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import BaseModel, Field

from opentrain_mcp.api.errors import OpenTrainError
from opentrain_mcp.api.models import Approval, Milestone
from opentrain_mcp.policy import hire_charge
from opentrain_mcp.server import text
from opentrain_mcp.server.budget import MAX_REFRESH, hire_budget
from opentrain_mcp.server.links import vet_link
from opentrain_mcp.server.state import AppState
from opentrain_mcp.server.tools._common import opaque_id, result, state_of, tool_call
from opentrain_mcp.server.tools._cosign import show_link, supports_url_elicitation

log = logging.getLogger("opentrain_mcp.server")
# Never block on the human: after OpenTrain's answer, request_hire spends at most NAME_LOOKUP_WAIT plus
# _cosign.ELICITATION_WAIT (under 3 s together) putting the link in front of them; the link is in the result
# either way, and frameworks with 5 s tool timeouts (OpenAI Agents SDK, ADK) must see the result.
NAME_LOOKUP_WAIT = 0.5


class ChargeEstimate(BaseModel):
    """USD the human would be charged on confirmation, estimated from OpenTrain's documented fees."""

    amount: float
    marketplaceFee: float
    contractFee: float
    total: float


class HireRequest(BaseModel):
    """A pending hire request: nothing is hired until a human confirms ``approval.approvalUrl``."""

    approval: Approval
    message: str = Field(description="OpenTrain's own message")
    estimatedCharge: ChargeEstimate
    nextStep: str
    sandbox: bool = Field(description="True when the answer came from the local sandbox, not OpenTrain")
    linkShown: Literal["accept", "decline", "cancel", "unanswered"] | None = Field(
        None, description="Outcome of showing the link through the client (URL elicitation), if it was shown"
    )
    capsUsed: dict[str, str] = Field(description=text.CAPS_USED)


class HireRecord(BaseModel):
    approvalId: str
    kind: str = "proposal_hire"
    targetId: str | None = None
    amountUsd: float | None = None
    proposalId: str | None = None
    status: str
    milestone: dict[str, Any] | None = None
    approvalUrl: str | None = None
    expiresAt: str | None = None
    contractId: str | None = None
    createdAt: str


class HireRequests(BaseModel):
    hireRequests: list[HireRecord]
    ledger: str | None = Field(None, description="Where the records are kept; absent when the ledger is off")


def estimate_charge(amount: float) -> ChargeEstimate:
    """Milestone + 10 % marketplace fee (rounded half-up to cents) + $9.95 contract fee."""
    charge = hire_charge(amount)
    return ChargeEstimate(
        amount=charge.amount_cents / 100,
        marketplaceFee=charge.fee_cents / 100,
        contractFee=charge.contract_fee_cents / 100,
        total=charge.total_cents / 100,
    )


def record_hire(state: AppState, approval: Approval, proposal_id: str, milestone: Milestone) -> None:
    """Write the hire request to the ledger; a ledger failure is logged and never costs the human the link.

    The hire already exists upstream at this point, so whatever goes wrong locally (an unwritable file, a
    locked database, an odd value from the API) must not turn the answer into an error.
    """
    try:
        ledger = state.ledger
        if ledger is not None:
            ledger.record(
                {**approval.model_dump(), "proposalId": proposal_id},
                milestone=milestone.to_wire(),
                api_origin=state.trusted_origin,
                amount_usd=estimate_charge(milestone.amount).total,
            )
    except Exception:
        log.exception("ledger: could not record approval %s; the link is still returned", approval.id)


async def _candidate_name(state: AppState, proposal_id: str) -> str:
    proposal: dict[str, Any] = {}
    with anyio.move_on_after(NAME_LOOKUP_WAIT):
        try:
            proposal = (await state.client.get_proposal(proposal_id)).get("proposal") or {}
        except OpenTrainError:
            return "the candidate"
    name = (proposal.get("candidate") or {}).get("displayName")
    return name if isinstance(name, str) and name else "the candidate"


def register(mcp: MCPServer[Any], wanted: set[str]) -> None:
    if "request_hire" in wanted:

        @mcp.tool(
            name="request_hire",
            title="Request a hire (human confirms)",
            description=text.REQUEST_HIRE,
            annotations=ToolAnnotations(
                read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
            ),
            structured_output=True,
        )
        async def request_hire(
            proposalId: opaque_id("proposalId", text.PROPOSAL_ID),  # type: ignore[valid-type]
            milestone: Annotated[Milestone, Field(description=text.MILESTONE)],
            ctx: Context[Any, Any],
            confirmNotFitOverride: Annotated[bool, Field(description=text.NOT_FIT_OVERRIDE)] = False,
        ) -> Annotated[CallToolResult, HireRequest]:
            async with (
                tool_call(ctx, "request_hire", writes=True) as state,
                hire_budget(state, proposalId, milestone) as budget,
            ):
                accepted = await state.client.hire(
                    proposalId, milestone, confirm_not_fit_override=confirmNotFitOverride
                )
                budget.settle(accepted.approval)
                approval = accepted.approval
                url = vet_link(
                    approval.approvalUrl,
                    trusted_origin=state.trusted_origin,
                    kind="approvalUrl",
                    approval_id=approval.id,
                )
                record_hire(state, approval, proposalId, milestone)
                if state.watcher is not None:
                    state.watcher.watch(approval)
                charge = estimate_charge(milestone.amount)
                shown: str | None = None
                if supports_url_elicitation(ctx) and approval.status == "pending":
                    candidate = await _candidate_name(state, proposalId)
                    title = milestone.name or milestone.description[:80]
                    message = text.elicitation_message(candidate, title, charge.total, approval.expiresAt)
                    outcome = await show_link(state, ctx, approval, url, message)
                    if isinstance(outcome, InputRequiredResult):
                        return outcome  # type: ignore[return-value]
                    shown = outcome
                out = HireRequest(
                    approval=approval,
                    message=accepted.message,
                    estimatedCharge=charge,
                    nextStep=text.HIRE_NEXT_STEP,
                    sandbox=state.sandbox,
                    linkShown=shown,  # type: ignore[arg-type]
                    capsUsed=budget.caps_used,
                )
                summary = text.hire_text(
                    url, approval.expiresAt, approval.id, charge.total, state.sandbox, shown
                )
                summary += "\n" + text.caps_line(budget.caps_used)
                return result(out, summary)

    if "list_hire_requests" in wanted:

        @mcp.tool(
            name="list_hire_requests",
            title="List my hire requests",
            description=text.LIST_HIRE_REQUESTS,
            annotations=ToolAnnotations(
                read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
            ),
            structured_output=True,
        )
        async def list_hire_requests(
            ctx: Context[Any, Any],
            status: Annotated[
                Literal["any", "pending", "confirmed", "declined", "expired"],
                Field(description="Only requests with this status"),
            ] = "any",
        ) -> Annotated[CallToolResult, HireRequests]:
            state = state_of(ctx)
            ledger = state.ledger
            if ledger is None:
                out = HireRequests(hireRequests=[], ledger=None)
                return result(
                    out, "The hire-request ledger is turned off (--ledger none); nothing is recorded."
                )
            async with tool_call(ctx, "list_hire_requests", writes=False):
                origin = state.trusted_origin
                for record in ledger.list(api_origin=origin, status="pending", limit=MAX_REFRESH):
                    try:
                        ledger.update(
                            (await state.client.get_approval(record.approvalId)).model_dump(),
                            api_origin=origin,
                        )
                    except OpenTrainError as exc:
                        log.info("could not refresh %s: %s", record.approvalId, exc.message)
                records = [
                    HireRecord.model_validate(r.to_dict())
                    for r in ledger.list(api_origin=origin, status=None if status == "any" else status)
                ]
                out = HireRequests(hireRequests=records, ledger=str(ledger.path))
                lines = [
                    f"{r.approvalId} {r.status} {r.kind} {r.targetId} {r.approvalUrl or ''}" for r in records
                ]
                return result(out, "\n".join(lines) or "No hire requests recorded yet.")
