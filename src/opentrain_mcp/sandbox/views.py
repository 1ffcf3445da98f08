"""The human's pages: the approvals index, the approval page (`/approvals/{id}`), and claim/billing stand-ins.

Plain HTML from ``string.Template`` files in ``pages/``; every dynamic value goes through ``html.escape``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import html
import importlib.resources
import secrets
import string
import urllib.parse
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .errors import SandboxError
from .seed import PROPOSAL_STATUS_LABELS, parse_iso
from .state import SandboxState
from .validation import milestone_from_form

TYPE_LABELS = {
    "proposal_hire": "Hire request",
    "milestone_fund": "Fund a milestone",
    "milestone_approve": "Release a milestone payment",
    "contract_end": "End a contract",
}
EDIT_FIELDS = ("milestone_name", "milestone_description", "amount", "due_date")
CREDIT_TOP_UP_CENTS = 50_000
_CSRF_KEY = secrets.token_bytes(32)  # per process: tokens from an earlier run stop working


def csrf_token(approval_id: str) -> str:
    """The token an approval page embeds in its Confirm/Decline form (only this process can make it)."""
    return hmac.new(_CSRF_KEY, approval_id.encode(), hashlib.sha256).hexdigest()


def _from_this_page(request: Request, form: dict[str, str], approval_id: str) -> bool:
    """A Confirm/Decline must come from the approval page: a same-origin ``Origin`` or the page's token."""
    origin = request.headers.get("origin")
    if origin is not None:
        return urllib.parse.urlsplit(origin).netloc == request.headers.get("host", "")
    return hmac.compare_digest(form.get("csrf_token", ""), csrf_token(approval_id))


@functools.cache
def _template(name: str) -> string.Template:
    text = importlib.resources.files("opentrain_mcp.sandbox").joinpath("pages", name).read_text("utf-8")
    return string.Template(text)


@functools.lru_cache(maxsize=1)
def _stylesheet() -> str:
    return (
        importlib.resources.files("opentrain_mcp.sandbox").joinpath("pages", "sandbox.css").read_text("utf-8")
    )


def _render(name: str, **values: Any) -> str:
    return _template(name).substitute(values)


