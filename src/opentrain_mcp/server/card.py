"""The approval card: an MCP App (``io.modelcontextprotocol/ui``) that shows the human what they approve.

Hosts that render MCP Apps show ``ui://opentrain/approval-card`` next to a linked tool's result: the
terms, the estimated charge, the expiry, the live status and one button that asks the host to open
the vetted approval page. The card never confirms anything; OpenTrain's signed-in page does.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files
from typing import Any

import anyio
from mcp.server.apps import Apps, ResourceCsp
from mcp.types import CallToolResult, TextContent

from opentrain_mcp.api.errors import OpenTrainError
from opentrain_mcp.api.models import Milestone
from opentrain_mcp.server import text
from opentrain_mcp.server.state import AppState

CARD_URI = "ui://opentrain/approval-card"
DETAILS_KEY = "opentrain/approvalCard"
"""Result ``_meta`` key carrying display details (names, milestone) that only the card reads."""
DISPLAY_LIMIT = 200
LOOKUP_WAIT = 0.5
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def card_link() -> dict[str, Any]:
    """The tool ``_meta`` that links a tool to the card: ``@mcp.tool(..., meta=card_link())``."""
    return {"ui": {"resourceUri": CARD_URI}}


@cache
def card_html() -> str:
    """The card document with a CSP that allows only its own inline script and style (by hash)."""
    html = files("opentrain_mcp.server").joinpath("ui/approval-card.html").read_text(encoding="utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes[tag].append(f"'sha256-{digest}'")
    policy = (
        f"default-src 'none'; script-src {' '.join(hashes['script'])}; style-src {' '.join(hashes['style'])}; "
        "img-src 'none'; connect-src 'none'; frame-src 'none'; form-action 'none'; base-uri 'none'"
    )
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    return html.replace('<meta charset="utf-8">', f'<meta charset="utf-8">\n{meta}', 1)


def card_extension() -> Apps:
    """The MCP Apps extension serving the card; pass it to ``MCPServer(extensions=[...])``."""
    apps = Apps()
    apps.add_html_resource(
        CARD_URI,
        card_html(),
        name="approval-card",
        title="OpenTrain approval card",
        description="Shows a pending approval's terms, charge, expiry and status, with a link to confirm.",
        csp=ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[]),
        prefers_border=True,
    )
    return apps


def display_text(value: object) -> str | None:
    """Upstream free text fit for the card: a string, control and direction characters removed, capped."""
    if not isinstance(value, str):
        return None
    cleaned = " ".join(_CONTROL.sub(" ", value).split())
    if not cleaned:
        return None
    return cleaned if len(cleaned) <= DISPLAY_LIMIT else cleaned[: DISPLAY_LIMIT - 1] + "…"


async def hire_details(state: AppState, proposal_id: str, milestone: Milestone) -> dict[str, Any]:
    """What the card shows for a hire beyond the approval: masked trainer name, job title, milestone."""
    proposal: Any = None
    with anyio.move_on_after(LOOKUP_WAIT):  # the result must not wait on a slow lookup for display names
        try:
            proposal = (await state.client.get_proposal(proposal_id)).get("proposal")
        except OpenTrainError:
            proposal = None
    proposal = proposal if isinstance(proposal, dict) else {}
    candidate = proposal.get("candidate")
    terms = {
        "name": display_text(milestone.name),
        "description": display_text(milestone.description),
        "amount": milestone.amount,
        "dueDate": milestone.dueDate,
    }
    details = {
        "candidate": display_text(candidate.get("displayName") if isinstance(candidate, dict) else None),
        "job": display_text(proposal.get("jobTitle")),
        "milestone": {k: v for k, v in terms.items() if v is not None},
    }
    return {k: v for k, v in details.items() if v is not None}


def shown_on_card(out: CallToolResult, details: dict[str, Any]) -> CallToolResult:
    """``out`` for a client that renders the card: display details in ``_meta``, a note for the model."""
    first = out.content[0] if out.content else None
    if isinstance(first, TextContent):
        first.text = f"{first.text}\n{text.CARD_NOTE}"
    out.meta = {**(out.meta or {}), DETAILS_KEY: details}
    return out
