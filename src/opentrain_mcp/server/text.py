"""Every sentence the model reads: tool descriptions, status meanings, next steps and error explanations.

Kept in one file so it can be reviewed and measured as a whole (it is part of the agent's token budget).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentrain_mcp.api.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    MalformedResponseError,
    NotFoundError,
    OpenTrainError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from opentrain_mcp.config import TOKEN_HELP
from opentrain_mcp.policy import Breach, usd
from opentrain_mcp.server import untrusted

INSTRUCTIONS = (
    "Hire AI trainers on OpenTrain. request_hire never hires anyone: it creates a pending approval that a "
    "signed-in human must confirm at its approvalUrl (give them the link; never claim the hire happened). "
    "Then use wait_for_approval (timeoutSeconds below your client's tool-call timeout, e.g. 4 if it is 5 s) "
    "or check_approval to learn the outcome. Only confirmed means hired. Read "
    "tools: list_jobs, list_proposals, get_proposal, list_contracts, get_contract, check_hiring_readiness; "
    "list_hire_requests recovers approval ids after a restart. The operator's spend policy caps what may be "
    "requested: preview_hire checks a hire first, get_spend_status shows usage; only the human can change it. "
    "After the hire: create_milestone, then request_milestone_funding, request_milestone_release and "
    "end_contract, each confirmed by a human the same way."
)

REQUEST_HIRE = (
    "Request to hire the trainer behind a proposal. Does NOT hire or charge: it returns a pending approval "
    "whose approvalUrl a signed-in human must open to confirm (charge on confirm: amount + 10% + $9.95). "
    "Give the human that link, then call check_approval. Same terms return the same approval; new terms "
    "replace it. Set confirmNotFitOverride only after the human explicitly agrees to hire a Not-a-fit proposal."
)

CHECK_APPROVAL = (
    "Read an approval's status (pending, confirmed, declined, expired) with what it means and what to do next. "
    "Works for hire, milestone fund/approve and contract-end approvals."
)

WAIT_FOR_APPROVAL = (
    "Wait up to timeoutSeconds (default 30, max 50) for a human to decide on an approval; returns as soon as "
    "it leaves pending, else its current state. Same result as check_approval. Pick timeoutSeconds below "
    "your client's tool-call timeout (many agent frameworks stop a call after 5 s: then use 4)."
)

LIST_HIRE_REQUESTS = (
    "Requests made through this server (hires, milestone funding/release, contract ends; kept locally), newest "
    "first, with approval ids and refreshed status. Use it to recover approval ids."
)

HIRE_PROMPT = """Help me hire an AI trainer on OpenTrain{job}.
1. check_hiring_readiness; fix anything not_ready with the human first.
2. list_jobs, then list_proposals for the job; get_proposal for the strongest candidates (AI-interview score and summary).
3. Agree with the human on whom to hire and the first milestone: name/description, amount in USD, due date.
4. request_hire. It does NOT hire: give the human the approvalUrl and the estimated charge (amount + 10% + $9.95).
5. wait_for_approval (or check_approval later). Only "confirmed" means hired; then get_contract.
Never set confirmNotFitOverride unless the human explicitly says to hire a Not-a-fit proposal."""

PROPOSAL_ID = "Proposal id, exactly as OpenTrain returned it"
APPROVAL_ID = "Approval id from request_hire (approval.id)"
MILESTONE = "First escrow milestone: name and/or description, amount (USD), dueDate"
NOT_FIT_OVERRIDE = "true only if the human explicitly said to hire a proposal marked Not a fit"
SANDBOX_NOTE = "Sandbox: simulated OpenTrain, no real hire or money."

CREATE_MILESTONE = (
    "Add an unfunded milestone to an active contract; runs at once, moves no money. Each call adds one. Then "
    "request_milestone_funding."
)
REQUEST_MILESTONE_FUNDING = (
    "Ask to fund a NOT_FUNDED milestone (escrow). Charges nothing: a human must confirm at approvalUrl; give "
    "them the link, then check_approval. Repeats return the same approval."
)
REQUEST_MILESTONE_RELEASE = (
    "Ask to release a funded milestone's payout to the trainer once the human accepts the work. Pays nothing "
    "until a human confirms at approvalUrl. Repeats return the same approval."
)
END_CONTRACT = (
    "End an active contract: at once if nothing is funded, else a human must confirm at approvalUrl. Repeats "
    "return the same approval."
)
CONTRACT_ID = "Contract id, exactly as OpenTrain returned it"
MILESTONE_ID = "Milestone id, exactly as returned"
FUND_FEE_RULE = (
    "estimate: amount + 10% marketplace fee; OpenTrain documents the 10% for hires only, not for later "
    "milestones, so the approval page shows the real charge"
)


def money(value: float) -> str:
    return f"${value:,.2f}"


def upstream_text(value: str, cap: int) -> str:
    """Free text from OpenTrain for a summary line: cleaned like every upstream text (one line, no control,
    bidi or link, capped) and delimited by « » so it never reads as our own words. Non-ASCII is kept."""
    return "«" + untrusted.clean(value, cap).replace("«", "‹").replace("»", "›") + "»"


# --- results ----------------------------------------------------------------------------------


HIRE_NEXT_STEP = (
    "Give the human approval.approvalUrl to confirm before approval.expiresAt; nothing is hired until then. "
    "Then call check_approval."
)


def hire_next_step(url: str, expires_at: str | None, approval_id: str) -> str:
    return (
        f"Give the human {url} to confirm before {expires_at or 'it expires (~72 h)'}; nothing is hired "
        f"until then. Then call check_approval (approvalId {approval_id})."
    )


ELICITATION_NOTES = {
    "accept": "The client showed the approval link to the human, who chose to open it. Nothing is confirmed "
    "until they confirm on that page.",
    "decline": "The human dismissed the link in the client. Nothing was cancelled: the request stays pending "
    "until it expires; give them the link if they change their mind.",
    "cancel": "The human closed the link prompt. Nothing was cancelled: the request stays pending; give them "
    "the link if they want it.",
    "unanswered": "The client did not answer the link prompt in time. The request stays pending; give the "
    "human the link yourself.",
}


CARD_NOTE = (
    "The client shows the human an approval card with these terms and a button to the link; they still "
    "confirm on OpenTrain's page."
)


def elicitation_message(candidate: str, milestone: str, total: float, expires: str | None) -> str:
    """What the human reads next to the link: a validated name, the agent's milestone title (quoted,
    capped), the charge we computed and a human-readable expiry; nothing else from upstream."""
    return (
        f"Confirm hiring {candidate} for {untrusted.quote(milestone, 80)} on OpenTrain. Estimated charge "
        f"{money(total)} (milestone + 10% fee + $9.95). Expires {expires or 'in about 72 h'}. Nothing happens "
        "unless you confirm on OpenTrain's page."
    )


HIRE_RETRY_REFUSED = (
    "Refused: this request_hire retry carried no valid request state for these exact terms, so nothing was "
    "sent to OpenTrain. If a hire request was made, find it with list_hire_requests or check_approval; call "
    "request_hire again (a fresh call, not a retry) only to make a new request."
)


def hire_text(
    url: str,
    expires_at: str | None,
    approval_id: str,
    total: float,
    sandbox: bool,
    elicitation: str | None = None,
) -> str:
    lines = [
        "Hire requested, NOT hired yet: a human must confirm.",
        f"Link for the human: {url}",
        f"Expires {expires_at or 'in ~72 h'}. Estimated charge on confirmation: {money(total)}.",
        f"Then call check_approval (approvalId {approval_id}).",
    ]
    if elicitation in ELICITATION_NOTES:
        lines.insert(1, ELICITATION_NOTES[elicitation])
    if sandbox:
        lines.append(SANDBOX_NOTE)
    return "\n".join(lines)


def quoted(value: object, limit: int = 80) -> str:
    """Upstream free text for a sentence: cleaned (no control, bidi or link), capped, quoted."""
    return untrusted.quote(value, limit)


MILESTONE_CREATED_NEXT = (
    "Nothing is funded yet: call request_milestone_funding with milestone.id when the human agrees."
)
COSIGN_NEXT_STEP = {
    "milestone_fund": "Give the human approval.approvalUrl; nothing is charged until they confirm. Then "
    "check_approval: confirmed means the milestone is ACTIVE_FUNDED (held in escrow).",
    "milestone_approve": "Give the human approval.approvalUrl; the trainer is paid only when they confirm. Then "
    "check_approval: confirmed means the milestone is PAID.",
    "contract_end": "Give the human approval.approvalUrl; the contract ends only when they confirm. Then "
    "check_approval: confirmed means the contract has ended.",
}
ENDED_AT_ONCE = (
    "The contract has ended at once (no milestone was funded, so no approval). Nothing was charged."
)
ENDED_NEXT = "Tell the human; list_contracts shows it as ended."


ESCROW = {
    "NOT_FUNDED": "not funded: nothing charged",
    "ACTIVE_FUNDED": "funded: held in escrow until released",
    "PAID": "released: paid to the trainer",
    "REFUNDED": "refunded: the contract ended before release, the escrow went back to the payer",
    "CANCELLED": "cancelled before funding: nothing was charged",
}
"""What each milestone status means for its money (unknown statuses get no meaning, only the raw status)."""


def ended_contract(end_date: str | None) -> str:
    when = f" on {end_date}" if end_date else ""
    return (
        f"The contract ended{when}; each milestone above shows its final state and what became of its escrow. "
        "Nothing more can run on it."
    )


def cosign_asks(kind: str, milestone: str, trainer: str, amount: float | None, charge: float | None) -> str:
    """What the human is asked to approve, in one sentence (names already ``quoted``)."""
    if kind == "milestone_fund":
        cost = f"{money(charge)} ({FUND_FEE_RULE})" if charge is not None else "the amount shown on the page"
        return f"Fund milestone {milestone} for {trainer}: charges {cost}, held in escrow until released."
    if kind == "milestone_approve":
        paid = money(amount) if amount is not None else "the escrowed amount"
        return f"Approve milestone {milestone} and release {paid} to {trainer}. This pays the trainer."
    refund = (
        f" {money(amount)} is funded in escrow and not yet released; OpenTrain's page shows what ending does "
        "with it (the sandbox refunds it), and get_contract shows each milestone's final state afterwards."
        if amount
        else ""
    )
    return f"End the contract with {trainer}.{refund}"


def cosign_text(
    asks: str, url: str, expires_at: str | None, approval_id: str, sandbox: bool, shown: str | None
) -> str:
    lines = [
        "Requested, NOT done yet: a human must confirm.",
        asks,
        f"Link for the human: {url}",
        f"Expires {expires_at or 'in ~72 h'}. Then call check_approval (approvalId {approval_id}).",
    ]
    if shown in ELICITATION_NOTES:
        lines.insert(1, ELICITATION_NOTES[shown])
    if sandbox:
        lines.append(SANDBOX_NOTE)
    return "\n".join(lines)


def cosign_prompt(asks: str, expires_at: str | None) -> str:
    """The URL elicitation message for a fund, release or end approval."""
    return f"{asks} Expires {expires_at or 'in about 72 h'}. Nothing happens unless you confirm on OpenTrain's page."


_CONFIRMED = {
    "proposal_hire": "The human confirmed: the trainer is hired and contract {contractId} exists with its "
    "first milestone funded.",
    "milestone_fund": "The human confirmed: the milestone is funded (money held in escrow).",
    "milestone_approve": "The human confirmed: the milestone is approved and the payout released.",
    "contract_end": "The human confirmed: the contract has ended.",
}


_CONFIRMED_NEXT = {
    "milestone_fund": "Tell the human; the trainer can work. Once the human accepts the work, "
    "request_milestone_release.",
    "milestone_approve": "Tell the human; add the next milestone with create_milestone, or end_contract.",
    "contract_end": "Tell the human what became of each milestone: get_contract shows each one's final state "
    "and its escrow (refunded, released or never funded). Nothing more runs on this contract.",
}
_REQUEST_TOOL = {
    "milestone_fund": "request_milestone_funding",
    "milestone_approve": "request_milestone_release",
    "contract_end": "end_contract",
}


def approval_meaning(status: str, kind: str, contract_id: str | None) -> tuple[str, str]:
    """(what the status means, what to do next) for any approval type and status."""
    if status == "pending":
        return (
            "Waiting for a human to confirm or decline; nothing has happened yet.",
            "Make sure the human has approvalUrl; check again later.",
        )
    if status == "confirmed":
        meaning = _CONFIRMED.get(kind, "The human confirmed this {type} approval.").format(
            contractId=contract_id or "(see result)", type=kind
        )
        return meaning, _CONFIRMED_NEXT.get(kind, "Tell the human; get_contract shows the contract.")
    if status == "declined":
        nothing = (
            "Nothing was hired or charged." if kind == "proposal_hire" else "Nothing ran and nothing moved."
        )
        return f"The human declined. {nothing}", "Do not retry unless the human asks."
    if status == "expired":
        return (
            "Not confirmed in time, or replaced by a request with new terms. Nothing happened.",
            f"If the human still wants it, call {_REQUEST_TOOL.get(kind, 'request_hire')} again (new approval).",
        )
    return (
        f"Unrecognised status {status!r}: treat it as not confirmed.",
        "Ask the human to check the approval in the OpenTrain app.",
    )


def approval_text(approval_id: str, status: str, meaning: str, next_step: str, sandbox: bool) -> str:
    lines = [f"Approval {approval_id}: {status}. {meaning}", f"Next: {next_step}"]
    if sandbox:
        lines.append(SANDBOX_NOTE)
    return "\n".join(lines)


PREVIEW_HIRE = (
    "Dry run of request_hire (same arguments), sending nothing: charge, spend-policy verdict, readiness, "
    "proposal warnings."
)
GET_SPEND_STATUS = (
    "Spend-policy limits, usage (today, month, pending, last hour; USD incl. fees), what is left."
)
SPEND_REFRESH = (
    "false: answer from the local record only, without refreshing pending approvals from OpenTrain"
)
CAPS_USED = "Each spend-policy cap after this request: used/limit"
SPEND_OWNER = "Only the human who runs this server can change it."
PROPOSAL_WARNINGS = {
    "NOT_A_FIT": "The proposal is marked Not a fit: request_hire is refused unless the human explicitly agrees "
    "and you set confirmNotFitOverride.",
    "DECLINED": "The proposal was declined; make sure the human still wants this candidate.",
    "HIRED": "The proposal is already hired: request_hire would answer already_accepted; see list_contracts.",
}


def spend_breach(breach: Breach) -> str:
    """Which limit a request breaks, with the usage and the limit."""
    if breach.limit == "allowed_job_ids":
        job = f"job {breach.job_id}" if breach.job_id else "a job that could not be read"
        return f"allowed_job_ids: the proposal is on {job}, which the policy does not allow"
    before = breach.used - (breach.request if breach.money else 1)
    details = {
        "max_hire_usd": f"this request would charge {usd(breach.used)} (amount + 10% + $9.95)",
        "max_daily_usd": f"today's requests total {usd(before)}; with this one ({usd(breach.request)}) "
        f"{usd(breach.used)}",
        "max_monthly_usd": f"this month's requests total {usd(before)}; with this one ({usd(breach.request)}) "
        f"{usd(breach.used)}",
        "max_pending": f"{before} requests already await the human",
        "max_requests_per_hour": f"{before} hire requests were made in the last hour",
    }
    cap = usd(breach.cap) if breach.money else str(breach.cap)
    return f"{breach.limit}: {details[breach.limit]}; the limit is {cap}"


_REQUEST_NAMES = {
    "milestone_fund": "funding request",
    "milestone_approve": "payout release request",
    "contract_end": "contract end request",
}


def spend_refused(breach: Breach, kind: str = "proposal_hire") -> str:
    what = _REQUEST_NAMES.get(kind, "hire request")
    return (
        f"Spend policy refused this {what}. {spend_breach(breach)}. Nothing was sent to OpenTrain. "
        f"{SPEND_OWNER} Tell the human; get_spend_status shows usage."
    )


def caps_line(caps_used: dict[str, str]) -> str:
    return "Spend policy after this request: " + ", ".join(f"{k} {v}" for k, v in caps_used.items()) + "."


def spend_status_text(
    measures: dict[str, tuple[int, int | None, bool]],
    max_hire: int | None,
    jobs: tuple[str, ...],
    persistent: bool,
) -> str:
    """``measures``: name -> (used, limit or None, money in cents?)."""

    def show(value: int, money: bool) -> str:
        return usd(value) if money else str(value)

    rows = [
        f"{name}: {show(used, money)}" + (f" of {show(cap, money)}" if cap is not None else " (no limit)")
        for name, (used, cap, money) in measures.items()
    ]
    if max_hire is not None:
        rows.insert(0, f"per request: at most {usd(max_hire)} including fees")
    if jobs:
        rows.append(f"only jobs: {', '.join(jobs)}")
    if not persistent:
        rows.append("Counted in this server process only (ledger off).")
    return "\n".join(["Spend policy (set by the human who runs this server; fee-inclusive USD, UTC):", *rows])


PREVIEW_ALLOWED = "Within the spend policy."
PREVIEW_REPEAT = "An identical request is pending: request_hire returns that approval and counts it once."


def preview_replaces(approval_id: str) -> str:
    return f"New terms: request_hire would replace pending approval {approval_id} (one live request per proposal)."


def preview_text(total: float, verdict: str, checks: Sequence[tuple[str, str]], warnings: list[str]) -> str:
    lines = [
        f"Preview only, nothing sent. Estimated charge on confirmation: {money(total)}.",
        f"Policy: {verdict}",
        "Readiness: " + ", ".join(f"{name} {status}" for name, status in checks) + ".",
    ]
    return "\n".join([*lines, *(f"Warning: {w}" for w in warnings)])


# --- errors -----------------------------------------------------------------------------------

SAFE_TO_REPEAT = (
    "The hire request may have been recorded. Calling request_hire again with exactly the same terms is "
    "safe: it returns the same approval instead of creating a second one."
)


def _headline(exc: OpenTrainError) -> str:
    """Status, code, reason and requestId, each shape-checked (a bad one is named, never shown), then the
    API's message as quoted data."""
    bits = [f"HTTP {exc.status}"] if exc.status is not None else []
    malformed = []
    for field, label, raw, shaped in (
        ("code", "", exc.code, untrusted.error_code(exc.code)),
        (
            "details.reason",
            "reason ",
            exc.details.get("reason"),
            exc.reason if untrusted.is_word(exc.reason) else None,
        ),
        ("requestId", "requestId ", exc.request_id, untrusted.request_id(exc.request_id)),
    ):
        if shaped:
            bits.append(label + shaped)
        elif raw is not None:
            malformed.append(field)
    meta = f" ({', '.join(bits)})" if bits else ""
    note = f" [malformed field(s) not shown: {', '.join(malformed)}]" if malformed else ""
    return f"OpenTrain refused the request{meta}: {untrusted.quote(exc.message)}{note}"


