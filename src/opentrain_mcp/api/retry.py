"""The client's HTTP policy in one place: timeouts, which failures are retried, backoff and the budget."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and retries for one logical API call.

    A call makes at most ``1 + max_retries`` attempts and never runs past ``budget`` seconds in total,
    which keeps a whole tool call well below the ~60 s at which MCP clients give up.
    """

    connect_timeout: float = 5.0
    request_timeout: float = 15.0
    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 4.0
    budget: float = 30.0
    jitter: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based): 0.5 s doubling, capped, with jitter."""
        base = min(self.backoff_base * 2 ** (retry_number - 1), self.backoff_cap)
        return base * (0.5 + self.jitter.random() / 2)


_SHARED_END: ContextVar[float | None] = ContextVar("opentrain_shared_deadline", default=None)


@contextmanager
def shared_deadline(seconds: float) -> Iterator[None]:
    """Every API request made inside shares one wall-clock budget (a tool call, a watcher poll).

    Nested deadlines never extend an outer one: the earliest end wins.
    """
    end = time.monotonic() + seconds
    outer = _SHARED_END.get()
    token = _SHARED_END.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _SHARED_END.reset(token)


class Deadline:
    """Tracks the time left in a call's budget, never beyond a surrounding ``shared_deadline``."""

    def __init__(self, budget: float) -> None:
        end = time.monotonic() + budget
        shared = _SHARED_END.get()
        self._end = end if shared is None else min(end, shared)

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (ValueError, OverflowError):  # OverflowError: a zone offset too large for a timedelta
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):
        return None
    return max(0.0, seconds)
