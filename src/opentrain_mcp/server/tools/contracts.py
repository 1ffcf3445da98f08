"""After the hire: ``create_milestone`` (runs at once, no money moves) and the three co-signed requests
``request_milestone_funding``, ``request_milestone_release`` and ``end_contract``, which behave like
``request_hire``: a pending approval, its vetted link, what the human will approve, the ledger, the watcher, and
URL elicitation in both eras. Nothing moves until a signed-in human confirms on OpenTrain's page."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import BaseModel, Field

from opentrain_mcp.api.errors import OpenTrainError
from opentrain_mcp.api.models import Approval, ApprovalAccepted, ContractMilestone, NewMilestone
from opentrain_mcp.ledger import SpendRequest
from opentrain_mcp.server import text
from opentrain_mcp.server.budget import safe_id, spend_budget
from opentrain_mcp.server.card import card_link
from opentrain_mcp.server.state import AppState
from opentrain_mcp.server.tools._common import opaque_id, result, tool_call
from opentrain_mcp.server.tools._cosign import already_requested, present
from opentrain_mcp.server.untrusted import ApprovalView, human_time, shape_approval

FUND_FEE_RATE = Decimal("0.10")
TOOLS = ("create_milestone", "request_milestone_funding", "request_milestone_release", "end_contract")


def _annotations(*, destructive: bool, idempotent: bool = True) -> ToolAnnotations:
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=destructive, idempotent_hint=idempotent, open_world_hint=True
    )


class MilestoneCreated(BaseModel):
    """A new milestone: NOT_FUNDED, nothing charged."""

    milestone: ContractMilestone
    nextStep: str
    sandbox: bool


class CoSignRequest(BaseModel):
    """A pending request a human must confirm at ``approval.approvalUrl``."""

    approval: ApprovalView | None = None
    asks: str = Field(description="What the human is asked to approve")
    amountUsd: float | None = Field(
        default=None, description="Milestone amount, payout, or funded total at stake"
    )
    nextStep: str
    sandbox: bool
    linkShown: str | None = Field(default=None, description="accept, decline, cancel or unanswered")
    capsUsed: dict[str, str] | None = Field(default=None, description=text.CAPS_USED)


class FundingRequest(CoSignRequest):
    estimatedChargeUsd: float | None = Field(default=None, description="Estimate, see asks")


class ContractEndRequest(CoSignRequest):
    ended: bool = Field(description="True when it ended at once; false when a human must confirm")


@dataclass(frozen=True)
class Stake:
    """What a request is about, read from the contract (defaults when it cannot be read)."""

    milestone: str = "(see the approval page)"
    trainer: str = "the trainer"
    amount: float | None = None
    funded: float | None = None


def _usd(value: Any) -> float | None:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )
    return float(value) if ok else None


async def _contract_for(state: AppState, kind: str, target_id: str) -> dict[str, Any]:
    """The contract a request acts on, read before it is sent: for the spend policy (amount, job) and to say
    what the human will approve. Empty when no listed contract holds the milestone (the POST then says why)."""
    if kind == "contract_end":
        return (await state.client.get_contract(target_id)).get("contract") or {}
    for contract in (await state.client.list_contracts()).get("contracts") or []:
        milestones = contract.get("milestones") if isinstance(contract, dict) else None
        if any(isinstance(m, dict) and m.get("id") == target_id for m in milestones or []):
            return contract
    return {}


async def _contract_of(state: AppState, approval: Approval) -> dict[str, Any]:
    """The approval's contract as it is now (on a 2026 retry); empty when it cannot be read."""
    if approval.contractId is None:
        return {}
    try:
        return (await state.client.get_contract(approval.contractId)).get("contract") or {}
    except OpenTrainError:
        return {}


def _stake(contract: dict[str, Any], milestone_id: str | None) -> Stake:
    """Milestone name and amount, trainer and funded total from a contract, shape-checked."""
    milestones = [m for m in contract.get("milestones") or [] if isinstance(m, dict)]
    funded = [_usd(m.get("amountUsd")) or 0.0 for m in milestones if m.get("status") == "ACTIVE_FUNDED"]
    trainer = (contract.get("freelancer") or {}).get("displayName")
    stake = Stake(
        trainer=text.quoted(trainer) if isinstance(trainer, str) and trainer else "the trainer",
        funded=round(sum(funded), 2),
    )
    for m in milestones:
        if m.get("id") == milestone_id:
            label = m.get("name") or m.get("description")
            name = text.quoted(label) if isinstance(label, str) and label else stake.milestone
            return Stake(name, stake.trainer, _usd(m.get("amountUsd")), stake.funded)
    return stake


