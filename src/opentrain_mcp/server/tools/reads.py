"""Read tools an agent uses to choose whom to hire and to follow up: jobs, proposals, contracts, readiness."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from opentrain_mcp.api.errors import AuthenticationError, OpenTrainError, PermissionDeniedError
from opentrain_mcp.server import text
from opentrain_mcp.server.state import AppState
from opentrain_mcp.server.tools._common import opaque_id, tool_call

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
ProposalStatus = Literal[
    "UNREVIEWED", "SHORTLISTED", "MAYBE", "HIRED", "DECLINED", "NOT_A_FIT", "RESUME_SENT"
]


class Compact(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Job(Compact):
    id: str
    title: str | None = None
    status: str | None = None
    paymentType: str | None = None


class Jobs(Compact):
    jobs: list[Job]


class Proposal(Compact):
    id: str
    status: str | None = Field(
        None, description="UNREVIEWED, SHORTLISTED, MAYBE, HIRED, DECLINED, NOT_A_FIT, ..."
    )
    candidate: str | None = Field(None, description="Masked name, e.g. 'Maria G.'")
    bid: str | None = Field(None, description="e.g. '0.06 USD/label'")
    interviewScore: float | None = None
    matchScore: float | None = None


class Proposals(Compact):
    proposals: list[Proposal]
    nextCursor: str | None = None


class ProposalDetail(Proposal):
    jobId: str | None = None
    createdAt: str | None = None
    interviewSummary: str | None = None
    verification: dict[str, Any] | None = None
    contractId: str | None = None


class Milestone(Compact):
    id: str | None = None
    name: str | None = None
    status: str | None = None
    amountUsd: float | None = None
    dueDate: str | None = None


class Contract(Compact):
    id: str
    status: str | None = None
    title: str | None = None
    jobId: str | None = None
    proposalId: str | None = None
    freelancer: str | None = Field(None, description="Masked name")
    paymentType: str | None = None
    milestones: list[Milestone] = []


class Contracts(Compact):
    contracts: list[Contract]


class Check(Compact):
    name: str
    status: Literal["ready", "not_ready", "unknown"]
    detail: str


class Readiness(Compact):
    ready: bool = Field(description="True only if every check is ready")
    verdict: Literal["ready", "not_ready", "unknown"] = Field(
        description="not_ready if any check is not_ready; unknown if none is but some could not be verified"
    )
    checks: list[Check]


def _verdict(checks: list[Check]) -> Readiness:
    statuses = {c.status for c in checks}
    verdict: Literal["ready", "not_ready", "unknown"] = "ready"
    for worst in ("unknown", "not_ready"):
        if worst in statuses:
            verdict = worst
    return Readiness(ready=verdict == "ready", verdict=verdict, checks=checks)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _proposal(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw.get("status")
    candidate = _obj(raw.get("candidate"))
    metrics = _obj(raw.get("metrics"))
    return {
        **raw,
        "status": status.get("raw") if isinstance(status, dict) else status,
        "candidate": candidate.get("displayName"),
        "bid": _bid(raw.get("bid")),
        "interviewScore": metrics.get("interviewScore"),
        "matchScore": metrics.get("matchScore"),
    }


_UNITS = {"PER_LABEL": "label", "PER_HOUR": "hour"}


def _bid(raw: Any) -> str | None:
    bid = _obj(raw)
    amount, unit = bid.get("amountUsd"), bid.get("unit")
    if not isinstance(amount, (int, float)):
        return None
    per = _UNITS.get(unit, str(unit).lower()) if unit else None
    return f"{amount:g} USD" + (f"/{per}" if per else "")


def _proposal_line(p: Proposal) -> str:
    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    cells = [
        p.id,
        p.candidate or "?",
        p.status or "?",
        show(p.interviewScore),
        show(p.matchScore),
        p.bid or "-",
    ]
    return " | ".join(cells)


def _contract(raw: dict[str, Any]) -> dict[str, Any]:
    freelancer = _obj(raw.get("freelancer"))
    return {**raw, "freelancer": freelancer.get("displayName"), "milestones": raw.get("milestones") or []}


def _compact(model: BaseModel, summary: str | None = None) -> CallToolResult:
    """Structured content without nulls; text is ``summary`` or the same data as compact JSON."""
    from mcp.types import TextContent

    data = model.model_dump(mode="json", exclude_none=True)
    text = summary if summary is not None else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


async def readiness(state: AppState) -> Readiness:
    """OpenTrain's pre-hire checklist, each item ready / not_ready / unknown with its fix."""
    problem = state.settings.problem()
    if problem:
        return _verdict([Check(name="token", status="not_ready", detail=problem)])
    checks: list[Check] = []
    try:
        me = await state.client.me()
    except AuthenticationError:
        checks.append(
            Check(name="token", status="not_ready", detail="Token rejected. Set a valid OT_API_TOKEN.")
        )
        return _verdict(checks)
    token = _obj(me.get("token"))
    scopes = set(token.get("scopes") or [])
    checks.append(Check(name="token", status="ready", detail="Token accepted."))
    missing = sorted({"proposals:write", "payments:read"} - scopes - ({"payments:read"} & _implied(scopes)))
    checks.append(
        Check(
            name="scopes", status="not_ready", detail=f"Token lacks {', '.join(missing)}; create a new token."
        )
        if missing
        else Check(name="scopes", status="ready", detail="proposals:write and payments:read granted.")
    )
    checks.append(await _feature_check(state))
    account = _obj(me.get("account"))
    claimed = account.get("claimed")
    checks.append(
        Check(
            name="account_claimed",
            status="ready" if claimed else "not_ready",
            detail="Account claimed." if claimed else "Account not claimed; a human must claim it.",
        )
        if isinstance(claimed, bool)
        else Check(
            name="account_claimed",
            status="unknown",
            detail="Not reported by the API; a hire answers account_claim_required with a claimUrl if needed.",
        )
    )
    checks.append(await _funds_check(state))
    return _verdict(checks)


