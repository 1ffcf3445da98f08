"""Read tools an agent uses to choose whom to hire and to follow up: jobs, proposals, contracts, readiness."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from opentrain_mcp.api.errors import AuthenticationError, OpenTrainError, PermissionDeniedError
from opentrain_mcp.server import text, untrusted
from opentrain_mcp.server.state import AppState
from opentrain_mcp.server.tools._common import opaque_id, optional_id, tool_call
from opentrain_mcp.server.tools.hire import estimate_charge

READ = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
ProposalStatus = Literal[
    "UNREVIEWED", "SHORTLISTED", "MAYBE", "HIRED", "DECLINED", "NOT_A_FIT", "RESUME_SENT"
]


def _is_date_or_time(value: object) -> bool:
    return untrusted.is_date(value) or untrusted.is_timestamp(value)


UpstreamId = Annotated[str, AfterValidator(untrusted.checker(untrusted.is_id, "an id"))]
Word = Annotated[str, AfterValidator(untrusted.checker(untrusted.is_word, "a status word"))]
Timestamp = Annotated[str, AfterValidator(untrusted.checker(untrusted.is_timestamp, "an ISO-8601 timestamp"))]
DateOrTime = Annotated[str, AfterValidator(untrusted.checker(_is_date_or_time, "a date"))]
Number = Annotated[float, Strict()]
Name = Annotated[str, AfterValidator(untrusted.cleaner(untrusted.NAME_CAP))]
Title = Annotated[str, AfterValidator(untrusted.cleaner(untrusted.TITLE_CAP))]
Summary = Annotated[str, AfterValidator(untrusted.cleaner(untrusted.SUMMARY_CAP))]
Cursor = Annotated[str, AfterValidator(untrusted.checker(untrusted.is_cursor, "a paging cursor"))]
CUT = Field(None, description="What the size cap left out, if anything")


class Compact(BaseModel):
    """Only the fields declared here reach the model; unknown upstream fields are dropped."""

    model_config = ConfigDict(extra="ignore")


class Job(Compact):
    id: UpstreamId
    title: Title | None = None
    status: Word | None = None
    paymentType: Word | None = None


class Jobs(Compact):
    jobs: list[Job]
    cut: str | None = CUT


class Proposal(Compact):
    id: UpstreamId
    status: Word | None = Field(
        None, description="UNREVIEWED, SHORTLISTED, MAYBE, HIRED, DECLINED, NOT_A_FIT, ..."
    )
    candidate: Name | None = Field(None, description="Masked name, e.g. 'Maria G.'")
    bid: str | None = Field(None, description="e.g. '0.06 USD/label'")
    interviewScore: Number | None = None
    matchScore: Number | None = None


class Proposals(Compact):
    proposals: list[Proposal]
    nextCursor: Cursor | None = None
    cut: str | None = CUT


class ProposalDetail(Proposal):
    jobId: UpstreamId | None = None
    createdAt: Timestamp | None = None
    interviewSummary: Summary | None = None
    verification: dict[str, Any] | None = None
    contractId: UpstreamId | None = None


class Milestone(Compact):
    id: UpstreamId | None = None
    name: Title | None = None
    status: Word | None = None
    amountUsd: Number | None = None
    dueDate: DateOrTime | None = None
    escrow: str | None = Field(None, description="What the status means for this milestone's money")


class Contract(Compact):
    id: UpstreamId
    status: Word | None = None
    title: Title | None = None
    jobId: UpstreamId | None = None
    proposalId: UpstreamId | None = None
    freelancer: Name | None = Field(None, description="Masked name")
    paymentType: Word | None = None
    endDate: DateOrTime | None = None
    milestones: list[Milestone] = []
    cut: str | None = CUT


class Contracts(Compact):
    contracts: list[Contract]
    cut: str | None = CUT


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


def verdict(checks: list[Check]) -> Readiness:
    """The overall verdict of ``checks`` (shared by ``check_hiring_readiness`` and ``opentrain-mcp check``)."""
    statuses = {c.status for c in checks}
    overall: Literal["ready", "not_ready", "unknown"] = "ready"
    for worst in ("unknown", "not_ready"):
        if worst in statuses:
            overall = worst
    return Readiness(ready=overall == "ready", verdict=overall, checks=checks)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _proposal(raw: dict[str, Any]) -> dict[str, Any]:
    status = raw.get("status")
    candidate = _obj(raw.get("candidate"))
    metrics = _obj(raw.get("metrics"))
    return {
        **raw,
        "verification": untrusted.plain_json(raw.get("verification")) or None,
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
    if not untrusted.is_number(amount):
        return None
    per = _UNITS.get(unit) if isinstance(unit, str) else None
    if per is None and untrusted.is_word(unit):
        per = str(unit).lower()
    return f"{amount:g} USD" + (f"/{per}" if per else "")


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _proposal_line(p: Proposal) -> str:
    cells = [
        p.id,
        text.upstream_text(p.candidate or "?", 80),
        p.status or "?",
        _show(p.interviewScore),
        _show(p.matchScore),
        p.bid or "-",
    ]
    return " | ".join(cells)


def _contract(raw: dict[str, Any]) -> dict[str, Any]:
    freelancer = _obj(raw.get("freelancer"))
    milestones = [
        {**m, "escrow": text.ESCROW.get(m["status"])}
        if isinstance(m, dict) and m.get("status") in text.ESCROW
        else m
        for m in raw.get("milestones") or []
    ]
    return {**raw, "freelancer": freelancer.get("displayName"), "milestones": milestones}


M = TypeVar("M", bound=Compact)


def _bounded(model: type[M], data: dict[str, Any], items: str, what: str) -> M:
    """Parse upstream data into ``model`` (shapes checked, free text cleaned and capped), then cut the
    ``items`` list to the page byte cap, saying what was cut."""
    parsed = untrusted.parse(model, data, what)
    listed = getattr(parsed, items)
    kept, cut = untrusted.cap_items([i.model_dump(mode="json", exclude_none=True) for i in listed])
    return parsed if cut is None else parsed.model_copy(update={items: listed[:kept], "cut": cut})


def _compact(model: BaseModel, summary: str) -> CallToolResult:
    """Structured content without nulls; the text is a short summary for people, never a copy of the data."""
    data = model.model_dump(mode="json", exclude_none=True)
    return CallToolResult(content=[TextContent(type="text", text=summary)], structured_content=data)


def _proposal_summary(p: ProposalDetail) -> str:
    lines = [
        f"Proposal {p.id} on job {p.jobId or '?'}: {text.upstream_text(p.candidate or '?', 80)}, "
        f"{p.status or '?'}, bid {p.bid or '-'}, interview {_show(p.interviewScore)}, "
        f"match {_show(p.matchScore)}."
    ]
    if p.interviewSummary:
        lines.append(f"AI-interview summary: {text.upstream_text(p.interviewSummary, 600)}")
    if p.contractId:
        lines.append(f"Hired: contract {p.contractId}.")
    return "\n".join(lines)


def _contract_line(c: Contract) -> str:
    return " | ".join(
        [
            c.id,
            c.status or "?",
            text.upstream_text(c.title or "?", 80),
            text.upstream_text(c.freelancer or "?", 80),
        ]
    )


def _contract_summary(c: Contract) -> str:
    lines = ["id | status | title | trainer", _contract_line(c)]
    lines += [
        f"milestone {m.id or '?'} | {m.status or '?'} | {_show(m.amountUsd)} USD | due {m.dueDate or '-'}"
        + (f" | {m.escrow}" if m.escrow else "")
        for m in c.milestones
    ]
    if c.status == "ended":
        lines.append(text.ended_contract(c.endDate))
    return "\n".join(lines)


def readiness_summary(r: Readiness) -> str:
    """The verdict in words that follow the items (which block, which could not be checked), then each item."""
    blocking = [c.name for c in r.checks if c.status == "not_ready"]
    unchecked = [c.name for c in r.checks if c.status == "unknown"]
    if blocking:
        head = f"Not ready to hire: fix {', '.join(blocking)} first."
    elif unchecked:
        head = (
            f"Nothing that could be checked blocks a hire; not verifiable from here: {', '.join(unchecked)}. "
            "If one of them blocks, the hire request's answer says so and how to fix it."
        )
    else:
        head = "Ready to hire: every check passed."
    return "\n".join([head, *(f"{c.name}: {c.status}. {c.detail}" for c in r.checks)])


async def readiness(state: AppState, amount: float = 0) -> Readiness:
    """OpenTrain's pre-hire checklist, each item ready / not_ready / unknown with its fix.

    With a planned milestone ``amount`` (USD), the funds check compares credits with its estimated charge.
    """
    problem = state.settings.problem()
    if problem:
        return verdict([Check(name="token", status="not_ready", detail=problem)])
    checks: list[Check] = []
    try:
        me = await state.client.me()
    except AuthenticationError:
        checks.append(
            Check(name="token", status="not_ready", detail="Token rejected. Set a valid OT_API_TOKEN.")
        )
        return verdict(checks)
    token = _obj(me.get("token"))
    listed = token.get("scopes")
    scopes = {s for s in listed if isinstance(s, str)} if isinstance(listed, list) else set()
    source = f" (from {state.settings.token_var})" if state.settings.token_var else ""
    checks.append(Check(name="token", status="ready", detail=f"Token accepted{source}."))
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
    checks.append(await _funds_check(state, amount))
    return verdict(checks)


def _error_word(exc: OpenTrainError) -> str:
    """The error's reason or code when shaped as one, else a neutral word."""
    if untrusted.is_word(exc.reason):
        return str(exc.reason)
    return untrusted.error_code(exc.code) or "refused"