def _e(value: Any, empty: str = "—") -> str:
    """Escape a value for HTML; ``None`` and blank strings become ``empty``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return empty
    return html.escape(str(value))


def _usd(value: Any) -> str:
    return f"${Decimal(repr(value)) if isinstance(value, float) else Decimal(value):,.2f}"


def _cents(cents: int) -> str:
    return _usd(Decimal(cents) / 100)


def _when(timestamp: str | None) -> str:
    if not timestamp:
        return "—"
    return parse_iso(timestamp).strftime("%Y-%m-%d %H:%M UTC")


def _relative(timestamp: str, now: dt.datetime) -> str:
    seconds = int((parse_iso(timestamp) - now).total_seconds())
    span = abs(seconds)
    hours, minutes = divmod(span // 60, 60)
    text = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def _notice(kind: str, message_html: str) -> str:
    return f'<div class="notice notice-{kind}" role="status">{message_html}</div>'


def page(title: str, content: str, api_base: str, status_code: int = 200) -> HTMLResponse:
    """Wrap ``content`` in the sandbox layout (banner, header, footer)."""
    body = _render("base.html", title=_e(title), content=content, api_base=_e(api_base))
    return HTMLResponse(body, status_code=status_code, headers={"Cache-Control": "no-store"})


def error_page(status_code: int, message: str, api_base: str = "") -> HTMLResponse:
    """A small HTML error page (unknown approval, 404s and 405s outside the API)."""
    heading = "Not found" if status_code == 404 else f"Error {status_code}"
    content = _render("message.html", heading=_e(heading), message=_e(message))
    return page(heading, content, api_base, status_code)


def _status_label(status: str) -> str:
    return status.replace("_", " ").capitalize()


def _resolution_notice(view: dict[str, Any]) -> str:
    """What happened to a resolved approval, in one sentence."""
    approval = view["approval"]
    status = approval["status"]
    when = _when(approval["resolvedAt"])
    if status == "confirmed":
        if approval["type"] == "proposal_hire" and view["charge"] is not None:
            name = _e((view["proposal"] or {}).get("candidate", {}).get("displayName"))
            source = "the credit balance" if view["paymentSource"] == "credits" else "the card on file"
            return _notice(
                "ok",
                f"Confirmed {when}. {name} is hired — contract <code>{_e(approval['contractId'])}</code>. "
                f"{_usd(view['charge']['total'])} was charged to {source} and is held in escrow.",
            )
        return _notice("ok", f"Confirmed {when}. The requested action ran.")
    if status == "declined":
        return _notice("warn", f"Declined {when}. Nothing ran and nothing was charged.")
    if status == "expired":
        if approval["resolvedAt"] and approval["resolvedAt"] != approval["expiresAt"]:
            return _notice(
                "info",
                f"Replaced {when} by a newer hire request with different terms. Nothing ran and nothing was charged.",
            )
        return _notice("info", f"Expired {when}: nobody acted in time. Nothing ran and nothing was charged.")
    return ""


WHAT_CONFIRMING_DOES = {
    "milestone_fund": "Confirming charges the amount below to your card or credits and holds it in escrow; "
    "the trainer is paid only when the milestone is approved later.",
    "milestone_approve": "Confirming releases the escrowed amount below to the trainer. This pays them and "
    "cannot be undone.",
    "contract_end": "Confirming ends the contract. Funded milestones not yet approved are refunded; unfunded "
    "ones are cancelled (sandbox assumption).",
}


def _money_details(view: dict[str, Any]) -> list[tuple[str, str]]:
    """The money rows of a fund, release or end approval."""
    approval, milestone, contract = view["approval"], view["milestone"], view["contract"]
    kind = approval["type"]
    if kind == "milestone_fund" and view["charge"] is not None:
        charge = view["charge"]
        label = {"pending": "Charge on confirmation", "confirmed": "Charged"}.get(
            approval["status"], "Not charged"
        )
        return [
            ("Marketplace fee (10%, sandbox assumption)", _usd(charge["marketplaceFee"])),
            (label, f'<strong data-testid="total">{_usd(charge["total"])}</strong>'),
        ]
    if kind == "milestone_approve" and milestone and milestone.get("amountUsd") is not None:
        label = {"pending": "Payout on confirmation", "confirmed": "Paid out"}.get(
            approval["status"], "Not paid"
        )
        return [(label, f'<strong data-testid="total">{_usd(milestone["amountUsd"])}</strong>')]
    if kind == "contract_end" and contract:
        funded = [m for m in contract["milestones"] if m["status"] == "ACTIVE_FUNDED"]
        total = sum((m["amountUsd"] or 0) for m in funded)
        return [
            (
                "Funded, not yet approved",
                f'<strong data-testid="total">{_usd(total)}</strong> in {len(funded)} milestone(s)',
            )
        ]
    return []


def _hire_actions(view: dict[str, Any], form: dict[str, str] | None) -> str:
    account = view["account"]
    terms = view["terms"]
    charge = view["charge"]
    credits_ok = account["creditsAvailableCents"] >= charge["totalCents"]
    wanted = (form or {}).get("payment_source")
    if wanted not in ("card", "credits"):
        wanted = "card" if account["paymentMethod"] else "credits"
    card_attrs = (" checked" if wanted == "card" else "") + ("" if account["paymentMethod"] else " disabled")
    credits_attrs = (" checked" if wanted == "credits" else "") + ("" if credits_ok else " disabled")
    values = form or {}
    amount = values.get("amount", f"{charge['amount']:.2f}")
    return _render(
        "hire_actions.html",
        approval_id=_e(view["approval"]["id"]),
        csrf_token=csrf_token(view["approval"]["id"]),
        card_attrs=card_attrs,
        card_note="(sandbox test card)" if account["paymentMethod"] else "(none on file)",
        credits_attrs=credits_attrs,
        credits_available=_cents(account["creditsAvailableCents"]),
        edit_name=_e(values.get("milestone_name", terms.get("name")), ""),
        edit_description=_e(values.get("milestone_description", terms.get("description")), ""),
        edit_amount=_e(amount, ""),
        edit_due_date=_e(values.get("due_date", terms.get("dueDate")), ""),
        total=_usd(charge["total"]),
    )


def render_approval(
    state: SandboxState,
    view: dict[str, Any],
    *,
    notice: str = "",
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The approval page for one approval view (see ``SandboxState.approval_view``)."""
    approval = view["approval"]
    status = approval["status"]
    now = state.now()
    notices = notice + _resolution_notice(view)
    pending = status == "pending"
    expiry_label = "Expires" if pending else "Expiry"
    expires = _when(approval["expiresAt"]) + (
        f" ({_relative(approval['expiresAt'], now)})" if pending else ""
    )
    job = view["job"] or {}
    if approval["type"] == "proposal_hire" and view["terms"] and view["proposal"]:
        proposal = view["proposal"]
        candidate = proposal["candidate"]
        terms = view["terms"]
        charge = view["charge"]
        if (
            not view["account"]["paymentMethod"]
            and view["account"]["creditsAvailableCents"] < charge["totalCents"]
        ):
            notices += _notice(
                "warn",
                'No way to pay yet: add a test card or credits on the <a href="/billing">Billing</a> page first.',
            )
        bid = proposal["bid"]
        requested = view["requestedTerms"] or terms
        edited = (
            _notice("info", "The confirmed terms differ from what the agent requested.")
            if requested != terms
            else ""
        )
        name = _e(candidate["displayName"])
        heading = {
            "pending": f'Hire <span data-testid="candidate-name">{name}</span>?',
            "confirmed": f'<span data-testid="candidate-name">{name}</span> is hired',
        }.get(status, f'Hire <span data-testid="candidate-name">{name}</span> — {_e(status)}')
        charge_heading = {"pending": "Charge on confirmation", "confirmed": "Charged"}.get(
            status, "Charge (not made)"
        )
        charge_note = (
            "Funds are held in escrow, not paid out. Payout happens when the milestone is approved later."
            if status in ("pending", "confirmed")
            else "Nothing was charged."
        )
        content = _render(
            "approval_hire.html",
            heading=heading,
            charge_heading=charge_heading,
            charge_note=charge_note,
            approval_id=_e(approval["id"]),
            type=_e(approval["type"]),
            status=_e(status),
            status_label=_e(_status_label(status)),
            candidate_name=_e(candidate["displayName"]),
            job_title=_e(job.get("title")),
            account_name=_e(view["account"]["name"]),
            notice=notices,
            candidate_profile=f"{_e(candidate['profileTitle'])} · {_e(candidate['country'])}",
            interview=f"{_e(proposal['aiInterview']['score'])} — {_e(proposal['aiInterview']['summary'])}",
            bid=f"{_e(bid['amountUsd'])} USD {_e(bid['unit']).lower().replace('_', ' ')}",
            proposal_id=_e(proposal["id"]),
            proposal_status=_e(PROPOSAL_STATUS_LABELS.get(proposal["status"], proposal["status"])),
            milestone_name=_e(terms.get("name")),
            milestone_description=_e(terms.get("description")),
            due_date=_e(terms.get("dueDate"), "No due date"),
            edited_note=edited,
            amount=_usd(charge["amount"]),
            fee=_usd(charge["marketplaceFee"]),
            contract_fee=_usd(charge["contractFee"]),
            total=_usd(charge["total"]),
            created_at=_when(approval["createdAt"]),
            expiry_label=expiry_label,
            expires_at=_e(expires),
            requested_by=f"API token “{_e(view['tokenLabel'])}”",
            actions=_hire_actions(view, form) if pending else "",
        )
        title = f"Hire {candidate['displayName']}"
    else:
        details = [
            ("Type", f"<code>{_e(approval['type'])}</code>"),
            ("Contract", f"<code>{_e(approval['contractId'])}</code>" if approval["contractId"] else "—"),
            ("Milestone", f"<code>{_e(approval['milestoneId'])}</code>" if approval["milestoneId"] else "—"),
        ]
        milestone = view["milestone"]
        if milestone:
            details.append(("Milestone name", _e(milestone.get("name") or milestone.get("description"))))
            details.append(
                ("Amount", _usd(milestone["amountUsd"]) if milestone.get("amountUsd") is not None else "—")
            )
            details.append(("Milestone status", _e(milestone["status"])))
        if view["contract"]:
            details.append(("Trainer", _e(view["contract"]["freelancer"]["displayName"])))
        details += _money_details(view)
        if pending and approval["type"] in WHAT_CONFIRMING_DOES:
            notices += _notice("info", WHAT_CONFIRMING_DOES[approval["type"]])
        if approval["result"]:
            details.append(("Result", f"<code>{_e(approval['result'])}</code>"))
        content = _render(
            "approval_generic.html",
            approval_id=_e(approval["id"]),
            type=_e(approval["type"]),
            heading=_e(TYPE_LABELS.get(approval["type"], f"Approval of type {approval['type']}")),
            job_line=_e(job.get("title"), "No job attached"),
            status=_e(status),
            status_label=_e(_status_label(status)),
            notice=notices,
            details="".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in details),
            created_at=_when(approval["createdAt"]),
            expiry_label=expiry_label,
            expires_at=_e(expires),
            actions=_render(
                "generic_actions.html", approval_id=_e(approval["id"]), csrf_token=csrf_token(approval["id"])
            )
            if pending
            else "",
        )
        title = TYPE_LABELS.get(approval["type"], "Approval")
    return page(title, content, state.api_base_url, status_code)


