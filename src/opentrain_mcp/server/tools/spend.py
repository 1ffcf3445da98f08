"""``preview_hire`` (a hire checked against charge, policy and readiness, sending nothing) and ``get_spend_status``."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, Field

from opentrain_mcp.api.models import Milestone
from opentrain_mcp.server import text
from opentrain_mcp.server.budget import hire_request, read_proposal, refresh_pending, safe_id
from opentrain_mcp.server.errors import tool_errors
from opentrain_mcp.server.tools._common import opaque_id, result, state_of, tool_call
from opentrain_mcp.server.tools.hire import ChargeEstimate, estimate_charge
from opentrain_mcp.server.tools.reads import READ, ProposalStatus, Readiness, readiness


class PolicyVerdict(BaseModel):
    allowed: bool
    limit: str | None = Field(default=None, description="The policy key the request would break")
    detail: str
    capsUsed: dict[str, str] | None = Field(default=None, description=text.CAPS_USED)


class ProposalSnapshot(BaseModel):
    status: str | None = None
    jobId: str | None = None
    contractId: str | None = None


class HirePreview(BaseModel):
    """What request_hire would do with these arguments; nothing was sent."""

    estimatedCharge: ChargeEstimate
    policy: PolicyVerdict
    readiness: Readiness
    proposal: ProposalSnapshot
    warnings: list[str]


class SpendLimits(BaseModel):
    max_hire_usd: float | None = None
    max_daily_usd: float | None = None
    max_monthly_usd: float | None = None
    max_pending: int
    max_requests_per_hour: int
    allowed_job_ids: list[str]


class SpendFigures(BaseModel):
    todayUsd: float | None = None
    monthUsd: float | None = None
    pending: int | None = None
    requestsThisHour: int | None = None


class SpendStatus(BaseModel):
    limits: SpendLimits
    used: SpendFigures
    remaining: SpendFigures = Field(description="Left under each limit (absent where there is no limit)")
    persistent: bool = Field(description="False: the ledger is off and usage is counted in this process only")


def _proposal_snapshot(proposal: dict[str, Any]) -> ProposalSnapshot:
    status = proposal.get("status")
    status = status.get("raw") if isinstance(status, dict) else status
    contract = proposal.get("contract")
    contract_id = proposal.get("contractId") or (contract.get("id") if isinstance(contract, dict) else None)
    return ProposalSnapshot(
        status=status if status in get_args(ProposalStatus) else None,
        jobId=safe_id(proposal.get("jobId")),
        contractId=safe_id(contract_id),
    )


def register(mcp: MCPServer[Any], wanted: set[str]) -> None:
    if "preview_hire" in wanted:

        @mcp.tool(
            name="preview_hire",
            title="Preview a hire",
            description=text.PREVIEW_HIRE,
            annotations=READ,
            structured_output=True,
        )
        async def preview_hire(
            proposalId: opaque_id("proposalId", text.PROPOSAL_ID),  # type: ignore[valid-type]
            milestone: Annotated[Milestone, Field(description=text.MILESTONE)],
            ctx: Context[Any, Any],
            confirmNotFitOverride: Annotated[bool, Field(description=text.NOT_FIT_OVERRIDE)] = False,
        ) -> Annotated[CallToolResult, HirePreview]:
            async with tool_call(ctx, "preview_hire", writes=False) as state:
                proposal = _proposal_snapshot(await read_proposal(state, proposalId))
                await refresh_pending(state)
                policy, request = state.spend_policy, hire_request(proposalId, milestone)
                assessed = state.spend_book.assess_spend(request, api_origin=state.trusted_origin)
                breach = policy.job_breach(proposal.jobId) or (
                    None if assessed.repeat else policy.breach(request.charge_cents, assessed.usage)
                )
                verdict = (
                    PolicyVerdict(allowed=False, limit=breach.limit, detail=text.spend_breach(breach))
                    if breach
                    else PolicyVerdict(
                        allowed=True,
                        detail=text.PREVIEW_REPEAT if assessed.repeat else text.PREVIEW_ALLOWED,
                        capsUsed=policy.used(request.charge_cents, assessed.usage),
                    )
                )
                warnings = [
                    text.PROPOSAL_WARNINGS[key]
                    for key in (proposal.status, "HIRED" if proposal.contractId else None)
                    if key in text.PROPOSAL_WARNINGS and not (key == "NOT_A_FIT" and confirmNotFitOverride)
                ]
                warnings += [text.preview_replaces(approval_id) for approval_id in assessed.replaces]
                out = HirePreview(
                    estimatedCharge=estimate_charge(milestone.amount),
                    policy=verdict,
                    readiness=await readiness(state),
                    proposal=proposal,
                    warnings=list(dict.fromkeys(warnings)),
                )
                checks = [(c.name, c.status) for c in out.readiness.checks]
                return result(
                    out, text.preview_text(out.estimatedCharge.total, verdict.detail, checks, out.warnings)
                )

    if "get_spend_status" in wanted:

        @mcp.tool(
            name="get_spend_status",
            title="Spend status",
            description=text.GET_SPEND_STATUS,
            annotations=READ,
            structured_output=True,
        )
        async def get_spend_status(
            ctx: Context[Any, Any],
            refresh: Annotated[bool, Field(description=text.SPEND_REFRESH)] = True,
        ) -> Annotated[CallToolResult, SpendStatus]:
            state = state_of(ctx)
            async with tool_errors("get_spend_status", state, writes=False):
                if refresh and state.settings.problem() is None:
                    await refresh_pending(state)
                usage = state.spend_book.spend_usage(api_origin=state.trusted_origin)
                policy = state.spend_policy
                caps = policy.caps()
                measures = {  # name: (used, limit or None, in cents?)
                    "todayUsd": (usage.today_cents, caps.get("max_daily_usd"), True),
                    "monthUsd": (usage.month_cents, caps.get("max_monthly_usd"), True),
                    "pending": (usage.pending, caps["max_pending"], False),
                    "requestsThisHour": (usage.last_hour, caps["max_requests_per_hour"], False),
                }
                used = {k: n / 100 if money else n for k, (n, _, money) in measures.items()}
                left = {
                    k: max(cap - n, 0) / 100 if money else max(cap - n, 0)
                    for k, (n, cap, money) in measures.items()
                    if cap is not None
                }
                out = SpendStatus(
                    limits=SpendLimits.model_validate(
                        {**policy.model_dump(), "allowed_job_ids": list(policy.allowed_job_ids)}
                    ),
                    used=SpendFigures.model_validate(used),
                    remaining=SpendFigures.model_validate(left),
                    persistent=state.ledger is not None,
                )
                return result(
                    out,
                    text.spend_status_text(
                        measures, caps.get("max_hire_usd"), policy.allowed_job_ids, out.persistent
                    ),
                )