def _implied(scopes: set[str]) -> set[str]:
    return {s.replace(":write", ":read") for s in scopes if s.endswith(":write")}


async def _feature_check(state: AppState) -> Check:
    try:
        caps = _obj((await state.client.capabilities()).get("capabilities"))
    except OpenTrainError as exc:
        return Check(
            name="hiring_feature",
            status="unknown",
            detail=f"Could not read capabilities: {untrusted.quote(exc.message)}",
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


async def _funds_check(state: AppState, amount: float) -> Check:
    try:
        credits = _obj((await state.client.credits()).get("credits"))
    except PermissionDeniedError as exc:
        return Check(
            name="funds",
            status="unknown",
            detail=f"Credits not readable ({_error_word(exc)}); a payment method may still be on file.",
        )
    except OpenTrainError as exc:
        return Check(
            name="funds", status="unknown", detail=f"Could not read credits: {untrusted.quote(exc.message)}"
        )
    cents = credits.get("availableCents")
    needed = estimate_charge(amount).total if amount > 0 else 0.0
    if isinstance(cents, bool) or not isinstance(cents, int):
        cents = 0
    if cents > 0 and cents / 100 >= needed:
        covers = f", enough for the estimated charge {text.money(needed)}" if needed else ""
        return Check(
            name="funds", status="ready", detail=f"Credit balance {text.money(cents / 100)}{covers}."
        )
    if cents > 0:
        return Check(
            name="funds",
            status="unknown",
            detail=f"Credit balance {text.money(cents / 100)} is below the estimated charge {text.money(needed)}; "
            "a card on file is not visible via the API.",
        )
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
    async def list_jobs(
        ctx: Context[Any, Any],
        titleContains: Annotated[
            str, Field(max_length=200, description="Only jobs whose title contains this text; empty for all")
        ] = "",
    ) -> Annotated[CallToolResult, Jobs]:
        async with tool_call(ctx, "list_jobs", writes=False) as state:
            data = await state.client.list_jobs()
            jobs = _bounded(Jobs, {"jobs": data.get("jobs") or []}, "jobs", "jobs response")
            wanted = titleContains.casefold()
            jobs.jobs = [j for j in jobs.jobs if wanted in (j.title or "").casefold()]
            lines = [
                f"{j.id} | {text.upstream_text(j.title or '?', 120)} | {j.status or '?'}" for j in jobs.jobs
            ]
            if jobs.cut:
                lines.append(jobs.cut)
            return _compact(jobs, "\n".join(["id | title | status", *lines]) if jobs.jobs else "No jobs.")

    @tool(
        "list_proposals",
        "List proposals",
        "Proposals on one of your jobs, newest first, with masked candidate, bid and scores.",
    )
    async def list_proposals(
        jobId: opaque_id("jobId", "Job id from list_jobs"),  # type: ignore[valid-type]
        ctx: Context[Any, Any],
        status: Annotated[
            Literal["ANY", ProposalStatus], Field(description="Only proposals with this status")
        ] = "ANY",
        cursor: Annotated[
            str, Field(max_length=200, description="nextCursor of a previous page; empty for the first")
        ] = "",
        limit: Annotated[int, Field(ge=1, le=100, description="Page size")] = 10,
    ) -> Annotated[CallToolResult, Proposals]:
        async with tool_call(ctx, "list_proposals", writes=False) as state:
            data = await state.client.list_proposals(
                jobId, status=None if status == "ANY" else status, cursor=cursor or None, limit=limit
            )
            items = [_proposal(p) for p in data.get("proposals") or [] if isinstance(p, dict)]
            raw = {"proposals": items, "nextCursor": data.get("nextCursor")}
            page = _bounded(Proposals, raw, "proposals", "proposals response")
            lines = [
                "id | candidate | status | interview | match | bid",
                *map(_proposal_line, page.proposals),
            ]
            if page.cut:
                lines.append(page.cut)
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
            proposal = untrusted.parse(ProposalDetail, detail, "proposal response")
            return _compact(proposal, _proposal_summary(proposal))

    @tool(
        "list_contracts", "List contracts", "Your contracts, newest first, optionally for one job or status."
    )
    async def list_contracts(
        ctx: Context[Any, Any],
        jobId: optional_id("jobId", "Only this job's contracts") = "",  # type: ignore[valid-type]
        status: Annotated[
            Literal["any", "active", "ended"], Field(description="Only contracts with this status")
        ] = "any",
    ) -> Annotated[CallToolResult, Contracts]:
        async with tool_call(ctx, "list_contracts", writes=False) as state:
            data = await state.client.list_contracts(
                job_id=jobId or None, status=None if status == "any" else status
            )
            items = [_contract(c) for c in data.get("contracts") or [] if isinstance(c, dict)]
            contracts = _bounded(Contracts, {"contracts": items}, "contracts", "contracts response")
            lines = ["id | status | title | trainer", *map(_contract_line, contracts.contracts)]
            if contracts.cut:
                lines.append(contracts.cut)
            return _compact(contracts, "\n".join(lines) if contracts.contracts else "No contracts.")

    @tool("get_contract", "Get a contract", "One contract with its milestones.")
    async def get_contract(
        contractId: opaque_id("contractId", "Contract id, e.g. from check_approval"),  # type: ignore[valid-type]
        ctx: Context[Any, Any],
    ) -> Annotated[CallToolResult, Contract]:
        async with tool_call(ctx, "get_contract", writes=False) as state:
            raw = _obj((await state.client.get_contract(contractId)).get("contract"))
            contract = _bounded(Contract, _contract(raw), "milestones", "contract response")
            return _compact(contract, _contract_summary(contract))

    @tool(
        "check_hiring_readiness",
        "Check hiring readiness",
        "Preflight before a first hire: token, scopes, hiring feature, account claim, funds.",
    )
    async def check_hiring_readiness(
        ctx: Context[Any, Any],
        amount: Annotated[
            float,
            Field(ge=0, description="Planned first milestone in USD, to check funds against; 0 to skip"),
        ] = 0,
    ) -> Annotated[CallToolResult, Readiness]:
        async with tool_call(ctx, "check_hiring_readiness", writes=False, needs_token=False) as state:
            checked = await readiness(state, amount)
            return _compact(checked, readiness_summary(checked))