def fund_estimate(amount: float) -> float:
    """Amount + 10 % (rounded half-up to cents): the hire's documented fee, assumed for later fundings."""
    base = Decimal(str(amount))
    return float(base + (base * FUND_FEE_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def _cosigned(
    ctx: Context[Any, Any],
    tool: str,
    kind: str,
    target_id: str,
    send: Callable[[AppState], Awaitable[ApprovalAccepted | None]],
) -> CallToolResult:
    """One co-signed request: checked against the spend policy and sent once (a 2026 retry reads the approval
    instead), then presented."""
    async with tool_call(ctx, tool, writes=True) as state:
        milestone_id = None if kind == "contract_end" else target_id
        caps: dict[str, str] | None = None
        approval = await already_requested(state, ctx, kind, target_id)
        if approval is None:
            contract = await _contract_for(state, kind, target_id)
        else:
            contract = await _contract_of(state, approval)
        stake = _stake(contract, milestone_id)
        amount = stake.funded if kind == "contract_end" else stake.amount
        charge = fund_estimate(amount) if kind == "milestone_fund" and amount is not None else None
        if approval is None:
            request = SpendRequest(
                kind=kind, subject=target_id, terms={}, charge_cents=round((charge or 0) * 100)
            )
            async with spend_budget(state, request, safe_id(contract.get("jobId"))) as budget:
                accepted = await send(state)
                if accepted is None:
                    budget.release()
                    ended = ContractEndRequest(
                        ended=True, asks=text.ENDED_AT_ONCE, nextStep=text.ENDED_NEXT, sandbox=state.sandbox
                    )
                    return result(ended, text.ENDED_AT_ONCE)
                budget.settle(accepted.approval)
            approval, caps = accepted.approval, budget.caps_used
        sandbox = state.sandbox  # read after the API answered: a standalone sandbox says so in its headers
        view = shape_approval(approval, trusted_origin=state.trusted_origin)
        asks = text.cosign_asks(kind, stake.milestone, stake.trainer, amount, charge)
        shown = await present(
            state,
            ctx,
            approval,
            target_id=target_id,
            amount_usd=charge if kind == "milestone_fund" else amount,
            prompt=text.cosign_prompt(asks, human_time(view.expiresAt)),
        )
        if isinstance(shown, InputRequiredResult):
            return shown  # type: ignore[return-value]
        fields: dict[str, Any] = {
            "approval": view,
            "asks": asks,
            "amountUsd": amount,
            "nextStep": text.COSIGN_NEXT_STEP[kind],
            "sandbox": sandbox,
            "linkShown": shown.outcome,
            "capsUsed": caps,
        }
        out: CoSignRequest
        if kind == "milestone_fund":
            out = FundingRequest(**fields, estimatedChargeUsd=charge)
        elif kind == "contract_end":
            out = ContractEndRequest(**fields, ended=False)
        else:
            out = CoSignRequest(**fields)
        summary = text.cosign_text(asks, shown.url, view.expiresAt, view.id, sandbox, shown.outcome)
        if caps:
            summary += "\n" + text.caps_line(caps)
        if client_supports_apps(ctx):
            summary += "\n" + text.CARD_NOTE
        return result(out, summary)


def register(mcp: MCPServer[Any], wanted: set[str]) -> None:
    if "create_milestone" in wanted:

        @mcp.tool(
            name="create_milestone",
            title="Add a milestone (unfunded)",
            description=text.CREATE_MILESTONE,
            annotations=_annotations(destructive=False, idempotent=False),
            structured_output=True,
        )
        async def create_milestone(
            contractId: opaque_id("contractId", text.CONTRACT_ID),  # type: ignore[valid-type]
            milestone: NewMilestone,
            ctx: Context[Any, Any],
        ) -> Annotated[CallToolResult, MilestoneCreated]:
            async with tool_call(ctx, "create_milestone", writes=True) as state:
                created = await state.client.create_milestone(contractId, milestone)
                out = MilestoneCreated(
                    milestone=created, nextStep=text.MILESTONE_CREATED_NEXT, sandbox=state.sandbox
                )
                summary = f"Milestone {created.id} added ({created.status}). {text.MILESTONE_CREATED_NEXT}"
                return result(out, summary)

    if "request_milestone_funding" in wanted:

        @mcp.tool(
            name="request_milestone_funding",
            title="Request milestone funding",
            description=text.REQUEST_MILESTONE_FUNDING,
            annotations=_annotations(destructive=False),
            meta=card_link(),
            structured_output=True,
        )
        async def request_milestone_funding(
            milestoneId: opaque_id("milestoneId", text.MILESTONE_ID),  # type: ignore[valid-type]
            ctx: Context[Any, Any],
        ) -> Annotated[CallToolResult, FundingRequest]:
            async def send(state: AppState) -> ApprovalAccepted:
                return await state.client.fund_milestone(milestoneId)

            return await _cosigned(ctx, "request_milestone_funding", "milestone_fund", milestoneId, send)

    if "request_milestone_release" in wanted:

        @mcp.tool(
            name="request_milestone_release",
            title="Request milestone payout",
            description=text.REQUEST_MILESTONE_RELEASE,
            annotations=_annotations(destructive=True),
            meta=card_link(),
            structured_output=True,
        )
        async def request_milestone_release(
            milestoneId: opaque_id("milestoneId", text.MILESTONE_ID),  # type: ignore[valid-type]
            ctx: Context[Any, Any],
        ) -> Annotated[CallToolResult, CoSignRequest]:
            async def send(state: AppState) -> ApprovalAccepted:
                return await state.client.approve_milestone(milestoneId)

            return await _cosigned(ctx, "request_milestone_release", "milestone_approve", milestoneId, send)

    if "end_contract" in wanted:

        @mcp.tool(
            name="end_contract",
            title="End a contract",
            description=text.END_CONTRACT,
            annotations=_annotations(destructive=True),
            meta=card_link(),
            structured_output=True,
        )
        async def end_contract(
            contractId: opaque_id("contractId", text.CONTRACT_ID),  # type: ignore[valid-type]
            ctx: Context[Any, Any],
        ) -> Annotated[CallToolResult, ContractEndRequest]:
            async def send(state: AppState) -> ApprovalAccepted | None:
                end = await state.client.end_contract(contractId)
                if end.approval is None:
                    return None
                return ApprovalAccepted(approval=end.approval, message=end.message)

            return await _cosigned(ctx, "end_contract", "contract_end", contractId, send)