REPEAT_NOTES = {
    "create_milestone": "The milestone may have been created. Check get_contract before calling create_milestone "
    "again, or it may be added twice.",
    **{
        tool: f"The request may have been recorded. Calling {tool} again is safe: it returns the same pending "
        "approval instead of creating a second one."
        for tool in ("request_milestone_funding", "request_milestone_release", "end_contract")
    },
}


def explain_error(
    exc: OpenTrainError, *, writes: bool, links: dict[str, str | None], tool: str = "request_hire"
) -> str:
    """Error text for the model: what happened, the request id, and the next action."""
    repeat = REPEAT_NOTES.get(tool, SAFE_TO_REPEAT)
    if isinstance(exc, ConfigurationError):
        return f"opentrain-mcp is not configured: {exc.message}. {TOKEN_HELP}"
    if isinstance(exc, TransportError):
        text = f"Could not get an answer from OpenTrain: {exc.message}. Retries were made within the time budget."
        return f"{text} {repeat if writes else 'Try again in a minute.'}"
    if isinstance(exc, MalformedResponseError):
        shaped_id = untrusted.request_id(exc.request_id)
        rid = f" (requestId {shaped_id})" if shaped_id else ""
        text = f"OpenTrain sent an unexpected response{rid}: {exc.message}."
        return f"{text} {repeat if writes else 'Try again later; report it if it persists.'}"
    head = _headline(exc)
    return f"{head}\nNext: {_next_action(exc, writes=writes, links=links, tool=tool, repeat=repeat)}"