def _implied(scopes: set[str]) -> set[str]:
    return {s.replace(":write", ":read") for s in scopes if s.endswith(":write")}


async def _feature_check(state: AppState) -> Check:
    try:
        caps = _obj((await state.client.capabilities()).get("capabilities"))
    except OpenTrainError as exc:
        return Check(
            name="hiring_feature", status="unknown", detail=f"Could not read capabilities: {exc.message}"
        )
    if caps.get("hiring") is True:
        return Check(name="hiring_feature", status="ready", detail="Hiring through the API is enabled.")
    if caps.get("hiring") is False:
        return Check(
            name="hiring_feature",
            status="not_ready",
            detail="Hiring through the API (public_api_hiring) is off for this account; contact OpenTrain.",
        )
    return Check(name="hiring_feature", status="unknown", detail="Capabilities did not mention hiring.")


async def _funds_check(state: AppState) -> Check:
    try:
        credits = _obj((await state.client.credits()).get("credits"))
    except PermissionDeniedError as exc:
        return Check(
            name="funds",
            status="unknown",
            detail=f"Credits not readable ({exc.reason or exc.code}); a payment method may still be on file.",
        )
    except OpenTrainError as exc:
        return Check(name="funds", status="unknown", detail=f"Could not read credits: {exc.message}")
    cents = credits.get("availableCents")
    if isinstance(cents, int) and cents > 0:
        return Check(name="funds", status="ready", detail=f"Credit balance {text.money(cents / 100)}.")
    return Check(
        name="funds",
        status="unknown",
        detail="No credits; a card on file is not visible via the API. A hire answers "
        "payment_method_required with a billingUrl if neither exists.",
    )


