"""OpenAI Agents SDK: ``MCPServerStdio`` with its default 5 s session timeout, every tool converted with
``convert_schemas_to_strict=True`` (strict function calling), invoked through ``FunctionTool.on_invoke_tool``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.mcp import MCPServerStdio, MCPUtil
from agents.tool_context import ToolContext
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


def output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        return str(output.get("text", output))
    return "\n".join(output_text(item) for item in output)


async def main(report: Report) -> None:
    server = MCPServerStdio(
        {"command": SERVER, "args": SERVER_ARGS, "env": server_env()}, name="opentrain", cache_tools_list=True
    )
    async with server:
        mcp_tools = await server.list_tools()
        check_listed(report, {t.name for t in mcp_tools})
        tools = {
            t.name: MCPUtil.to_function_tool(t, server, convert_schemas_to_strict=True) for t in mcp_tools
        }
        check_converted(
            report, {n: t.strict_json_schema for n, t in tools.items()}, "strict_json_schema=True"
        )

        async def call(name: str, args: dict[str, Any]) -> str:
            arguments = json.dumps(args)
            ctx = ToolContext(
                context=None, tool_name=name, tool_call_id=f"call_{name}", tool_arguments=arguments
            )
            return output_text(await tools[name].on_invoke_tool(ctx, arguments))

        await hire_flow(report, call)
        text = await call("check_approval", {"approvalId": MISSING_APPROVAL})
        report.check("tool error as the server's error text (isError content kept)", is_our_error(text), text)


Report("OpenAI Agents SDK", ["openai-agents", "mcp"]).run(main)