_TOKEN_SCOPES = dict.fromkeys(REPEAT_NOTES, "payments:write")

_CONFLICTS = {
    "milestone_not_fundable": "the milestone is not NOT_FUNDED (already funded, paid, or on an ended contract); "
    "get_contract shows its status. Do not retry unchanged.",
    "milestone_not_funded": "only an ACTIVE_FUNDED milestone can be released; fund it first "
    "(request_milestone_funding) or check get_contract.",
    "contract_ended": "the contract has ended; nothing more can run on it. Check list_contracts.",
    "contract_rate_missing": "this contract has no rate to price a volume; send amountUsd instead.",
}


def _issue(issue: dict[str, object]) -> str:
    """One validation issue: its path if shaped as field names/indexes, its message quoted."""
    path = issue.get("path")
    parts = path if isinstance(path, list) else []
    shaped = all(isinstance(p, int) or untrusted.is_word(p) for p in parts) and len(parts) <= 6
    where = ".".join(str(p) for p in parts) if shaped and parts else "body"
    return f"{where}: {untrusted.quote(issue.get('message', '?'), untrusted.NAME_CAP * 2)}"


def _next_action(
    exc: OpenTrainError, *, writes: bool, links: dict[str, str | None], tool: str, repeat: str
) -> str:
    reason = exc.reason if untrusted.is_word(exc.reason) else None
    if isinstance(exc, BadRequestError):
        issues = "; ".join(_issue(i) for i in exc.issues[:10])
        return f"fix the arguments and call again. Problems: {issues or untrusted.quote(exc.message)}"
    if isinstance(exc, AuthenticationError):
        return "the API token was rejected (missing, revoked or mistyped). " + TOKEN_HELP
    if isinstance(exc, PermissionDeniedError):
        if reason == "account_claim_required":
            url = links.get("claimUrl")
            where = f"at {url}" if url else "in the OpenTrain app (the claim link was withheld, see above)"
            return f"ask the human to claim this agent account {where}, then call again."
        required = [s for s in map(untrusted.scope, exc.required_scopes) if s]
        if required:
            granted = exc.details.get("grantedScopes")
            shown = [s for s in map(untrusted.scope, granted) if s] if isinstance(granted, list) else None
            has = f" (token has: {', '.join(shown) or 'none'})" if shown is not None else ""
            return (
                f"the token lacks scope {', '.join(required)}{has}. Ask the human to create a token "
                f"with {_TOKEN_SCOPES.get(tool, 'proposals:write and payments:read')} and set it as OT_API_TOKEN."
            )
        if exc.details.get("featureKey"):
            feature = exc.details["featureKey"]
            name = f"the feature {feature}" if untrusted.is_word(feature) else "a required feature"
            return (
                f"{name} is not enabled for this OpenTrain account; ask the human "
                "to contact OpenTrain support. Retrying will not help."
            )
        return (
            "this token may not act on that resource (for a hire: the proposal must be on a job this account "
            "owns). Check the id; do not retry unchanged."
        )
    if isinstance(exc, NotFoundError):
        return "nothing with that id is visible to this token. Check the id (use it exactly as returned)."
    if isinstance(exc, ConflictError):
        if reason == "payment_method_required":
            url = links.get("billingUrl")
            where = f"at {url}" if url else "in the OpenTrain app's billing settings (the link was withheld)"
            return f"ask the human to add a payment method or credits {where}, then call {tool} again."
        if reason in _CONFLICTS:
            return _CONFLICTS[reason]
        if reason == "already_accepted":
            return (
                "this proposal is already hired; no new request was made. Find its contract with "
                "list_contracts or in the OpenTrain app instead of retrying."
            )
        if reason == "not_fit_confirmation_required":
            return (
                "the proposal is marked Not a fit. Ask the human whether to hire anyway; only if they explicitly "
                "say yes, call request_hire again with confirmNotFitOverride: true."
            )
        return "the action conflicts with the current state; tell the human the reason above. Do not retry unchanged."
    if isinstance(exc, RateLimitError):
        wait = f"{exc.retry_after:.0f} s" if exc.retry_after is not None else "a minute"
        return f"rate limited; wait {wait} before calling again." + (f" {repeat}" if writes else "")
    if isinstance(exc, ServerError):
        return "OpenTrain had a server error; try again shortly." + (f" {repeat}" if writes else "")
    if isinstance(exc, ApiError):
        return "unexpected API answer; tell the human the message above." + (f" {repeat}" if writes else "")
    return "tell the human the message above."


