"""The documented HTTP policy: defaults, the backoff schedule and ``Retry-After`` parsing."""

from __future__ import annotations

import email.utils
import random
import time

import pytest

from opentrain_mcp.api.retry import RETRYABLE_STATUSES, RetryPolicy, parse_retry_after


class FixedJitter(random.Random):
    """A jitter source that always draws the same number, so the schedule's bounds can be read off."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_defaults_are_the_documented_policy():
    """docs/reliability.md: connect 5 s, request 15 s, 2 retries, backoff 0.5 s doubling to 4 s, 30 s budget."""
    policy = RetryPolicy()
    assert (policy.connect_timeout, policy.request_timeout, policy.max_retries) == (5.0, 15.0, 2)
    assert (policy.backoff_base, policy.backoff_cap, policy.budget) == (0.5, 4.0, 30.0)
    assert {429, 502, 503, 504} == RETRYABLE_STATUSES, "500 means the request may have run: never retried"


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.5), (1.0, 1.0)])
def test_backoff_doubles_from_half_a_second_up_to_the_cap_with_jitter(draw, factor):
    policy = RetryPolicy(jitter=FixedJitter(draw))
    schedule = [policy.backoff(n) for n in range(1, 7)]
    assert schedule == [factor * s for s in (0.5, 1.0, 2.0, 4.0, 4.0, 4.0)]


def test_retry_after_in_seconds():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("-5") == 0.0, "a negative wait means retry now"
    for useless in (
        None,
        "",
        "soon",
        "nan",
        "inf",
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 07:28:00 +99999999999999999999",  # a zone offset no timedelta can hold
    ):
        assert parse_retry_after(useless) is None, useless


def test_retry_after_as_an_http_date():
    now = 1_700_000_000.0
    in_a_minute = email.utils.formatdate(now + 60, usegmt=True)
    assert parse_retry_after(in_a_minute, now=now) == 60.0
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
    soon = parse_retry_after(email.utils.formatdate(time.time() + 120, usegmt=True))
    assert soon is not None and 100 < soon <= 120, "without ``now`` the wait is counted from the clock"
