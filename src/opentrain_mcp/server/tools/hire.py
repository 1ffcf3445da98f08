"""``request_hire``: ask OpenTrain for a hire that a human must confirm."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from opentrain_mcp.api.models import Approval, Milestone
from opentrain_mcp.server import text
from opentrain_mcp.server.errors import require_configured, tool_errors
from opentrain_mcp.server.links import vet_link
from opentrain_mcp.server.tools._common import opaque_id, result, state_of

MARKETPLACE_FEE_RATE = Decimal("0.10")
CONTRACT_FEE = Decimal("9.95")


class ChargeEstimate(BaseModel):
    """What the human would be charged on confirmation, from OpenTrain's documented fees."""

    amount: float
    marketplaceFee: float
    contractFee: float
    total: float
    currency: str = "USD"
    isEstimate: bool = True


class HireRequest(BaseModel):
    """A pending hire request: nothing is hired until a human confirms ``approval.approvalUrl``."""

    approval: Approval
    message: str = Field(description="OpenTrain's own message")
    estimatedCharge: ChargeEstimate
    nextStep: str
    sandbox: bool = Field(description="True when the answer came from the local sandbox, not OpenTrain")


def estimate_charge(amount: float) -> ChargeEstimate:
    """Milestone + 10 % marketplace fee (rounded half-up to cents) + $9.95 contract fee."""
    base = Decimal(str(amount))
    fee = (base * MARKETPLACE_FEE_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    total = base + fee + CONTRACT_FEE
    return ChargeEstimate(
        amount=float(base), marketplaceFee=float(fee), contractFee=float(CONTRACT_FEE), total=float(total)
    )


def register(mcp: MCPServer[Any]) -> None:
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
        state = state_of(ctx)
        require_configured(state)
        async with tool_errors("request_hire", state, writes=True):
            accepted = await state.client.hire(
                proposalId, milestone, confirm_not_fit_override=confirmNotFitOverride
            )
            approval = accepted.approval
            url = vet_link(
                approval.approvalUrl,
                trusted_origin=state.trusted_origin,
                kind="approvalUrl",
                approval_id=approval.id,
            )
            charge = estimate_charge(milestone.amount)
            out = HireRequest(
                approval=approval,
                message=accepted.message,
                estimatedCharge=charge,
                nextStep=text.hire_next_step(url, approval.expiresAt, approval.id),
                sandbox=state.settings.sandbox,
            )
            summary = text.hire_text(
                url, approval.expiresAt, approval.id, charge.total, state.settings.sandbox
            )
            return result(out, summary)
