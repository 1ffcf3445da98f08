"""Approvals: ``check_approval``, ``wait_for_approval`` and the ``opentrain://approvals/{id}`` resource."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Annotated, Any

import anyio
from mcp import MCPError
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    EmptyResult,
    SubscribeRequestParams,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field

from opentrain_mcp.api.errors import OpenTrainError
from opentrain_mcp.api.models import Approval, check_id
from opentrain_mcp.server import text
from opentrain_mcp.server.card import card_link
from opentrain_mcp.server.links import UntrustedLinkError
from opentrain_mcp.server.state import APPROVAL_URI, AppState, approval_uri
from opentrain_mcp.server.tools._common import opaque_id, result, tool_call
from opentrain_mcp.server.untrusted import ApprovalView, shape_approval

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
PROGRESS_EVERY = 5.0


class ApprovalStatus(BaseModel):
    """An approval as OpenTrain reports it, with its meaning for the agent."""

    approval: ApprovalView
    meaning: str
    nextStep: str
    sandbox: bool = Field(description="True when the answer came from the local sandbox, not OpenTrain")


async def read_approval(state: AppState, approval_id: str) -> Approval:
    """The approval, from cache once settled (settled approvals never change); pending ones get watched.

    Only an approval whose fields have their documented shapes and whose link passes vetting is cached,
    watched or returned.
    """
    cached = state.settled.get(approval_id)
    if cached is not None:
        return cached
    approval = await state.client.get_approval(approval_id)
    shape_approval(approval, trusted_origin=state.trusted_origin)
    state.remember(approval)
    if state.watcher is not None:
        state.watcher.watch(approval)
    return approval


def status_of(state: AppState, approval: Approval) -> ApprovalStatus:
    view = shape_approval(approval, trusted_origin=state.trusted_origin)
    meaning, follow = text.approval_meaning(view.status, view.type, view.contractId)
    if view.status == "pending" and view.approvalUrl:
        follow = text.hire_next_step(view.approvalUrl, view.expiresAt, view.id)
    return ApprovalStatus(approval=view, meaning=meaning, nextStep=follow, sandbox=state.sandbox)


def describe(state: AppState, approval: Approval) -> CallToolResult:
    out = status_of(state, approval)
    view = out.approval
    summary = text.approval_text(view.id, view.status, out.meaning, out.nextStep, state.sandbox)
    return result(out, summary)


async def wait_until_settled(
    state: AppState, approval_id: str, timeout: float, ctx: Context[Any, Any]
) -> Approval:
    """Return as soon as the approval leaves ``pending``, or its state when ``timeout`` runs out."""
    approval = await read_approval(state, approval_id)
    if approval.status != "pending" or state.watcher is None:
        return approval
    changed = state.watcher.changed_event(approval_id)
    started = time.monotonic()
    while not changed.is_set():
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            break
        await ctx.report_progress(elapsed, timeout, message="Waiting for the human to confirm or decline")
        with anyio.move_on_after(min(PROGRESS_EVERY, timeout - elapsed)):
            await changed.wait()
    return state.settled.get(approval_id) or state.watcher.pending.get(approval_id) or approval


def register(mcp: MCPServer[Any], wanted: set[str], *, stateless: bool = False) -> None:
    if "check_approval" in wanted:

        @mcp.tool(
            name="check_approval",
            title="Check an approval",
            description=text.CHECK_APPROVAL,
            annotations=READ,
            meta=card_link(),
            structured_output=True,
        )
        async def check_approval(
            approvalId: opaque_id("approvalId", text.APPROVAL_ID),  # type: ignore[valid-type]
            ctx: Context[Any, Any],
        ) -> Annotated[CallToolResult, ApprovalStatus]:
            async with tool_call(ctx, "check_approval", writes=False) as state:
                return describe(state, await read_approval(state, approvalId))

    if "wait_for_approval" in wanted:

        @mcp.tool(
            name="wait_for_approval",
            title="Wait for an approval decision",
            description=text.WAIT_FOR_APPROVAL,
            annotations=READ,
            meta=card_link(),
            structured_output=True,
        )
        async def wait_for_approval(
            approvalId: opaque_id("approvalId", text.APPROVAL_ID),  # type: ignore[valid-type]
            ctx: Context[Any, Any],
            timeoutSeconds: Annotated[int, Field(ge=1, le=50, description="Max wait, 1-50 s")] = 30,
        ) -> Annotated[CallToolResult, ApprovalStatus]:
            async with tool_call(ctx, "wait_for_approval", writes=False) as state:
                return describe(state, await wait_until_settled(state, approvalId, timeoutSeconds, ctx))

    @mcp.resource(
        APPROVAL_URI,
        name="approval",
        title="OpenTrain approval",
        description="An approval's status and meaning; subscribe to hear when a human decides.",
        mime_type="application/json",
    )
    async def approval_resource(approvalId: str, ctx: Context) -> str:
        state = ctx.request_context.lifespan_context
        assert isinstance(state, AppState)
        try:
            check_id(approvalId, "approvalId")
            problem = state.settings.problem()
            if problem:
                raise ResourceError(problem)
            out = status_of(state, await read_approval(state, approvalId))
        except UntrustedLinkError as exc:
            raise ResourceError(text.untrusted_link(exc.kind, exc.why, exc.trusted_origin, None)) from None
        except OpenTrainError as exc:
            raise ResourceError(text.explain_error(exc, writes=False, links={})) from None
        except ValueError as exc:
            raise ResourceError(str(exc)) from None
        return json.dumps(
            out.model_dump(mode="json", exclude_none=True), separators=(",", ":"), ensure_ascii=False
        )

    async def on_subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        state = ctx.lifespan_context
        uri = str(params.uri)
        approval_id = _approval_id_of(uri)
        if not state.legacy_subscriptions.add(_connection(ctx), uri):
            raise MCPError(INVALID_PARAMS, text.too_many_subscriptions(state.legacy_subscriptions.cap))
        if not state.settings.problem():
            with contextlib.suppress(OpenTrainError, ValueError, UntrustedLinkError):
                await read_approval(state, approval_id)
        return EmptyResult()

    async def on_unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        ctx.lifespan_context.legacy_subscriptions.remove(_connection(ctx), str(params.uri))
        return EmptyResult()

    if not stateless:  # without sessions a legacy subscriber could never be told anything
        # MCPServer serves 2026-07-28 subscriptions/listen itself; legacy resources/subscribe needs a handler.
        lowlevel = mcp._lowlevel_server
        lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, on_subscribe)
        lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, on_unsubscribe)


def _connection(ctx: Any) -> Any:
    """The client's connection: mcp 2.3 builds a new ``ServerSession`` per message, the connection lasts."""
    return ctx.session._connection


def _approval_id_of(uri: str) -> str:
    """The approval id in ``opentrain://approvals/{id}``; anything else is refused as invalid params."""
    prefix = approval_uri("")
    try:
        if not uri.startswith(prefix):
            raise ValueError
        return check_id(uri[len(prefix) :], "approvalId")
    except ValueError:
        raise MCPError(INVALID_PARAMS, text.not_subscribable(APPROVAL_URI)) from None
