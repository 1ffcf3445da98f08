"""Helpers shared by the tool modules."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, TextContent
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from opentrain_mcp.api.models import ID_PATTERN, check_id
from opentrain_mcp.api.retry import shared_deadline
from opentrain_mcp.server import text
from opentrain_mcp.server.errors import require_configured, tool_errors
from opentrain_mcp.server.state import AppState

log = logging.getLogger("opentrain_mcp.server")


@asynccontextmanager
async def tool_call(
    ctx: Context[Any, Any], tool: str, *, writes: bool, needs_token: bool = True
) -> AsyncIterator[AppState]:
    """The shared state for a tool call that uses the API; failures become actionable ``ToolError``s.

    Every API request of the call shares one wall-clock budget (``RetryPolicy.budget``), bodies included.
    """
    state = state_of(ctx)
    if needs_token:
        require_configured(state)
    async with tool_errors(tool, state, writes=writes):
        with shared_deadline(state.client.policy.budget):
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


def optional_id(what: str, description: str) -> Any:
    """An optional id parameter: ``""`` (the advertised default) means none, anything else must be a safe id."""
    return Annotated[
        str,
        Field(max_length=128, description=f"{description}; empty for all"),
        AfterValidator(lambda v: check_id(v, what) if v else v),
    ]


def result(model: BaseModel, summary: str) -> CallToolResult:
    """Short plain text for the model plus the object as structured content (empty fields left out)."""
    data = model.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=data)


def check_arguments(tool: Tool, arguments: dict[str, Any]) -> None:
    """Refuse unknown arguments and anything but the exact JSON types (no "yes" or 1 for true).

    Raises a ``ToolError`` listing every problem as "`path`: what is wrong", in the project's words.
    """
    meta = tool.fn_metadata
    accepted = [info.alias or name for name, info in meta.arg_model.model_fields.items()]
    problems = [f"`{key}`: {text.UNKNOWN_ARGUMENT}" for key in arguments if key not in accepted]
    known = {k: v for k, v in arguments.items() if k in accepted}
    try:
        meta.arg_model.model_validate(meta.pre_parse_json(known), strict=True)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = ".".join(str(part) for part in error["loc"])
            message = text.argument_problem(error["type"], error["msg"], dict(error.get("ctx") or {}))
            field = str(error["loc"][-1]) if error["loc"] else ""
            problems.append(f"`{path}`: {message.removeprefix(field + ' ')}" if path else message)
    if problems:
        raise ToolError(text.argument_error(tool.name, problems, accepted))


class CheckedMCPServer(MCPServer[Any]):
    """``MCPServer`` whose tools refuse unknown arguments and loose types before the SDK sees them."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            try:
                check_arguments(tool, arguments)
            except ToolError:
                raise
            except Exception:  # outside the SDK's tool runner a crash's own text would reach the client
                ref = secrets.token_hex(4)
                log.exception("%s: argument check crashed (reference %s)", name, ref)
                raise ToolError(text.internal_error(ref, writes=False)) from None
        return await super().call_tool(name, arguments, context)
