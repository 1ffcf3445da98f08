"""Benchmark 6: what the spend policy adds to request_hire (check-and-reserve before the POST, settle after).

Run alone: ``python bench/policy.py`` prints the section for docs/benchmarks.md.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import machine, summary

from opentrain_mcp.ledger import Ledger, SpendRequest
from opentrain_mcp.policy import SpendPolicy, hire_charge

ORIGIN = "https://app.opentrain.ai"
HISTORY = 300  # requests already in the book this month (a busy agent: ten a day)
POLICY = SpendPolicy(
    max_hire_usd="5000",
    max_daily_usd="1000000",
    max_monthly_usd="10000000",
    max_pending=1_000_000,
    max_requests_per_hour=1_000_000,
)


def _request(n: int, amount: float = 300) -> SpendRequest:
    return SpendRequest(
        "proposal_hire", f"proposal{n}", {"name": "Bench", "amount": amount}, hire_charge(amount).total_cents
    )


def _approval(n: int, status: str = "pending") -> dict[str, Any]:
    return {"id": f"approval{n}", "status": status, "expiresAt": "2099-01-01T00:00:00.000Z"}


def _seed(book: Ledger) -> None:
    """A month of history: mostly confirmed or declined, a few still pending."""
    now = dt.datetime.now(dt.timezone.utc)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span = (now - month_start).total_seconds()
    for n in range(HISTORY):
        when = month_start + dt.timedelta(seconds=span * n / HISTORY)
        held = book.reserve_spend(_request(n), POLICY.check(0), api_origin=ORIGIN, now=when)
        status = "pending" if n >= HISTORY - 5 else ("confirmed" if n % 3 else "declined")
        book.settle_spend(held, _approval(n, status))


def _time(fn: Any, n: int, warmup: int, decide: Any = None) -> list[float]:
    """ms per ``fn(i)``; ``decide(i)`` runs untimed after each call (the human deciding, keeping pending few)."""
    out = []
    for i in range(-warmup, n):
        t0 = time.perf_counter()
        fn(i)
        if i >= 0:
            out.append((time.perf_counter() - t0) * 1000)
        if decide is not None:
            decide(i)
    return out


def policy_cost(n: int = 500, warmup: int = 50) -> dict[str, Any]:
    """ms per request_hire for the policy's own work, on a ledger file with a month of history."""
    with tempfile.TemporaryDirectory(prefix="opentrain-bench-") as tmp:
        book = Ledger(Path(tmp) / "ledger.sqlite3")
        _seed(book)
        fresh = HISTORY + warmup  # new proposals, never seen before

        def new_request(i: int) -> None:
            request = _request(fresh + i)
            held = book.reserve_spend(request, POLICY.check(request.charge_cents), api_origin=ORIGIN)
            book.settle_spend(held, _approval(fresh + i))
            POLICY.used(request.charge_cents, held.usage)

        def confirmed(i: int) -> None:
            book.update(_approval(fresh + i, "confirmed"), api_origin=ORIGIN)

        def repeat(_i: int) -> None:
            request = _request(HISTORY - 1)
            held = book.reserve_spend(request, POLICY.check(request.charge_cents), api_origin=ORIGIN)
            book.settle_spend(held, _approval(HISTORY - 1))

        def verdict(i: int) -> None:
            request = _request(10 * fresh + i)
            POLICY.breach(request.charge_cents, book.assess_spend(request, api_origin=ORIGIN).usage)

        result = {
            "new": summary(_time(new_request, n, warmup, confirmed)),
            "repeat": summary(_time(repeat, n, warmup)),
            "check": summary(_time(verdict, n, warmup)),
            "rows": HISTORY + n + warmup,
        }
        book.close()
    return result


def render(r: dict[str, Any]) -> list[str]:
    new, repeat, check = r["new"], r["repeat"], r["check"]
    ok = new["median"] < 1.0
    return [
        "## 6. Spend policy check on `request_hire`\n",
        f"The work the spend policy adds to one `request_hire`, in-process, on a ledger file holding a month of "
        f"history ({HISTORY} earlier requests, 5 pending; {r['rows']} at the end) with every cap set: the check and "
        "reservation (one `BEGIN IMMEDIATE` SQLite transaction that sums the month and inserts a row) before the "
        "POST, and tying the row to the approval after it (a second transaction). No upstream GET is made unless "
        f"a cap would refuse. {new['n']} calls each after warm-up.\n",
        "| path | median ms | p95 ms | p99 ms |\n|---|---|---|---|",
        f"| new request: check + reserve + settle | {new['median']:.3f} | {new['p95']:.3f} | {new['p99']:.3f} |",
        f"| identical retry: found as a repeat + settle | {repeat['median']:.3f} | {repeat['p95']:.3f} | "
        f"{repeat['p99']:.3f} |",
        f"| verdict only (what `preview_hire` computes, no write) | {check['median']:.3f} | {check['p95']:.3f} | "
        f"{check['p99']:.3f} |",
        f"\n**Policy work per new request {new['median']:.2f} ms — target < 1 ms: {'✅ met' if ok else '❌ missed'}.**\n",
    ]


if __name__ == "__main__":
    m = machine()
    print(
        f"<!-- python bench/policy.py on {m['date']}, {m['cpu']}, {m['cores']} cores, python {m['python']} -->"
    )
    print("\n".join(render(policy_cost())))
