"""Build the MCP server: tools, resources, the prompt, instructions and the lifespan."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from mcp import MCPError
from mcp.server import MCPServer
from pydantic import BaseModel

from opentrain_mcp import __version__
from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings
from opentrain_mcp.policy import SpendPolicy
from opentrain_mcp.server import text, untrusted
from opentrain_mcp.server.card import card_extension
from opentrain_mcp.server.schema import compact_tool_schemas
from opentrain_mcp.server.state import lifespan_for
from opentrain_mcp.server.tools import approvals, contracts, hire, reads, spend
from opentrain_mcp.server.tools._common import CheckedMCPServer

WRITE_TOOLS = (
    "request_hire",
    "create_milestone",
    "request_milestone_funding",
    "request_milestone_release",
    "end_contract",
)
TOOLSETS = {
    "hiring": (
        "request_hire",
        "check_approval",
        "wait_for_approval",
        "list_hire_requests",
        "list_jobs",
        "list_proposals",
        "get_proposal",
        "list_contracts",
        "get_contract",
        "check_hiring_readiness",
        "preview_hire",
        "get_spend_status",
    ),
    "contracts": (
        "create_milestone",
        "request_milestone_funding",
        "request_milestone_release",
        "end_contract",
        "check_approval",
        "wait_for_approval",
        "list_hire_requests",
        "list_contracts",
        "get_contract",
        "get_spend_status",
    ),
}
"""Tool families for ``--toolsets``; a tool may belong to several (approvals and contract reads serve both)."""
DEFAULT_TOOLSETS = frozenset({"hiring"})
"""Without ``--toolsets`` (or ``--tools``): the contract tools are opt-in, which keeps the default list small."""
TOOLS_LIST_BUDGET = 3200
"""Most tokens (compact JSON bytes / 4) the default ``tools/list`` may cost; checked by a test and ``bench/``."""
ALL_TOOLS = tuple(dict.fromkeys(name for names in TOOLSETS.values() for name in names))


@dataclass
class ServerOptions:
    """Which tools to expose and where state lives."""

    read_only: bool = False
    tools: set[str] | None = None
    toolsets: Collection[str] | None = None
    ledger_path: str | None = None
    watch_interval: float = 2.0
    policy: RetryPolicy | None = None
    spend_policy: SpendPolicy = field(default_factory=SpendPolicy)
    stateless: bool = False

    def wanted(self) -> set[str]:
        """The tools to register: those of ``toolsets`` narrowed to ``tools``, minus writes when read-only.

        Without ``toolsets`` the families are ``DEFAULT_TOOLSETS``, unless ``tools`` names the tools outright.
        """
        chosen = set(ALL_TOOLS) if self.tools is None else set(self.tools)
        unknown = chosen - set(ALL_TOOLS)
        if unknown:
            raise ValueError(
                f"unknown tool(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL_TOOLS)}"
            )
        families = (
            self.toolsets if self.toolsets is not None else (DEFAULT_TOOLSETS if self.tools is None else None)
        )
        if families is not None:
            unknown = set(families) - set(TOOLSETS)
            if unknown:
                raise ValueError(
                    f"unknown toolset(s): {', '.join(sorted(unknown))}; choose from {', '.join(TOOLSETS)}"
                )
            chosen &= {name for family in families for name in TOOLSETS[family]}
        return chosen - set(WRITE_TOOLS) if self.read_only else chosen


def token_redaction(token: str | None) -> Any:
    """Middleware replacing the configured API token in every result and protocol error, whatever its path."""
    redact = untrusted.redactor(token)

    async def middleware(ctx: Any, call_next: Any) -> Any:
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            if token and token in str(exc.error.model_dump()):
                raise MCPError(exc.code, redact(exc.message), redact(exc.data)) from None
            raise
        if not token or result is None:
            return result
        wire = (
            result.model_dump_json(by_alias=True, exclude_none=True)
            if isinstance(result, BaseModel)
            else json.dumps(result, default=str)
        )
        return redact(json.loads(wire)) if token in wire else result

    return middleware


def build_server(settings: Settings, options: ServerOptions | None = None, **kwargs: Any) -> MCPServer[Any]:
    """An ``MCPServer`` exposing the OpenTrain tools. ``kwargs`` are ``ServerOptions`` fields."""
    options = options or ServerOptions(**kwargs)
    options.spend_policy.require_ledger(options.ledger_path is not None)
    from mcp.server.subscriptions import InMemorySubscriptionBus

    bus = InMemorySubscriptionBus()
    mcp: MCPServer[Any] = CheckedMCPServer(
        "opentrain",
        title="OpenTrain hiring",
        version=__version__,
        instructions=text.INSTRUCTIONS,
        website_url="https://app.opentrain.ai",
        lifespan=lifespan_for(
            settings,
            options.policy,
            bus=bus,
            ledger_path=options.ledger_path,
            watch_interval=options.watch_interval,
            spend_policy=options.spend_policy,
        ),
        log_level="WARNING",
        subscriptions=bus,
        middleware=[token_redaction(settings.token)],
        extensions=[card_extension()],
    )
    wanted = options.wanted()
    hire.register(mcp, wanted)
    approvals.register(mcp, wanted, stateless=options.stateless)
    reads.register(mcp, wanted)
    spend.register(mcp, wanted)
    contracts.register(mcp, wanted)
    compact_tool_schemas(mcp, terse={"preview_hire"})

    @mcp.prompt(name="hire_candidate", title="Hire a candidate", description="Step-by-step hiring workflow.")
    def hire_candidate(jobId: str | None = None) -> str:
        return text.HIRE_PROMPT.format(job=f" for job {jobId}" if jobId else "")

    return mcp
