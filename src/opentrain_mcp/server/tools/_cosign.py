"""What every co-signed tool does with the pending approval it got: vet its link, record it in the ledger, watch
it, and put the link in front of the human through the client (URL elicitation) in either protocol era."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

import anyio
from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context
from mcp.types import ElicitRequest, ElicitRequestURLParams, ElicitResult, InputRequiredResult
from mcp.types.version import MODERN_PROTOCOL_VERSIONS

from opentrain_mcp.api.models import Approval
from opentrain_mcp.server.links import vet_link
from opentrain_mcp.server.state import AppState

log = logging.getLogger("opentrain_mcp.server")
ELICITATION_WAIT = 2.0
"""Seconds a co-signing tool waits for the human to answer the link prompt (legacy era): never block on
the human; the link is in the result whatever they do with the prompt."""
ELICITATION_KEY = "approval"


def supports_url_elicitation(ctx: Context[Any, Any]) -> bool:
    caps = ctx.client_capabilities
    return bool(caps and caps.elicitation and caps.elicitation.url is not None)


async def show_link(
    state: AppState, ctx: Context[Any, Any], approval: Approval, url: str, message: str
) -> str | InputRequiredResult:
    """Put the approval link in front of the human via the client (URL elicitation), never blocking for long."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        answer = (ctx.input_responses or {}).get(ELICITATION_KEY)
        if answer is None:
            params = ElicitRequestURLParams(message=message, url=url)
            return InputRequiredResult(
                input_requests={ELICITATION_KEY: ElicitRequest(params=params)}, request_state=approval.id
            )
        return answer.action if isinstance(answer, ElicitResult) else "unanswered"
    if not ctx.session.can_send_request:
        return "unanswered"
    elicitation_id = f"opentrain-approval-{approval.id}-{secrets.token_hex(4)}"
    outcome = "unanswered"
    with anyio.move_on_after(ELICITATION_WAIT):
        reply = await ctx.elicit_url(message=message, url=url, elicitation_id=elicitation_id)
        outcome = reply.action
    if outcome == "accept":
        state.open_elicitations.setdefault(approval.id, []).append((ctx.session, elicitation_id))
    return outcome


async def already_requested(
    state: AppState, ctx: Context[Any, Any], kind: str, target: str
) -> Approval | None:
    """On the 2026 retry that carries the human's answer to the link, the approval the first call created.

    Its id comes back sealed in ``requestState`` (the client cannot forge it), so the retry reads the approval
    instead of sending the write again: one POST per logical request.
    """
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS or not ctx.input_responses:
        return None
    approval_id = ctx.request_state
    if not isinstance(approval_id, str):
        return None
    approval = await state.client.get_approval(approval_id)
    if approval.type != kind or target not in (approval.milestoneId, approval.contractId):
        return None
    return approval


@dataclass(frozen=True)
class Shown:
    """The vetted link and what became of showing it (``None`` when the client cannot show links)."""

    url: str
    outcome: str | None


async def present(
    state: AppState,
    ctx: Context[Any, Any],
    approval: Approval,
    *,
    target_id: str,
    amount_usd: float | None,
    prompt: str,
) -> Shown | InputRequiredResult:
    """Vet, record, watch and show a pending co-signed approval; the question to return on a 2026 first call."""
    url = vet_link(
        approval.approvalUrl, trusted_origin=state.trusted_origin, kind="approvalUrl", approval_id=approval.id
    )
    try:  # the request exists upstream now: a local ledger failure must not cost the human the link
        ledger = state.ledger
        if ledger is not None:
            ledger.record(
                approval.model_dump(),
                api_origin=state.trusted_origin,
                target_id=target_id,
                amount_usd=amount_usd,
            )
    except Exception:
        log.exception("ledger: could not record approval %s; the link is still returned", approval.id)
    if state.watcher is not None:
        state.watcher.watch(approval)
    outcome: str | None = None
    # Fallback order: the approval card (MCP Apps) -> URL elicitation -> the link in the text.
    if not client_supports_apps(ctx) and supports_url_elicitation(ctx) and approval.status == "pending":
        shown = await show_link(state, ctx, approval, url, prompt)
        if isinstance(shown, InputRequiredResult):
            return shown
        outcome = shown
    return Shown(url, outcome)
