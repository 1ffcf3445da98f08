"""PydanticAI: ``MCPToolset`` over stdio; every input schema through PydanticAI's own OpenAI (strict=True) and
Google schema transformers; calls through ``direct_call_tool`` (tool errors → ``ModelRetry``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastmcp.client.transports import StdioTransport
from flow import (
    MISSING_APPROVAL,
    SERVER,
    SERVER_ARGS,
    Report,
    check_converted,
    check_listed,
    hire_flow,
    is_our_error,
    server_env,
)
from pydantic_ai.exceptions import ModelRetry
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.profiles.google import GoogleJsonSchemaTransformer
from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer


def openai_strict(schema: dict[str, Any]) -> bool:
    transformer = OpenAIJsonSchemaTransformer(schema, strict=True)
    transformer.walk()
    return transformer.is_strict_compatible


def google(schema: dict[str, Any]) -> bool:
    return bool(GoogleJsonSchemaTransformer(schema).walk())


async def main(report: Report) -> None:
    # init_timeout (default 5 s) also bounds the server's start, which a loaded 2-core machine can exceed.
    transport = StdioTransport(command=SERVER, args=SERVER_ARGS, env=server_env())
    toolset = MCPToolset(transport, init_timeout=30)
    async with toolset:
        tools = await toolset.list_tools()
        check_listed(report, {t.name for t in tools})
        check_converted(
            report, {t.name: openai_strict(t.input_schema) for t in tools}, "OpenAI transformer, strict=True"
        )
        check_converted(report, {t.name: google(t.input_schema) for t in tools}, "Google transformer")

        async def call(name: str, args: dict[str, Any]) -> Any:
            return await toolset.direct_call_tool(name, args)  # structured content, as the model gets it

        await hire_flow(report, call)
        try:
            await toolset.direct_call_tool("check_approval", {"approvalId": MISSING_APPROVAL})
            report.check("tool error as ModelRetry", False, "no exception")
        except ModelRetry as exc:
            report.check("tool error as ModelRetry", is_our_error(str(exc)), str(exc))


Report("PydanticAI", ["pydantic-ai-slim", "fastmcp-slim", "mcp"]).run(main)
