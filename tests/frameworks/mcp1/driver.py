"""The official ``mcp`` 1.x client (v1 SDK against our v2 server): its session validates every
``structuredContent`` against the tool's ``outputSchema``; schemas are checked as JSON Schema 2020-12."""

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
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(report: Report) -> None:
    params = StdioServerParameters(command=SERVER, args=SERVER_ARGS, env=server_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        check_listed(report, {t.name for t in tools})
        converted = {}
        for tool in tools:
            Draft202012Validator.check_schema(tool.inputSchema)
            Draft202012Validator.check_schema(tool.outputSchema or {})
            converted[tool.name] = True
        check_converted(report, converted, "valid JSON Schema 2020-12, input and output")

        async def call(name: str, args: dict[str, Any]) -> str:
            result = await session.call_tool(name, args)
            if result.isError:
                raise AssertionError(result.content[0].text)
            return result.content[0].text

        await hire_flow(report, call)
        failed = await session.call_tool("check_approval", {"approvalId": MISSING_APPROVAL})
        text = failed.content[0].text
        report.check("tool error as isError", failed.isError and is_our_error(text), text)


Report("mcp 1.x client", ["mcp"]).run(main)
