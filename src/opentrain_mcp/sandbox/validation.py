"""Request body validation with zod-style issues: hires (API reference §4.3, assumption A8) and milestones (§9)."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ApiError

TERM_KEYS = ("name", "description", "amount", "dueDate")
_MISSING = object()
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Issue = dict[str, Any]


def _type_name(value: Any) -> str:
    """The zod name of a JSON value's type."""
    if value is _MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "nan" if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(path: list[str | int], expected: str, value: Any) -> Issue:
    received = _type_name(value)
    message = "Required" if value is _MISSING else f"Expected {expected}, received {received}"
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": path,
        "message": message,
    }


def _bad_request(message: str, issues: list[Issue]) -> ApiError:
    return ApiError(400, message, {"issues": issues})


def decimal_places_ok(amount: float | int) -> bool:
    """True when ``amount`` has at most two decimals (0.1 + 0.2 does not)."""
    try:
        exponent = Decimal(repr(amount)).as_tuple().exponent
    except InvalidOperation:
        return False
    return isinstance(exponent, int) and exponent >= -2


def validate_milestone(
    milestone: Any, path: list[str | int] | None = None
) -> tuple[dict[str, Any], list[Issue]]:
    """Validate a milestone object; return its normalized terms and the zod-style issues found.

    Terms are ``{name, description, amount, dueDate}`` with absent values as ``None`` (A2).
    """
    base: list[str | int] = list(path or ["milestone"])
    if not isinstance(milestone, dict):
        return {}, [_invalid_type(base, "object", milestone)]
    issues: list[Issue] = []
    terms: dict[str, Any] = {key: None for key in TERM_KEYS}
    text_ok = True
    for key in ("name", "description"):
        value = milestone.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            issues.append(_invalid_type([*base, key], "string", value))
            text_ok = False
            continue
        terms[key] = value
    amount = milestone.get("amount", _MISSING)
    amount_issue = _positive_number_issue(amount, [*base, "amount"], cents=True)
    if amount_issue is not None:
        issues.append(amount_issue)
    else:
        terms["amount"] = amount
    due = milestone.get("dueDate")
    due_issue = _date_issue(due, [*base, "dueDate"])
    if due_issue is not None:
        issues.append(due_issue)
    else:
        terms["dueDate"] = due
    if text_ok and not any(isinstance(terms[k], str) and terms[k].strip() for k in ("name", "description")):
        issues.append(
            {
                "code": "custom",
                "path": base,
                "message": "At least one of name or description must be non-empty",
            }
        )
    return terms, issues


