"""LangChain: tools from ``langchain-mcp-adapters`` (one stdio session), converted offline with LangChain's
own OpenAI-strict, Anthropic and Gemini converters, invoked as tool calls (errors → ``status="error"``)."""

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
from langchain_anthropic.chat_models import convert_to_anthropic_tool
from langchain_core.messages import ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_google_genai._function_utils import convert_to_genai_function_declarations
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools


def converts(convert: Any, tool: Any) -> bool:
    try:
        return bool(convert(tool))
    except Exception as exc:  # the converter's own refusal is the finding
        print(f"{tool.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return False


def openai_strict(tool: Any) -> bool:
    function = convert_to_openai_tool(tool, strict=True)["function"]
    params = function["parameters"]
    return function["strict"] is True and params.get("additionalProperties") is False


def gemini(tool: Any) -> Any:
    return convert_to_genai_function_declarations([tool])[0].function_declarations[0]


def text_of(message: ToolMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


async def main(report: Report) -> None:
    client = MultiServerMCPClient(
        {"opentrain": {"transport": "stdio", "command": SERVER, "args": SERVER_ARGS, "env": server_env()}}
    )
    async with client.session("opentrain") as session:
        tools = {t.name: t for t in await load_mcp_tools(session)}
        check_listed(report, set(tools))
        check_converted(
            report, {n: converts(openai_strict, t) for n, t in tools.items()}, "OpenAI strict=True"
        )
        check_converted(
            report, {n: converts(convert_to_anthropic_tool, t) for n, t in tools.items()}, "Anthropic"
        )
        check_converted(report, {n: converts(gemini, t) for n, t in tools.items()}, "Gemini")
        milestone = gemini(tools["request_hire"]).parameters.properties["milestone"]
        report.check(
            "Gemini keeps optional milestone fields optional",
            list(milestone.required or []) == ["amount"],
            f"required: {milestone.required}",
        )

        async def call(name: str, args: dict[str, Any]) -> str:
            message = await tools[name].ainvoke(
                {"type": "tool_call", "id": f"call_{name}", "name": name, "args": args}
            )
            if message.status == "error":
                raise AssertionError(text_of(message))
            return text_of(message)

        await hire_flow(report, call)
        failed = await tools["check_approval"].ainvoke(
            {
                "type": "tool_call",
                "id": "call_err",
                "name": "check_approval",
                "args": {"approvalId": MISSING_APPROVAL},
            }
        )
        report.check(
            'tool error as ToolMessage status="error"',
            failed.status == "error" and is_our_error(text_of(failed)),
            text_of(failed),
        )


Report(
    "LangChain MCP adapters + OpenAI/Anthropic/Gemini converters",
    [
        "langchain-mcp-adapters",
        "langchain-core",
        "langchain-openai",
        "langchain-anthropic",
        "langchain-google-genai",
        "mcp",
    ],
).run(main)
