"""Upstream values are data: shape-check what we interpolate, clean and cap free text, redact the token.

Nothing the API sends becomes a sentence or a link of ours. Values we interpolate into our own text must
match their documented shape (ids, ISO-8601 timestamps, status words, numbers) or the answer reports a
malformed response naming the field. Free text (names, titles, summaries, API messages) is cleaned of
control, newline and bidi characters, has links removed, is length-capped and is shown only quoted.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from opentrain_mcp.api.errors import MalformedResponseError
from opentrain_mcp.api.models import Approval, check_id
from opentrain_mcp.server.links import vet_link

NAME_CAP = 60
PERSON_NAME_CAP = 40
TITLE_CAP = 200
MESSAGE_CAP = 300
SUMMARY_CAP = 2000
PAGE_CAP = 48_000
"""Bytes of JSON one read result may carry; items past it are cut and the answer says how many."""

APPROVAL_STATUSES = ("pending", "confirmed", "declined", "expired")
REDACTED = "[redacted]"

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
_SCOPE = re.compile(r"[a-z][a-z_]{0,30}:[a-z][a-z_]{0,30}")
_CURSOR = re.compile(r"[A-Za-z0-9_.=+/:-]{1,200}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_PERSON_NAME = re.compile(r"[^\W\d_][\w.'-]*(?: [\w.'-]+){0,3}")
_LINK_HINTS = ("://", ":/", "//", "www.", "javascript:", "vbscript:", "data:", "mailto:", "file:")
"""A word containing one of these (any case) is, or carries, a link."""
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}

T = TypeVar("T", bound=BaseModel)


# --- shapes ------------------------------------------------------------------------------------


def is_id(value: object) -> bool:
    try:
        check_id(value, "id")  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def is_timestamp(value: object) -> bool:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return False
    try:
        _parse_time(value)
    except ValueError:
        return False
    return True


def is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_word(value: object) -> bool:
    """A status- or type-like token: letters, digits and ``_``, starting with a letter."""
    return isinstance(value, str) and bool(_WORD.fullmatch(value))


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def is_cursor(value: object) -> bool:
    """An opaque paging cursor (base64-like), passed back verbatim."""
    return isinstance(value, str) and bool(_CURSOR.fullmatch(value))


def error_code(value: object) -> str | None:
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else None


def request_id(value: object) -> str | None:
    return value if isinstance(value, str) and _REQUEST_ID.fullmatch(value) else None


def scope(value: object) -> str | None:
    return value if isinstance(value, str) and _SCOPE.fullmatch(value) else None


def person_name(value: object) -> str | None:
    """A display name fit for a sentence a human reads (at most 4 words of letters, digits and ``.'-``,
    40 characters), or None."""
    if not isinstance(value, str):
        return None
    name = clean(value, NAME_CAP + 1)
    return name if len(name) <= PERSON_NAME_CAP and _PERSON_NAME.fullmatch(name) else None


def _parse_time(value: str) -> dt.datetime:
    head, _, frac_zone = value.partition(".")
    if frac_zone:  # Python parses at most 6 fractional digits
        digits = re.match(r"\d+", frac_zone)
        assert digits is not None
        value = f"{head}.{digits.group()[:6]}{frac_zone[digits.end() :]}"
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def human_time(value: str | None) -> str | None:
    """``2026-06-15T10:00:00.000Z`` → ``15 Jun 2026, 10:00 UTC`` (None for anything else)."""
    if not is_timestamp(value):
        return None
    assert isinstance(value, str)
    return _parse_time(value).astimezone(dt.timezone.utc).strftime("%d %b %Y, %H:%M UTC")


# --- free text ---------------------------------------------------------------------------------


def clean(value: str, cap: int) -> str:
    """One line of plain text: no control, bidi or invisible characters, no links, at most ``cap`` chars.

    Only the first ``2 * cap + 64`` characters are looked at, so a huge value costs no more than a short one.
    """
    head = value[: 2 * cap + 64]
    visible = head.translate(_visible_table())
    if _ASTRAL.search(visible):  # characters outside the BMP are checked one by one
        visible = "".join(
            ch for ch in visible if ch <= "\uffff" or unicodedata.category(ch) not in _INVISIBLE
        )
    words = visible.split()
    kept = " ".join(map(_without_link, words) if _has_link(visible) else words)
    if len(kept) <= cap and len(head) == len(value):
        return kept
    return f"{kept[: max(cap - 1, 0)]}… [cut at {cap} of {len(value)} chars]"


@functools.cache
def _visible_table() -> dict[int, str | None]:
    """``str.translate`` table for the BMP: whitespace becomes a space, invisible characters go (built once)."""
    table: dict[int, str | None] = {}
    for code in range(0x10000):
        char = chr(code)
        if char.isspace():
            table[code] = " "
        elif unicodedata.category(char) in _INVISIBLE:
            table[code] = None
    return table


def _has_link(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in _LINK_HINTS)


def _without_link(word: str) -> str:
    maybe = ":" in word or "/" in word or "." in word  # every hint has one of these
    return "[link removed]" if maybe and _has_link(word) else word


def quote(value: object, cap: int = MESSAGE_CAP) -> str:
    """Free text as delimited data: cleaned, capped, inside double quotes (inner quotes become ')."""
    return '"' + clean(str(value), cap).replace('"', "'") + '"'


def cleaner(cap: int) -> Callable[[str], str]:
    """A validator that cleans and caps upstream free text (for ``AfterValidator``)."""
    return lambda value: clean(value, cap)


def checker(test: Callable[[object], bool], what: str) -> Callable[[str], str]:
    """A validator that lets a value through only if ``test`` accepts its shape (for ``AfterValidator``)."""

    def check(value: str) -> str:
        if not test(value):
            raise ValueError(f"not {what}")
        return value

    return check


def plain_json(value: Any, *, depth: int = 3, cap: int = TITLE_CAP) -> Any:
    """Nested upstream JSON kept only as small objects of word keys and scalar values (strings cleaned)."""
    if isinstance(value, bool) or is_number(value) or value is None:
        return value
    if isinstance(value, str):
        return clean(value, cap)
    if isinstance(value, dict) and depth > 0:
        return {
            k: plain_json(v, depth=depth - 1, cap=cap)
            for k, v in list(value.items())[:20]
            if isinstance(k, str) and _KEY.fullmatch(k)
        }
    return None


# --- parsing and bounds ------------------------------------------------------------------------


def parse(model: type[T], data: Any, what: str) -> T:
    """Validate upstream data against one of our output models; a bad field is a malformed response."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise MalformedResponseError(
            f"{what}: field {', '.join(fields[:5])} does not have the documented shape (not shown)"
        ) from None


def cap_items(items: list[dict[str, Any]], budget: int = PAGE_CAP) -> tuple[int, str | None]:
    """How many leading items fit in ``budget`` bytes of JSON, and a note on what was cut (None if nothing)."""
    used = 1  # "[" then each item followed by "," or "]"
    for kept, item in enumerate(items):
        used += len(json.dumps(item, separators=(",", ":")).encode()) + 1
        if used > budget:
            return kept, f"{len(items) - kept} of {len(items)} items cut: the page exceeded {budget} bytes"
    return len(items), None


# --- approvals ---------------------------------------------------------------------------------

_RESULT_FLAGS = ("hired", "contractEnded")
_RESULT_IDS = (
    "contractId",
    "jobId",
    "freelancerUserId",
    "invoiceId",
    "paymentIntentId",
    "payoutTransactionId",
)
_APPROVAL_IDS = ("contractId", "milestoneId", "jobId", "proposalId")
_APPROVAL_TIMES = ("expiresAt", "resolvedAt", "createdAt")


class ApprovalView(BaseModel):
    """An approval as we show it: only documented fields, each checked against its shape."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    status: str
    contractId: str | None = None
    milestoneId: str | None = None
    jobId: str | None = None
    proposalId: str | None = None
    approvalUrl: str | None = None
    expiresAt: str | None = None
    resolvedAt: str | None = None
    createdAt: str | None = None
    result: dict[str, str | bool] | None = None


def _malformed(field: str) -> MalformedResponseError:
    return MalformedResponseError(f"approval field {field} does not have the documented shape (not shown)")


def shape_approval(approval: Approval, *, trusted_origin: str) -> ApprovalView:
    """The approval with every field shape-checked and its link vetted.

    Raises ``MalformedResponseError`` naming the first bad field, or ``UntrustedLinkError`` for a link
    that may not be shown.
    """
    if not is_id(approval.id):
        raise _malformed("id")
    if not is_word(approval.type):
        raise _malformed("type")
    if not is_word(approval.status):
        raise _malformed("status")
    optional = {name: getattr(approval, name) or None for name in (*_APPROVAL_IDS, *_APPROVAL_TIMES)}
    for name, value in optional.items():  # an empty value is an absent one
        valid = is_id(value) if name in _APPROVAL_IDS else is_timestamp(value)
        if value is not None and not valid:
            raise _malformed(name)
    url = None
    if approval.approvalUrl is not None:
        url = vet_link(
            approval.approvalUrl, trusted_origin=trusted_origin, kind="approvalUrl", approval_id=approval.id
        )
    return ApprovalView(
        id=approval.id,
        type=approval.type,
        status=approval.status,
        **optional,
        approvalUrl=url,
        result=_shape_result(approval.result),
    )


def _shape_result(result: dict[str, Any] | None) -> dict[str, str | bool] | None:
    if result is None:
        return None
    shaped: dict[str, str | bool] = {}
    for key in _RESULT_FLAGS:
        if key in result:
            if not isinstance(result[key], bool):
                raise _malformed(f"result.{key}")
            shaped[key] = result[key]
    for key in _RESULT_IDS:
        if result.get(key):
            if not is_id(result[key]):
                raise _malformed(f"result.{key}")
            shaped[key] = result[key]
    return shaped


# --- the token ---------------------------------------------------------------------------------


def redactor(token: str | None) -> Callable[[Any], Any]:
    """A function replacing every occurrence of ``token`` in any string inside a JSON-like value."""

    def redact(value: Any) -> Any:
        if not token:
            return value
        if isinstance(value, str):
            return value.replace(token, REDACTED)
        if isinstance(value, dict):
            return {redact(k): redact(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [redact(v) for v in value]
        return value

    return redact
