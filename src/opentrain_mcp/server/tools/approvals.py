"""``check_approval``: read any approval's status and what it means."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from opentrain_mcp.api.models import Approval
from opentrain_mcp.server import text
from opentrain_mcp.server.errors import require_configured, tool_errors
from opentrain_mcp.server.links import vet_link
from opentrain_mcp.server.state import AppState
from opentrain_mcp.server.tools._common import opaque_id, result, state_of


class ApprovalStatus(BaseModel):
    """An approval as OpenTrain reports it, with its meaning for the agent."""

    approval: Approval
    meaning: str
    nextStep: str
    sandbox: bool = Field(description="True when the answer came from the local sandbox, not OpenTrain")


async def read_approval(state: AppState, approval_id: str) -> Approval:
    """The approval, from cache once it is settled (settled approvals never change)."""
    cached = state.settled.get(approval_id)
    if cached is not None:
        return cached
    approval = await state.client.get_approval(approval_id)
    if approval.approvalUrl is not None:
        vet_link(
            approval.approvalUrl,
            trusted_origin=state.trusted_origin,
            kind="approvalUrl",
            approval_id=approval.id,
        )
    state.remember(approval)
    return approval


def describe(state: AppState, approval: Approval) -> CallToolResult:
    meaning, follow = text.approval_meaning(approval.status, approval.type, approval.contractId)
    if approval.status == "pending" and approval.approvalUrl:
        follow = text.hire_next_step(approval.approvalUrl, approval.expiresAt, approval.id)
    out = ApprovalStatus(approval=approval, meaning=meaning, nextStep=follow, sandbox=state.settings.sandbox)
    summary = text.approval_text(
        approval.id, approval.status, meaning, follow, approval.approvalUrl, state.settings.sandbox
    )
    return result(out, summary)


def register(mcp: MCPServer[Any]) -> None:
    @mcp.tool(
        name="check_approval",
        title="Check an approval",
        description=text.CHECK_APPROVAL,
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
        ),
        structured_output=True,
    )
    async def check_approval(
        approvalId: opaque_id("approvalId", text.APPROVAL_ID),  # type: ignore[valid-type]
        ctx: Context[Any, Any],
    ) -> Annotated[CallToolResult, ApprovalStatus]:
        state = state_of(ctx)
        require_configured(state)
        async with tool_errors("check_approval", state, writes=False):
            return describe(state, await read_approval(state, approvalId))
