"""The operator's spend policy: caps on what an agent may put in front of the human (no MCP imports).

The policy comes from a TOML file (``--policy``) and per-key flags or ``OPENTRAIN_MCP_*`` variables; no tool
can change it. Money is in integer cents, fee-inclusive (amount + 10 % rounded half-up + $9.95).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from opentrain_mcp.api.models import check_id
from opentrain_mcp.ledger import SpendUsage

MARKETPLACE_FEE_RATE = Decimal("0.10")
CONTRACT_FEE = Decimal("9.95")
CENT = Decimal("0.01")
POLICY_VAR = "OPENTRAIN_MCP_POLICY"
KEYS = {
    "max_hire_usd": "fee-inclusive total of one request (amount + 10 % + $9.95)",
    "max_daily_usd": "fee-inclusive total of pending and confirmed requests per UTC day",
    "max_monthly_usd": "fee-inclusive total of pending and confirmed requests per UTC month",
    "max_pending": "requests awaiting the human at once (default 10)",
    "max_requests_per_hour": "new hire requests per rolling hour (default 20)",
    "allowed_job_ids": "hire only on these jobs, comma-separated (default: any)",
}
"""Every policy key with its meaning; each also has a flag (``--max-hire-usd``) and a variable."""
HISTORY_KEYS = ("max_daily_usd", "max_monthly_usd", "max_pending", "max_requests_per_hour")


class PolicyError(ValueError):
    """The policy cannot be used; the message names the key."""


@dataclasses.dataclass(frozen=True)
class Charge:
    """What a hire would charge on confirmation, in cents."""

    amount_cents: int
    fee_cents: int
    contract_fee_cents: int

    @property
    def total_cents(self) -> int:
        return self.amount_cents + self.fee_cents + self.contract_fee_cents


def hire_charge(amount: float | Decimal) -> Charge:
    """Milestone + 10 % marketplace fee (rounded half-up to cents) + $9.95 contract fee."""
    base = Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)
    fee = (base * MARKETPLACE_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)
    return Charge(cents(base), cents(fee), cents(CONTRACT_FEE))


def cents(usd: Decimal) -> int:
    return int(usd * 100)


def usd(value: int) -> str:
    """Cents as dollars for people: ``$1,234.50``."""
    return f"${Decimal(value) / 100:,.2f}"


def env_var(key: str) -> str:
    return f"OPENTRAIN_MCP_{key.upper()}"


def _usd(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("must be a number of US dollars, e.g. 500 or 49.95")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a number of US dollars, got {value!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"must be a positive number of US dollars, got {value!r}")
    if amount != amount.quantize(CENT):
        raise ValueError(f"must be whole cents (at most 2 decimals), got {value!r}")
    return amount


def _count(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a whole number of at least 1, got {value!r}")
    return value


def _job_ids(value: Any) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError('must be a list of job ids, e.g. ["job_1", "job_2"]')
    return tuple(check_id(item, "job id") for item in items)


Usd = Annotated[Decimal, BeforeValidator(_usd)]
Count = Annotated[int, BeforeValidator(_count)]


@dataclasses.dataclass(frozen=True)
class Breach:
    """A limit a request would break: ``used`` includes the request; money in cents."""

    limit: str
    used: int
    cap: int
    request: int = 0
    job_id: str | None = None

    @property
    def money(self) -> bool:
        return self.limit.endswith("_usd")


class SpendRefused(Exception):
    """Raised inside the ledger's check-and-reserve transaction to refuse a request."""

    def __init__(self, breach: Breach) -> None:
        super().__init__(breach.limit)
        self.breach = breach


