"""fastmcp 2.x ``Client`` over stdio: approvals read through its typed ``.data`` (built from our output
schemas, so nested objects must declare the properties they always have); tool errors raise ``ToolError``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from fastmcp.utilities.json_schema_type import json_schema_to_type
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


def typed(schema: dict[str, Any]) -> bool:
    return json_schema_to_type(schema) is not None


async def main(report: Report) -> None:
    async with Client(StdioTransport(command=SERVER, args=SERVER_ARGS, env=server_env())) as client:
        tools = await client.list_tools()
        check_listed(report, {t.name for t in tools})
        check_converted(
            report, {t.name: typed(t.inputSchema) for t in tools}, "json_schema_to_type on inputs"
        )
        check_converted(
            report, {t.name: typed(t.outputSchema or {}) for t in tools}, "json_schema_to_type on outputs"
        )

        async def call(name: str, args: dict[str, Any]) -> Any:
            result = await client.call_tool(name, args)
            if name in ("request_hire", "check_approval"):
                # Typed objects carry the declared (always present) nested fields; the link is optional.
                approval = result.data.approval
                url = result.structured_content["approval"].get("approvalUrl")
                return {"approval": {"id": approval.id, "status": approval.status, "url": url}}
            return result.structured_content

        await hire_flow(report, call)
        try:
            await client.call_tool("check_approval", {"approvalId": MISSING_APPROVAL})
            report.check("tool error as ToolError", False, "no exception")
        except ToolError as exc:
            report.check("tool error as ToolError", is_our_error(str(exc)), str(exc))


Report("fastmcp 2.x client", ["fastmcp", "mcp"]).run(main)