def _summary_line(view: dict[str, Any], now: dt.datetime) -> tuple[str, str]:
    approval = view["approval"]
    job_title = (view["job"] or {}).get("title")
    if approval["type"] == "proposal_hire" and view["proposal"] and view["charge"]:
        headline = f"Hire {_e(view['proposal']['candidate']['displayName'])}"
        detail = f"{_e(job_title)} · {_usd(view['charge']['total'])} total"
    else:
        headline = _e(TYPE_LABELS.get(approval["type"], approval["type"]))
        detail = _e(job_title, "No job attached")
    if approval["status"] == "pending":
        detail += f" · expires {_relative(approval['expiresAt'], now)}"
    else:
        detail += f" · {approval['status']} {_when(approval['resolvedAt'])}"
    return headline, detail


def _approval_list(views: list[dict[str, Any]], now: dt.datetime, empty: str) -> str:
    if not views:
        return f'<p class="empty">{empty}</p>'
    items = []
    for view in views:
        approval = view["approval"]
        headline, detail = _summary_line(view, now)
        status = _e(approval["status"])
        items.append(
            f'<li><div><a href="/approvals/{_e(approval["id"])}">{headline}</a>'
            f'<div class="muted small">{detail}</div></div>'
            f'<span class="badge badge-{status}">{_e(_status_label(approval["status"]))}</span></li>'
        )
    return '<ul class="approvals">' + "".join(items) + "</ul>"


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[-1] for key, values in urllib.parse.parse_qs(body, keep_blank_values=True).items()}


