"""``request_hire`` (ask for a hire that a human must confirm) and ``list_hire_requests`` (the local ledger)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestURLParams,
    ElicitResult,
    InputRequiredResult,
    ToolAnnotations,
)
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from opentrain_mcp.api.errors import OpenTrainError
from opentrain_mcp.api.models import Milestone
from opentrain_mcp.policy import hire_charge
from opentrain_mcp.server import card, text
from opentrain_mcp.server.budget import MAX_REFRESH, hire_budget
from opentrain_mcp.server.links import UntrustedLinkError, vet_link
from opentrain_mcp.server.state import AppState
from opentrain_mcp.server.tools._common import opaque_id, result, state_of, tool_call
from opentrain_mcp.server.tools._cosign import ELICITATION_KEY, show_link, supports_url_elicitation
from opentrain_mcp.server.tools.approvals import read_approval
from opentrain_mcp.server.untrusted import (
    MESSAGE_CAP,
    ApprovalView,
    clean,
    human_time,
    person_name,
    redactor,
    shape_approval,
)

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

    approval: ApprovalView
    message: str = Field(description="OpenTrain's own message (cleaned, capped)")
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


class HireState(BaseModel):
    """What the 2026-07-28 retry needs (the SDK seals it: encrypted, bound to the tool and its arguments,
    600 s expiry). ``terms`` binds it once more to the proposal and terms, in case the seal is swapped."""

    approvalId: str
    terms: str
    message: str
    capsUsed: dict[str, str]


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


def record_hire(state: AppState, approval: ApprovalView, proposal_id: str, milestone: Milestone) -> None:
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


def terms_digest(proposal_id: str, milestone: Milestone, override: bool) -> str:
    """One digest of exactly what a hire POST would send."""
    terms = {"proposalId": proposal_id, "milestone": milestone.to_wire(), "override": override}
    return hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()


async def _candidate_name(state: AppState, proposal_id: str) -> str:
    """The candidate's display name if it is shaped like a name; never other upstream text."""
    proposal: Any = {}
    with anyio.move_on_after(NAME_LOOKUP_WAIT):
        try:
            proposal = (await state.client.get_proposal(proposal_id)).get("proposal") or {}
        except OpenTrainError:
            return "the candidate"
    candidate = proposal.get("candidate") if isinstance(proposal, dict) else None
    name = person_name(candidate.get("displayName")) if isinstance(candidate, dict) else None
    return name or "the candidate"


async def link_prompt(state: AppState, proposal_id: str, milestone: Milestone, approval: ApprovalView) -> str:
    """The sentence the human reads next to the link: only values we validated or computed."""
    candidate = await _candidate_name(state, proposal_id)
    title = milestone.name or milestone.description or ""
    total = estimate_charge(milestone.amount).total
    prompt = text.elicitation_message(candidate, title, total, human_time(approval.expiresAt))
    return str(redactor(state.settings.token)(prompt))  # pushed to legacy clients outside any middleware


async def current(state: AppState, approval: ApprovalView) -> ApprovalView:
    """The approval as OpenTrain reports it now (a human may have decided while the link was shown)."""
    try:
        latest = await read_approval(state, approval.id)
    except OpenTrainError as exc:
        log.info("could not re-read %s after showing its link: %s", approval.id, exc.message)
        return approval
    return shape_approval(latest, trusted_origin=state.trusted_origin)


async def after_link_shown(
    state: AppState, ctx: Context[Any, Any], terms: str
) -> tuple[ApprovalView, HireState, str]:
    """The 2026-07-28 retry: a read of the approval named in ``requestState``, never a second hire POST."""
    try:
        saved = HireState.model_validate_json(ctx.request_state or "")
    except ValueError:
        saved = None
    if saved is None or not hmac.compare_digest(saved.terms, terms):
        log.warning("request_hire retry refused: request state missing or not for these terms")
        raise ToolError(text.HIRE_RETRY_REFUSED)
    answer = (ctx.input_responses or {}).get(ELICITATION_KEY)
    shown = answer.action if isinstance(answer, ElicitResult) else "unanswered"
    approval = shape_approval(
        await read_approval(state, saved.approvalId), trusted_origin=state.trusted_origin
    )
    return approval, saved, shown


