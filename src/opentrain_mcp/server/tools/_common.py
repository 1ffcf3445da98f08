"""Helpers shared by the tool modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent
from pydantic import AfterValidator, BaseModel, Field

from opentrain_mcp.api.models import ID_PATTERN, check_id
from opentrain_mcp.server.errors import require_configured, tool_errors
from opentrain_mcp.server.state import AppState


@asynccontextmanager
async def tool_call(ctx: Context[Any, Any], tool: str, *, writes: bool) -> AsyncIterator[AppState]:
    """The shared state for a tool call that needs the API; failures become actionable ``ToolError``s."""
    state = state_of(ctx)
    require_configured(state)
    async with tool_errors(tool, state, writes=writes):
        yield state


def state_of(ctx: Context[Any, Any]) -> AppState:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, AppState)
    return state


def opaque_id(what: str, description: str) -> Any:
    """An id parameter: schema-checked, and re-checked so ``..`` and friends never reach a URL."""
    return Annotated[
        str,
        Field(min_length=1, max_length=128, pattern=ID_PATTERN, description=description),
        AfterValidator(lambda v: check_id(v, what)),
    ]


def result(model: BaseModel, summary: str) -> CallToolResult:
    """Short plain text for the model plus the object as structured content (top-level nulls left out)."""
    data = {k: v for k, v in model.model_dump(mode="json").items() if v is not None}
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=data)