class SpendPolicy(BaseModel):
    """Caps the operator sets. Money caps are off unless set; a loop is held back by the two count caps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_hire_usd: Usd | None = None
    max_daily_usd: Usd | None = None
    max_monthly_usd: Usd | None = None
    max_pending: Count = 10
    max_requests_per_hour: Count = 20
    allowed_job_ids: Annotated[tuple[str, ...], BeforeValidator(_job_ids)] = ()

    def needs_history(self) -> list[str]:
        """Keys the operator set that only mean something with a persistent ledger."""
        return [key for key in HISTORY_KEYS if key in self.model_fields_set]

    def caps(self) -> dict[str, int]:
        """Each set numeric cap (money in cents)."""
        money = {k: getattr(self, k) for k in ("max_hire_usd", "max_daily_usd", "max_monthly_usd")}
        out = {k: cents(v) for k, v in money.items() if v is not None}
        return {**out, "max_pending": self.max_pending, "max_requests_per_hour": self.max_requests_per_hour}

    def job_breach(self, job_id: str | None) -> Breach | None:
        """A breach of ``allowed_job_ids`` if the hire is on another (or an unknown) job."""
        if not self.allowed_job_ids or job_id in self.allowed_job_ids:
            return None
        return Breach(limit="allowed_job_ids", used=0, cap=0, job_id=job_id)

    def require_ledger(self, persistent: bool) -> None:
        """Refuse caps that need history when requests are not recorded in a file (``--ledger none``)."""
        keys = self.needs_history()
        if keys and not persistent:
            raise PolicyError(
                f"{', '.join(keys)} count earlier requests, which needs the ledger; remove --ledger none "
                "(or OPENTRAIN_MCP_LEDGER=none) or drop these keys"
            )

    def breach(self, charge_cents: int, after: SpendUsage, *, money: bool = True) -> Breach | None:
        """The first cap that usage ``after`` (which includes the request) would break, or None.

        A request that charges nothing on confirmation (``money=False``: a payout release, a contract end) is
        held to ``max_pending`` only.
        """
        caps = self.caps()
        for key, value in _used(charge_cents, after).items():
            if not money and key != "max_pending":
                continue
            if key in caps and value > caps[key]:
                return Breach(limit=key, used=value, cap=caps[key], request=charge_cents)
        return None

    def check(self, charge_cents: int, *, money: bool = True) -> Callable[[SpendUsage], None]:
        """The ``check`` for ``Ledger.reserve_spend``: raises ``SpendRefused`` on the first breach."""

        def check(after: SpendUsage) -> None:
            found = self.breach(charge_cents, after, money=money)
            if found is not None:
                raise SpendRefused(found)

        return check

    def used(self, charge_cents: int, after: SpendUsage) -> dict[str, str]:
        """Each set cap as ``used/limit`` after a request (money in dollars), for the request's result."""
        caps = self.caps()
        return {
            key: f"{usd(value)[1:]}/{usd(caps[key])[1:]}" if key.endswith("_usd") else f"{value}/{caps[key]}"
            for key, value in _used(charge_cents, after).items()
            if key in caps
        }


def _used(charge_cents: int, after: SpendUsage) -> dict[str, int]:
    """What each cap measures, in the order caps are checked."""
    return {
        "max_hire_usd": charge_cents,
        "max_pending": after.pending,
        "max_requests_per_hour": after.last_hour,
        "max_daily_usd": after.today_cents,
        "max_monthly_usd": after.month_cents,
    }


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised only on Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise PolicyError(f"policy file {path}: cannot read it ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path}: not valid TOML ({exc})") from None


def load_policy(
    path: str | None, flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> SpendPolicy:
    """The policy from ``path`` (TOML), overridden by variables, overridden by flags; PolicyError names the key."""
    data: dict[str, Any] = _read_toml(Path(path).expanduser()) if path else {}
    source = {key: f"policy file {path}" for key in data}
    for key in KEYS:
        value = (env or {}).get(env_var(key), "").strip()
        if value:
            data[key], source[key] = value, env_var(key)
        flag = (flags or {}).get(key)
        if flag is not None:
            data[key], source[key] = flag, f"--{key.replace('_', '-')}"
    try:
        return SpendPolicy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else "?"
            if error["type"] == "extra_forbidden":
                problems.append(
                    f"unknown key {key!r} in {source.get(key, 'the policy')} (known: {', '.join(KEYS)})"
                )
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(f"{key} ({source.get(key, 'policy')}) {message}")
        raise PolicyError("invalid spend policy: " + "; ".join(problems)) from None
