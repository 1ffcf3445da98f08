"""Pydantic models of the OpenTrain wire format (field names exactly as the API spells them)."""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""Opaque ids: up to 128 letters, digits, ``_``, ``-`` or ``.`` (never ``..``), starting alphanumeric;
nothing that could change the meaning of a URL path (``/ ? # %``, whitespace, ``..``)."""

_ID_RE = re.compile(ID_PATTERN)
MAX_AMOUNT_USD = 1_000_000
"""Largest milestone amount this server sends (USD); larger ones are refused before any request."""
MAX_AMOUNT_TEXT = f"${MAX_AMOUNT_USD:,}"


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a safe opaque id, else raise ``ValueError`` saying why."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    if len(value) > 128:
        raise ValueError(f"{what} is too long ({len(value)} characters; ids are at most 128)")
    if not _ID_RE.fullmatch(value) or ".." in value:
        raise ValueError(
            f"{what} {value!r} is not a valid OpenTrain id: use the id exactly as the API returned it "
            "(letters, digits, '-', '_'; no '/', '?', '#', '%', spaces or '..')"
        )
    return value


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"must be a JSON number of US dollars, e.g. 300 or 49.5, at most {MAX_AMOUNT_TEXT}")
    if isinstance(value, int) and abs(value) > MAX_AMOUNT_USD:  # before float() could round it
        raise ValueError(f"must be a positive number of US dollars, at most {MAX_AMOUNT_TEXT}")
    return value


def _usd_amount(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or value > MAX_AMOUNT_USD:
        raise ValueError(f"must be a positive number of US dollars, at most {MAX_AMOUNT_TEXT}")
    if Decimal(str(value)).as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("must have at most 2 decimal places (whole cents), e.g. 49.5 or 49.99")
    return value


def _due_date(value: str | None) -> str | None:
    """A real calendar date, today (UTC) or later; ``None`` or ``""`` (none given) pass through."""
    if not value:
        return value
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date in the form YYYY-MM-DD")
    try:
        due = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a real calendar date") from None
    today = dt.datetime.now(dt.timezone.utc).date()
    if due < today:
        raise ValueError(f"must be today ({today.isoformat()}, UTC) or later, got {value}")
    return value


def _wire_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class Milestone(BaseModel):
    """The first escrow milestone of the contract a hire creates."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=500, description="Short milestone title")
    description: str = Field("", max_length=10_000, description="What the trainer delivers")
    amount: float = Field(
        description=f"Milestone amount in USD, > 0, at most {MAX_AMOUNT_TEXT}, whole cents (e.g. 300 or 49.5)"
    )
    dueDate: str = Field("", description="Due date, YYYY-MM-DD, today (UTC) or later; empty for none")

    @field_validator("name", "description", "dueDate", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        """An explicit ``null`` (what older clients send for "none") means the same as leaving it out."""
        return "" if value is None else value

    _amount_is_a_number = field_validator("amount", mode="before")(
        classmethod(lambda cls, v: _json_number(v))
    )
    _amount_is_money = field_validator("amount")(classmethod(lambda cls, v: _usd_amount(v)))
    _due_date_is_real = field_validator("dueDate")(classmethod(lambda cls, v: _due_date(v)))

    @model_validator(mode="after")
    def _named_or_described(self) -> Milestone:
        if not self.name.strip() and not self.description.strip():
            raise ValueError("needs a non-blank name or description (at least one)")
        return self

    def to_wire(self) -> dict[str, Any]:
        """The JSON body fragment sent to the API (empty optional fields omitted)."""
        body = {k: v for k, v in self.model_dump().items() if v != ""}
        body["amount"] = _wire_number(self.amount)
        return body


class NewMilestone(BaseModel):
    """A further, unfunded milestone."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=10_000)
    name: str = Field("", max_length=500)
    amountUsd: float = Field(0, ge=0, description="Required if fixed-price; 0 for none")
    volume: float = Field(0, ge=0, description="Hours/labels, if not fixed-price; 0 for none")
    dueDate: str = Field("", description="YYYY-MM-DD; empty for none")

    # Optional fields are "", or 0 for numbers, when not given (portable tool schemas have no null); an
    # explicit null from an older client means the same.
    _null_is_empty = field_validator("name", "dueDate", mode="before")(
        classmethod(lambda cls, v: "" if v is None else v)
    )
    _null_is_zero = field_validator("volume", mode="before")(
        classmethod(lambda cls, v: 0 if v is None else v)
    )
    _amount_is_a_number = field_validator("amountUsd", mode="before")(
        classmethod(lambda cls, v: 0 if v is None else _json_number(v))
    )
    _amount_is_money = field_validator("amountUsd")(classmethod(lambda cls, v: _usd_amount(v) if v else v))
    _due_date_is_real = field_validator("dueDate")(classmethod(lambda cls, v: _due_date(v)))

    @field_validator("description")
    @classmethod
    def _described(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("description must not be blank")
        return value

    def to_wire(self) -> dict[str, Any]:
        """The JSON body sent to the API (optional fields left empty or 0 omitted)."""
        body = {k: v for k, v in self.model_dump().items() if k == "description" or v not in ("", 0)}
        for key in ("amountUsd", "volume"):
            if key in body:
                body[key] = _wire_number(body[key])
        return body


class WireModel(BaseModel):
    """A response object: known fields typed, unknown fields kept."""

    model_config = ConfigDict(extra="allow")


class Approval(WireModel):
    """A human co-sign request, as ``GET /approvals/{id}`` returns it."""

    id: str
    type: str = Field(description="proposal_hire, milestone_fund, milestone_approve or contract_end")
    status: str = Field(
        description="pending, confirmed, declined or expired (any other value is kept, never fatal)"
    )
    contractId: str | None = None
    milestoneId: str | None = None
    jobId: str | None = None
    proposalId: str | None = None
    approvalUrl: str | None = Field(None, description="Page where a signed-in human confirms or declines")
    expiresAt: str | None = None
    resolvedAt: str | None = None
    result: dict[str, Any] | None = None
    createdAt: str | None = None


class ApprovalAccepted(WireModel):
    """The 202 answer of a co-signed write: the pending approval and OpenTrain's message."""

    approval: Approval
    message: str = ""


class HireAccepted(ApprovalAccepted):
    """The 202 answer to ``POST /proposals/{id}/hire``."""


class ContractMilestone(WireModel):
    """A milestone as a contract lists it."""

    id: str
    status: str = Field(description="NOT_FUNDED, ACTIVE_FUNDED, PAID, ... (kept as returned)")
    name: str | None = None
    description: str | None = None
    amountUsd: float | None = None
    volume: float | None = None
    dueDate: str | None = None


class ContractEnd(BaseModel):
    """The answer to ``POST /contracts/{id}/end``: ended at once (200), or a pending approval (202)."""

    ended: bool
    approval: Approval | None = None
    message: str = ""