def _positive_number_issue(value: Any, path: list[str | int], *, cents: bool) -> Issue | None:
    """The zod-style issue of a required positive number (with at most 2 decimals when ``cents``), or None."""
    if (
        value is _MISSING
        or value is None
        or isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        return _invalid_type(path, "number", value)
    if value <= 0:
        return {
            "code": "too_small",
            "minimum": 0,
            "inclusive": False,
            "type": "number",
            "path": path,
            "message": "Number must be greater than 0",
        }
    if cents and not decimal_places_ok(value):
        return {
            "code": "not_multiple_of",
            "multipleOf": 0.01,
            "path": path,
            "message": "Amount must have at most 2 decimal places",
        }
    return None


def _date_issue(value: Any, path: list[str | int]) -> Issue | None:
    """The issue of an optional ``YYYY-MM-DD`` date, or None (absent is fine)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return _invalid_type(path, "string", value)
    if not _valid_date(value):
        return {
            "code": "invalid_string",
            "validation": "regex",
            "path": path,
            "message": "Invalid date, expected YYYY-MM-DD",
        }
    return None


def _valid_date(value: str) -> bool:
    if not _DATE_RE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _json_object_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or the documented 400."""
    if not raw.strip():
        raise _bad_request("Request body is required.", [_invalid_type([], "object", _MISSING)])
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request(
            "Request body is not valid JSON.",
            [{"code": "custom", "path": [], "message": "Malformed JSON in request body"}],
        ) from None
    if not isinstance(body, dict):
        raise _bad_request("Invalid request body.", [_invalid_type([], "object", body)])
    return body


def parse_milestone_body(raw: bytes, *, fixed_price: bool) -> dict[str, Any]:
    """Validate a `POST /contracts/{id}/milestones` body (§9); return ``{name, description, amountUsd, volume,
    dueDate}`` (absent = ``None``) or raise a 400. ``amountUsd`` is required on fixed-price contracts; other
    contracts need ``amountUsd`` or ``volume``."""
    body = _json_object_body(raw)
    issues: list[Issue] = []
    fields: dict[str, Any] = dict.fromkeys(("name", "description", "amountUsd", "volume", "dueDate"))
    description = body.get("description", _MISSING)
    if not isinstance(description, str):
        issues.append(_invalid_type(["description"], "string", description))
    elif not description.strip():
        issues.append({"code": "too_small", "path": ["description"], "message": "Description is required"})
    else:
        fields["description"] = description
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        issues.append(_invalid_type(["name"], "string", name))
    else:
        fields["name"] = name
    for key, cents in (("amountUsd", True), ("volume", False)):
        value = body.get(key)
        if value is None:
            continue
        issue = _positive_number_issue(value, [key], cents=cents)
        if issue is not None:
            issues.append(issue)
        else:
            fields[key] = value
    if fixed_price and body.get("amountUsd") is None:
        issues.append(_invalid_type(["amountUsd"], "number", _MISSING))
    if not fixed_price and body.get("amountUsd") is None and body.get("volume") is None:
        issues.append({"code": "custom", "path": [], "message": "Send amountUsd or volume"})
    due_issue = _date_issue(body.get("dueDate"), ["dueDate"])
    if due_issue is not None:
        issues.append(due_issue)
    else:
        fields["dueDate"] = body.get("dueDate")
    if issues:
        raise _bad_request("Invalid milestone: see details.issues.", issues)
    return fields


def parse_hire_body(raw: bytes) -> tuple[dict[str, Any], bool]:
    """Parse and validate a hire request body; return ``(terms, confirmNotFitOverride)`` or raise a 400."""
    body = _json_object_body(raw)
    issues: list[Issue] = []
    milestone = body.get("milestone", _MISSING)
    if milestone is _MISSING or milestone is None:
        issues.append(_invalid_type(["milestone"], "object", _MISSING if milestone is _MISSING else None))
        terms: dict[str, Any] = {}
    else:
        terms, milestone_issues = validate_milestone(milestone)
        issues.extend(milestone_issues)
    override = body.get("confirmNotFitOverride", False)
    if override is None:
        override = False
    if not isinstance(override, bool):
        issues.append(_invalid_type(["confirmNotFitOverride"], "boolean", override))
    if issues:
        raise _bad_request("Invalid hire request: see details.issues.", issues)
    return terms, bool(override)


def merge_terms(current: dict[str, Any], edits: Any) -> tuple[dict[str, Any], list[Issue]]:
    """Apply a human's milestone edits (only the keys given) to ``current`` and validate the result."""
    if not isinstance(edits, dict):
        return current, [_invalid_type(["milestone"], "object", edits)]
    merged = dict(current)
    for key in TERM_KEYS:
        if key in edits:
            merged[key] = edits[key]
    return validate_milestone(merged)


def milestone_from_form(form: dict[str, str]) -> dict[str, Any]:
    """Turn the approval page's form fields into a milestone edit (blank text → absent, amount → number)."""
    edits: dict[str, Any] = {}
    for key, field in (
        ("name", "milestone_name"),
        ("description", "milestone_description"),
        ("dueDate", "due_date"),
    ):
        if field in form:
            value = form[field].strip()
            edits[key] = value or None
    if "amount" in form:
        text = form["amount"].strip().replace(",", "").lstrip("$")
        try:
            number = Decimal(text)
        except InvalidOperation:
            edits["amount"] = text or None
        else:
            if not number.is_finite():
                edits["amount"] = text
            elif number == number.to_integral_value():
                edits["amount"] = int(number)
            else:
                edits["amount"] = float(number)
    return edits
