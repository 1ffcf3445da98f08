"""What confirming a co-signed approval charges, from OpenTrain's documented fees (A16 for rounding)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MARKETPLACE_FEE_RATE = Decimal("0.10")
CONTRACT_FEE = Decimal("9.95")
CENT = Decimal("0.01")


def _usd(amount: float | int) -> Decimal:
    value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _charge(amount: float | int, contract_fee: Decimal) -> dict[str, Any]:
    value = _usd(amount)
    fee = (value * MARKETPLACE_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)
    total = value + fee + contract_fee
    return {
        "amount": value,
        "marketplaceFee": fee,
        "contractFee": contract_fee,
        "total": total,
        "totalCents": int(total * 100),
    }


def hire_charge(amount: float | int) -> dict[str, Any]:
    """The documented hire charge (A16): amount + round_half_up(10 %) + $9.95, as Decimals plus total cents."""
    return _charge(amount, CONTRACT_FEE)


def fund_charge(amount: float | int) -> dict[str, Any]:
    """A later milestone's funding charge: amount + 10 %, no initiation fee (A16: not documented)."""
    return _charge(amount, Decimal("0.00"))