def sandbox_not_found(*, in_process: bool) -> str:
    """Why an id can be unknown to a sandbox, said beside its 404."""
    if in_process:
        return (
            "Sandbox note: this sandbox lives inside this server process (--sandbox) and starts empty each time. "
            "A client that starts a new server process for every call (the MCP Inspector CLI does) meets a new "
            "sandbox each call, so ids from an earlier call are unknown here. Keep one client session open, or "
            "run `opentrain-mcp sandbox --port 8787` once and point the server at it "
            "(OPENTRAIN_API_BASE_URL=http://127.0.0.1:8787 and the token it prints)."
        )
    return (
        "Sandbox note: a sandbox restarted without --state FILE has forgotten every id from before; "
        "start it with --state FILE to keep them."
    )


def untrusted_link(kind: str, why: str, trusted_origin: str, approval_id: str | None) -> str:
    ref = f" for approval {approval_id}" if approval_id else ""
    return (
        f"SECURITY: OpenTrain's answer{ref} contained a {kind} that failed verification ({why}); it was "
        f"withheld so no one opens a spoofed page. Do not show any link for it. Ask the human to open "
        f"{trusted_origin} directly and look for the request there."
    )


def internal_error(ref: str, *, writes: bool, tool: str = "request_hire") -> str:
    text = f"Internal error in opentrain-mcp (reference {ref}; details are in the server's log)."
    return f"{text} {REPEAT_NOTES.get(tool, SAFE_TO_REPEAT) if writes else 'Nothing was changed; try again.'}"