def hire_result(
    state: AppState,
    approval: ApprovalView,
    milestone: Milestone,
    message: str,
    shown: str | None,
    caps_used: dict[str, str],
) -> CallToolResult:
    """The honest answer: pending → the link; otherwise what the decision means (no new link)."""
    charge = estimate_charge(milestone.amount)
    sandbox = state.sandbox
    if approval.status == "pending":
        if approval.approvalUrl is None:
            raise UntrustedLinkError("approvalUrl", state.trusted_origin, "the API sent no link")
        next_step = text.HIRE_NEXT_STEP
        summary = text.hire_text(
            approval.approvalUrl, approval.expiresAt, approval.id, charge.total, sandbox, shown
        )
    else:
        meaning, next_step = text.approval_meaning(approval.status, approval.type, approval.contractId)
        summary = text.approval_text(approval.id, approval.status, meaning, next_step, sandbox)
    out = HireRequest(
        approval=approval,
        message=message,
        estimatedCharge=charge,
        nextStep=next_step,
        sandbox=sandbox,
        linkShown=shown,  # type: ignore[arg-type]
        capsUsed=caps_used,
    )
    return result(out, f"{summary}\n{text.caps_line(caps_used)}")


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
            meta=card.card_link(),
        )
        async def request_hire(
            proposalId: opaque_id("proposalId", text.PROPOSAL_ID),  # type: ignore[valid-type]
            milestone: Annotated[Milestone, Field(description=text.MILESTONE)],
            ctx: Context[Any, Any],
            confirmNotFitOverride: Annotated[bool, Field(description=text.NOT_FIT_OVERRIDE)] = False,
        ) -> Annotated[CallToolResult, HireRequest]:
            async with tool_call(ctx, "request_hire", writes=True) as state:
                terms = terms_digest(proposalId, milestone, confirmNotFitOverride)
                modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
                if modern and (ctx.request_state is not None or ctx.input_responses):
                    approval, saved, shown = await after_link_shown(state, ctx, terms)
                    return hire_result(state, approval, milestone, saved.message, shown, saved.capsUsed)
                async with hire_budget(state, proposalId, milestone) as budget:
                    accepted = await state.client.hire(
                        proposalId, milestone, confirm_not_fit_override=confirmNotFitOverride
                    )
                    budget.settle(accepted.approval)
                approval = shape_approval(accepted.approval, trusted_origin=state.trusted_origin)
                message = clean(accepted.message, MESSAGE_CAP)
                record_hire(state, approval, proposalId, milestone)
                if state.watcher is not None:
                    state.watcher.watch(accepted.approval)
                if client_supports_apps(ctx):  # fallback order: the approval card -> URL elicitation -> text
                    details = await card.hire_details(state, proposalId, milestone)
                    out = hire_result(state, approval, milestone, message, None, budget.caps_used)
                    return card.shown_on_card(out, details)
                outcome: str | None = None
                url = approval.approvalUrl
                if supports_url_elicitation(ctx) and approval.status == "pending" and url is not None:
                    prompt = await link_prompt(state, proposalId, milestone, approval)
                    if modern:
                        saved = HireState(
                            approvalId=approval.id, terms=terms, message=message, capsUsed=budget.caps_used
                        )
                        return InputRequiredResult(  # type: ignore[return-value]
                            input_requests={
                                ELICITATION_KEY: ElicitRequest(
                                    params=ElicitRequestURLParams(message=prompt, url=url)
                                )
                            },
                            request_state=saved.model_dump_json(),
                        )
                    pushed = await show_link(state, ctx, accepted.approval, url, prompt)
                    outcome = pushed if isinstance(pushed, str) else "unanswered"
                    if outcome != "unanswered":
                        approval = await current(state, approval)
                return hire_result(state, approval, milestone, message, outcome, budget.caps_used)

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
                for stale in ledger.list(api_origin=origin, status="pending", limit=MAX_REFRESH):
                    try:
                        latest = await state.client.get_approval(stale.approvalId)
                        ledger.update(
                            shape_approval(latest, trusted_origin=origin).model_dump(), api_origin=origin
                        )
                    except (OpenTrainError, UntrustedLinkError) as exc:
                        log.info("could not refresh %s: %s", stale.approvalId, exc)
                records: list[HireRecord] = []
                warnings: list[str] = []
                for stored in ledger.list(api_origin=origin, status=None if status == "any" else status):
                    record = HireRecord.model_validate(stored.to_dict())
                    if record.approvalUrl is not None:
                        try:
                            vet_link(
                                record.approvalUrl,
                                trusted_origin=origin,
                                kind="approvalUrl",
                                approval_id=record.approvalId,
                            )
                        except UntrustedLinkError as bad:
                            record.approvalUrl = None
                            warnings.append(text.untrusted_link(bad.kind, bad.why, origin, record.approvalId))
                    records.append(record)
                out = HireRequests(hireRequests=records, ledger=str(ledger.path))
                lines = [
                    f"{r.approvalId} {r.status} {r.kind} {r.targetId} {r.approvalUrl or ''}".rstrip()
                    for r in records
                ]
                return result(out, "\n".join([*lines, *warnings]) or "No hire requests recorded yet.")