def register(mcp: MCPServer[Any], wanted: set[str]) -> None:
    def tool(name: str, title: str, description: str) -> Any:
        if name not in wanted:
            return lambda fn: fn
        return mcp.tool(
            name=name, title=title, description=description, annotations=READ, structured_output=True
        )

    @tool("list_jobs", "List my jobs", "Your posted jobs (ids for list_proposals).")
    async def list_jobs(ctx: Context[Any, Any]) -> Annotated[CallToolResult, Jobs]:
        async with tool_call(ctx, "list_jobs", writes=False) as state:
            data = await state.client.list_jobs()
            return _compact(Jobs.model_validate({"jobs": data.get("jobs") or []}))

    @tool(
        "list_proposals",
        "List proposals",
        "Proposals on one of your jobs, newest first, with masked candidate, bid and scores.",
    )
    async def list_proposals(
        jobId: opaque_id("jobId", "Job id from list_jobs"),  # type: ignore[valid-type]
        ctx: Context[Any, Any],
        status: Annotated[ProposalStatus | None, Field(description="Filter by status")] = None,
        cursor: Annotated[
            str | None, Field(max_length=200, description="nextCursor of a previous page")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=100, description="Page size")] = 10,
    ) -> Annotated[CallToolResult, Proposals]:
        async with tool_call(ctx, "list_proposals", writes=False) as state:
            data = await state.client.list_proposals(jobId, status=status, cursor=cursor, limit=limit)
            items = [_proposal(p) for p in data.get("proposals") or [] if isinstance(p, dict)]
            page = Proposals.model_validate({"proposals": items, "nextCursor": data.get("nextCursor")})
            lines = [
                "id | candidate | status | interview | match | bid",
                *map(_proposal_line, page.proposals),
            ]
            if page.nextCursor:
                lines.append(f"more: cursor={page.nextCursor}")
            return _compact(page, "\n".join(lines) if page.proposals else "No proposals.")

    @tool(
        "get_proposal",
        "Get a proposal",
        "One proposal with its AI-interview score and summary and verification.",
    )
    async def get_proposal(
        proposalId: opaque_id("proposalId", text.PROPOSAL_ID),  # type: ignore[valid-type]
        ctx: Context[Any, Any],
    ) -> Annotated[CallToolResult, ProposalDetail]:
        async with tool_call(ctx, "get_proposal", writes=False) as state:
            raw = _obj((await state.client.get_proposal(proposalId)).get("proposal"))
            interview = _obj(raw.get("aiInterview"))
            contract = _obj(raw.get("contract"))
            detail = {
                **_proposal(raw),
                "interviewSummary": interview.get("summary"),
                "contractId": raw.get("contractId") or contract.get("id"),
            }
            if detail.get("interviewScore") is None:
                detail["interviewScore"] = interview.get("score")
            return _compact(ProposalDetail.model_validate(detail))

    @tool(
        "list_contracts", "List contracts", "Your contracts, newest first, optionally for one job or status."
    )
    async def list_contracts(
        ctx: Context[Any, Any],
        jobId: opaque_id("jobId", "Only this job's contracts") | None = None,  # type: ignore[valid-type]
        status: Annotated[Literal["active", "ended"] | None, Field(description="Filter by status")] = None,
    ) -> Annotated[CallToolResult, Contracts]:
        async with tool_call(ctx, "list_contracts", writes=False) as state:
            data = await state.client.list_contracts(job_id=jobId, status=status)
            items = [_contract(c) for c in data.get("contracts") or [] if isinstance(c, dict)]
            return _compact(Contracts.model_validate({"contracts": items}))

    @tool("get_contract", "Get a contract", "One contract with its milestones.")
    async def get_contract(
        contractId: opaque_id("contractId", "Contract id, e.g. from check_approval"),  # type: ignore[valid-type]
        ctx: Context[Any, Any],
    ) -> Annotated[CallToolResult, Contract]:
        async with tool_call(ctx, "get_contract", writes=False) as state:
            raw = _obj((await state.client.get_contract(contractId)).get("contract"))
            return _compact(Contract.model_validate(_contract(raw)))

    @tool(
        "check_hiring_readiness",
        "Check hiring readiness",
        "Preflight before a first hire: token, scopes, hiring feature, account claim, funds.",
    )
    async def check_hiring_readiness(ctx: Context[Any, Any]) -> Annotated[CallToolResult, Readiness]:
        async with tool_call(ctx, "check_hiring_readiness", writes=False, needs_token=False) as state:
            return _compact(await readiness(state))