# Argument errors: "`milestone.amount`: must be ..." lines, one per problem, never pydantic's own dump.
ARGUMENT_PROBLEMS = {
    "missing": "is required",
    "bool_type": "must be true or false (a JSON boolean, not a string or number)",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "string_pattern_mismatch": (
        "is not a valid OpenTrain id: use the id exactly as the API returned it "
        "(letters, digits, '-', '_', '.'; no '/', '?', '#', '%', spaces or '..')"
    ),
    "extra_forbidden": "is not a field of this object",
}
UNKNOWN_ARGUMENT = "is not an argument of this tool (nothing is taken on trust from unknown arguments)"


def argument_problem(kind: str, message: str, ctx: dict[str, object]) -> str:
    """One argument problem in words, from a pydantic error's type, message and context."""
    if kind in ARGUMENT_PROBLEMS:
        return ARGUMENT_PROBLEMS[kind]
    bounds = {
        "greater_than_equal": "must be at least {ge}",
        "greater_than": "must be greater than {gt}",
        "less_than_equal": "must be at most {le}",
        "less_than": "must be less than {lt}",
        "string_too_short": "must be at least {min_length} characters",
        "string_too_long": "must be at most {max_length} characters",
        "literal_error": "must be one of {expected}",
        "enum": "must be one of {expected}",
    }
    if kind in bounds:
        return bounds[kind].format(**ctx)
    return message.removeprefix("Value error, ")


def argument_error(tool: str, problems: list[str], accepted: list[str]) -> str:
    """The text a model reads when its arguments were refused; nothing was sent to OpenTrain."""
    return (
        f"Error executing tool {tool}: invalid arguments, nothing was sent to OpenTrain.\n"
        + "\n".join(f"- {p}" for p in problems)
        + f"\nThis tool takes: {', '.join(accepted) or 'no arguments'}. Fix the arguments and call it again."
    )


def not_subscribable(template: str) -> str:
    return f"Only approvals can be subscribed to: use {template} with an approval id from request_hire."


def too_many_subscriptions(cap: int) -> str:
    return (
        f"This session already follows {cap} approvals, the most allowed; unsubscribe from settled ones "
        "(or use check_approval) before subscribing to more."
    )
