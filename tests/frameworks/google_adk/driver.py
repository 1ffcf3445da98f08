"""Google ADK: ``McpToolset`` over stdio with ADK's default 5 s timeout; every tool's Gemini
``FunctionDeclaration`` built by ADK; calls through ``McpTool.run_async`` with a function-call id, as an LLM turn gives (errors → ``isError`` in the dict
ADK hands the model)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
from google.adk.agents import LlmAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.sessions import InMemorySessionService
from google.adk.tools.mcp_tool import McpToolset, StdioConnectionParams
from google.adk.tools.tool_context import ToolContext
from mcp import StdioServerParameters


def declared(tool: Any) -> bool:
    declaration = tool._get_declaration()
    return declaration.parameters is not None or declaration.parameters_json_schema is not None


def text_of(result: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in result.get("content", []))


async def main(report: Report) -> None:
    server = StdioServerParameters(command=SERVER, args=SERVER_ARGS, env=server_env())
    toolset = McpToolset(connection_params=StdioConnectionParams(server_params=server, timeout=30))
    try:
        tools = {t.name: t for t in await toolset.get_tools()}
        check_listed(report, set(tools))
        check_converted(report, {n: declared(t) for n, t in tools.items()}, "FunctionDeclaration")
        sessions = InMemorySessionService()
        session = await sessions.create_session(app_name="matrix", user_id="matrix")
        invocation = InvocationContext(
            session_service=sessions, invocation_id="matrix", agent=LlmAgent(name="matrix"), session=session
        )

        calls = iter(range(1, 1000))

        async def run(name: str, args: dict[str, Any]) -> dict[str, Any]:
            # A real LLM turn gives each call an id; ADK needs it to render our approval card (MCP Apps).
            context = ToolContext(invocation, function_call_id=f"call-{next(calls)}")
            return await tools[name].run_async(args=args, tool_context=context)

        async def call(name: str, args: dict[str, Any]) -> str:
            result = await run(name, args)
            if result.get("isError") or "error" in result:
                raise AssertionError(str(result))
            return text_of(result)

        await hire_flow(report, call)
        failed = await run("check_approval", {"approvalId": MISSING_APPROVAL})
        report.check(
            "tool error as isError in the function response",
            failed.get("isError") is True and is_our_error(text_of(failed)),
            str(failed)[:300],
        )
    finally:
        await toolset.close()


Report("Google ADK", ["google-adk", "google-genai", "mcp"]).run(main)