def page_routes(state: SandboxState) -> list[Route]:
    """Routes for `/`, `/approvals/{id}` (+ confirm/decline forms), `/claim`, `/billing` and the stylesheet."""

    async def index(request: Request) -> Response:
        overview = state.approvals_overview()
        now = state.now()
        content = _render(
            "index.html",
            pending=_approval_list(overview["pending"], now, "Nothing is waiting for you."),
            recent=_approval_list(overview["recent"], now, "No resolved approvals yet."),
            api_base=_e(state.api_base_url),
        )
        return page("Approvals", content, state.api_base_url)

    async def approval_page(request: Request) -> Response:
        view = state.approval_view(request.path_params["approval_id"])
        if view is None:
            return error_page(404, "There is no approval with this id in the sandbox.", state.api_base_url)
        notice = ""
        code = request.query_params.get("notice")
        if code == "not_pending":
            notice = _notice(
                "warn", f"This approval was already {_e(view['approval']['status'])}; nothing changed."
            )
        return render_approval(state, view, notice=notice)

    async def act(request: Request, action: str) -> Response:
        approval_id = request.path_params["approval_id"]
        form = await _form(request)
        if not _from_this_page(request, form, approval_id):
            return error_page(
                403,
                "This request did not come from the approval page (no same-origin Origin header and no valid "
                "form token). Open the approval page and use its buttons.",
                state.api_base_url,
            )
        try:
            if action == "confirm":
                edits = milestone_from_form(form) if any(field in form for field in EDIT_FIELDS) else None
                state.confirm_approval(approval_id, edits, form.get("payment_source") or None)
            else:
                state.decline_approval(approval_id)
        except SandboxError as exc:
            if exc.status == 404:
                return error_page(
                    404, "There is no approval with this id in the sandbox.", state.api_base_url
                )
            if exc.status == 409 and "approval" in exc.extra:
                return RedirectResponse(
                    f"/approvals/{urllib.parse.quote(approval_id)}?notice=not_pending", 303
                )
            view = state.approval_view(approval_id)
            assert view is not None
            items = "".join(
                f"<li><code>{_e('.'.join(str(p) for p in issue['path']))}</code>: {_e(issue['message'])}</li>"
                for issue in exc.extra.get("issues", [])
            )
            message = _e(exc.message) + (f"<ul>{items}</ul>" if items else "")
            return render_approval(
                state, view, notice=_notice("error", message), form=form, status_code=exc.status
            )
        return RedirectResponse(f"/approvals/{urllib.parse.quote(approval_id)}", 303)

    async def confirm(request: Request) -> Response:
        return await act(request, "confirm")

    async def decline(request: Request) -> Response:
        return await act(request, "decline")

    def account_page(kind: str, notice: str = "") -> Response:
        info = state.account_info()
        if kind == "claim":
            facts = [("Account", _e(info["name"])), ("Claimed", "Yes" if info["claimed"] else "No")]
            button = (
                '<button class="btn btn-plain" name="action" value="unclaim">Mark as unclaimed</button>'
                if info["claimed"]
                else '<button class="btn btn-primary" name="action" value="claim">Claim this account</button>'
            )
            content = _render(
                "account.html",
                eyebrow="Account claim",
                heading="Claim the agent account",
                intro="In OpenTrain a human claims an agent-created account before it can hire. "
                "Here it is one click.",
                notice=notice,
                facts="".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts),
                buttons=button,
            )
            return page("Claim", content, state.api_base_url)
        facts = [
            ("Account", _e(info["name"])),
            ("Card on file", "Yes (sandbox test card)" if info["paymentMethod"] else "No"),
            ("Credits available", _cents(info["creditsCents"])),
            ("Credits reserved", _cents(info["reservedCents"])),
        ]
        card = (
            '<button class="btn btn-plain" name="action" value="remove_card">Remove card</button>'
            if info["paymentMethod"]
            else '<button class="btn btn-primary" name="action" value="add_card">Add a test card</button>'
        )
        buttons = card + (
            f'<button class="btn btn-plain" name="action" value="add_credits">Add {_cents(CREDIT_TOP_UP_CENTS)} '
            "credits</button>"
        )
        content = _render(
            "account.html",
            eyebrow="Billing",
            heading="Payment methods",
            intro="Hiring needs a card on file or credits that cover the full charge. No real payment happens here.",
            notice=notice,
            facts="".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts),
            buttons=buttons,
        )
        return page("Billing", content, state.api_base_url)

    async def claim_get(request: Request) -> Response:
        return account_page("claim")

    async def billing_get(request: Request) -> Response:
        return account_page("billing")

    async def claim_post(request: Request) -> Response:
        action = (await _form(request)).get("action")
        if action in ("claim", "unclaim"):
            state.update_account({"claimed": action == "claim"})
        return RedirectResponse("/claim", 303)

    async def billing_post(request: Request) -> Response:
        action = (await _form(request)).get("action")
        if action in ("add_card", "remove_card"):
            state.update_account({"paymentMethod": action == "add_card"})
        elif action == "add_credits":
            state.update_account({"creditsCents": state.account_info()["creditsCents"] + CREDIT_TOP_UP_CENTS})
        return RedirectResponse("/billing", 303)

    async def stylesheet(request: Request) -> Response:
        return Response(_stylesheet(), media_type="text/css", headers={"Cache-Control": "no-cache"})

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    return [
        Route("/", index, methods=["GET"]),
        Route("/approvals/{approval_id}", approval_page, methods=["GET"]),
        Route("/approvals/{approval_id}/confirm", confirm, methods=["POST"]),
        Route("/approvals/{approval_id}/decline", decline, methods=["POST"]),
        Route("/claim", claim_get, methods=["GET"]),
        Route("/claim", claim_post, methods=["POST"]),
        Route("/billing", billing_get, methods=["GET"]),
        Route("/billing", billing_post, methods=["POST"]),
        Route("/static/sandbox.css", stylesheet, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
    ]
