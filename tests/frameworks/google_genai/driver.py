"""google-genai's own MCP adapter (``tools=[session]``): the config parser converts every tool with
``Schema.from_json_schema``; function calls run through the SDK's automatic-function-calling code path
(``get_function_response_parts_async``) with a scripted model turn instead of a model."""

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
from google.genai import _extra_utils, types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def model_turn(name: str, args: dict[str, Any]) -> types.GenerateContentResponse:
    """What Gemini would answer when it decides to call ``name``."""
    call = types.Part(function_call=types.FunctionCall(name=name, args=args))
    return types.GenerateContentResponse(
        candidates=[types.Candidate(content=types.Content(role="model", parts=[call]))]
    )


def text_of(value: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in value.content)


async def main(report: Report) -> None:
    params = StdioServerParameters(command=SERVER, args=SERVER_ARGS, env=server_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        config, adapters = await _extra_utils.parse_config_for_mcp_sessions({"tools": [session]})
        declarations = [d for tool in config.tools for d in tool.function_declarations or []]
        check_listed(report, set(adapters))
        check_converted(
            report, {d.name: d.parameters is not None for d in declarations}, "Schema.from_json_schema"
        )
        functions = _extra_utils.get_function_map(config, adapters, is_caller_method_async=True)

        async def run(name: str, args: dict[str, Any]) -> dict[str, Any]:
            parts = await _extra_utils.get_function_response_parts_async(model_turn(name, args), functions)
            return parts[0].function_response.response

        async def call(name: str, args: dict[str, Any]) -> str:
            response = await run(name, args)
            if "error" in response:
                raise AssertionError(str(response["error"]))
            return text_of(response["result"])

        await hire_flow(report, call)
        failed = await run("check_approval", {"approvalId": MISSING_APPROVAL})
        report.check(
            'tool error as function response {"error": ...}',
            "error" in failed and is_our_error(text_of(failed["error"])),
            str(failed)[:300],
        )


Report("google-genai MCP adapter", ["google-genai", "mcp"]).run(main)
