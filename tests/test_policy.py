"""The spend policy: loading and refusing bad files, fee-inclusive cents, and the ledger's spend book."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from opentrain_mcp.ledger import Ledger, SpendRequest
from opentrain_mcp.policy import KEYS, PolicyError, SpendPolicy, SpendRefused, hire_charge, load_policy

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://app.opentrain.ai"
EXAMPLE = (ROOT / "README.md").read_text().split("```toml\n", 1)[1].split("```", 1)[0]
"""The complete example policy file in the README."""
DAY1 = dt.datetime(2030, 1, 31, 23, 30, tzinfo=dt.timezone.utc)


def hire(subject: str, amount: float = 300, name: str = "Batch") -> SpendRequest:
    milestone = {"name": name, "amount": amount}
    return SpendRequest("proposal_hire", subject, milestone, hire_charge(amount).total_cents)


def approval(approval_id: str, status: str = "pending", expires: str = "2030-03-01T00:00:00.000Z") -> dict:
    return {"id": approval_id, "status": status, "expiresAt": expires}


@pytest.fixture
def book(tmp_path: Path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    yield ledger
    ledger.close()


def allow(_usage) -> None:
    return None


# --- loading --------------------------------------------------------------------------------------


def test_the_readme_example_sets_every_key(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE)
    policy = load_policy(str(path))
    assert policy.model_fields_set == set(KEYS)
    assert policy.caps() == {
        "max_hire_usd": 50000,
        "max_daily_usd": 100000,
        "max_monthly_usd": 500000,
        "max_pending": 5,
        "max_requests_per_hour": 10,
    }
    assert policy.allowed_job_ids == ("cl9x1job0001", "cl9x1job0002")
    assert hire_charge(445).total_cents == 49945  # the example in the file's comment


def test_defaults_hold_back_a_loop_but_set_no_money_cap():
    policy = load_policy(None)
    assert policy.caps() == {"max_pending": 10, "max_requests_per_hour": 20}
    assert policy.allowed_job_ids == () and policy.needs_history() == []
    policy.require_ledger(False)  # the defaults also work with the ledger off (counted in memory)


def test_flags_win_over_variables_which_win_over_the_file(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE)
    env = {"OPENTRAIN_MCP_MAX_PENDING": "3", "OPENTRAIN_MCP_MAX_DAILY_USD": "750.25", "OT_API_TOKEN": "x"}
    policy = load_policy(str(path), {"max_pending": "2", "allowed_job_ids": "a1, b2"}, env)
    assert (policy.max_pending, policy.max_daily_usd, policy.allowed_job_ids) == (
        2,
        Decimal("750.25"),
        ("a1", "b2"),
    )
    assert policy.max_hire_usd == Decimal("500") and policy.max_monthly_usd == Decimal("5000")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("max_dayly_usd = 10", "max_dayly_usd"),
        ("max_hire_usd = -5", "max_hire_usd"),
        ("max_hire_usd = 0", "max_hire_usd"),
        ("max_daily_usd = 10.005", "max_daily_usd"),
        ("max_monthly_usd = nan", "max_monthly_usd"),
        ('max_monthly_usd = "lots"', "max_monthly_usd"),
        ("max_hire_usd = true", "max_hire_usd"),
        ("max_pending = 0", "max_pending"),
        ("max_pending = 2.5", "max_pending"),
        ("max_requests_per_hour = true", "max_requests_per_hour"),
        ('allowed_job_ids = ["../x"]', "allowed_job_ids"),
        ('allowed_job_ids = "job_1"', None),
        ("[limits]\nmax_pending = 3", "limits"),
    ],
)
def test_an_invalid_value_names_its_key(tmp_path: Path, content: str, named: str | None):
    path = tmp_path / "policy.toml"
    path.write_text(content + "\n")
    if named is None:  # a single string is accepted as a comma-separated list
        assert load_policy(str(path)).allowed_job_ids == ("job_1",)
        return
    with pytest.raises(PolicyError) as caught:
        load_policy(str(path))
    assert named in str(caught.value) and str(path) in str(caught.value)


def test_unreadable_or_broken_files_are_refused(tmp_path: Path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("max_pending = = 3\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(str(broken))
    with pytest.raises(PolicyError, match="OPENTRAIN_MCP_MAX_PENDING"):
        load_policy(None, env={"OPENTRAIN_MCP_MAX_PENDING": "many"})


def test_refusals_say_what_a_dollar_cap_must_be_and_why_a_file_cannot_be_read(tmp_path: Path):
    path = tmp_path / "policy.toml"
    for value in ("true", "[500]", "1979-05-27"):  # TOML values that are no amount at all
        path.write_text(f"max_hire_usd = {value}\n")
        with pytest.raises(PolicyError) as caught:
            load_policy(str(path))
        assert str(caught.value) == (
            f"invalid spend policy: max_hire_usd (policy file {path}) "
            "must be a number of US dollars, e.g. 500 or 49.95"
        )
    missing = tmp_path / "missing.toml"
    with pytest.raises(PolicyError) as caught:
        load_policy(str(missing))
    assert str(caught.value) == f"policy file {missing}: cannot read it (No such file or directory)"


def test_any_positive_whole_cent_cap_is_accepted(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_text("max_hire_usd = 0.01\nmax_daily_usd = 1\nmax_monthly_usd = 1.5\n")
    assert load_policy(str(path)).caps() == {
        "max_hire_usd": 1,
        "max_daily_usd": 100,
        "max_monthly_usd": 150,
        "max_pending": 10,
        "max_requests_per_hour": 20,
    }
    assert load_policy(None, {"max_hire_usd": "0.5"}).caps()["max_hire_usd"] == 50


def test_python_3_10_reads_the_policy_file_with_tomli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Python 3.10 (supported) has no tomllib; the ``tomli`` backport, a dependency there, reads the file."""
    import tomllib

    path = tmp_path / "policy.toml"
    path.write_text(EXAMPLE)
    monkeypatch.setitem(sys.modules, "tomllib", None)  # what 3.10 has: importing tomllib fails
    monkeypatch.setitem(sys.modules, "tomli", tomllib)  # the same parser under the backport's name
    monkeypatch.setattr(sys, "version_info", (3, 10, 14, "final", 0))
    assert load_policy(str(path)).max_pending == 5
    path.write_text("max_pending = = 3\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(str(path))


def test_caps_that_count_history_need_the_ledger():
    for key, value in (("max_daily_usd", "10"), ("max_monthly_usd", "10"), ("max_pending", "3")):
        policy = load_policy(None, {key: value})
        with pytest.raises(PolicyError, match=key):
            policy.require_ledger(False)
        policy.require_ledger(True)
    load_policy(None, {"max_hire_usd": "10", "allowed_job_ids": "j1"}).require_ledger(False)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPENTRAIN", "OT_"))}
    return subprocess.run(
        [sys.executable, "-m", "opentrain_mcp", *args],
        env={**clean, "OT_API_TOKEN": "ot_pat_test_token_for_cli", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_the_server_refuses_to_start_on_an_invalid_policy(tmp_path: Path):
    path = tmp_path / "policy.toml"
    path.write_text("max_pending = 5\nmax_daily_usd = -1\n")
    run = _cli("--policy", str(path), "--ledger", str(tmp_path / "ledger.sqlite3"))
    assert run.returncode == 2 and "max_daily_usd" in run.stderr and "refusing to start" in run.stderr
    run = _cli("--ledger", "none", env={"OPENTRAIN_MCP_MAX_MONTHLY_USD": "100"})
    assert run.returncode == 2 and "max_monthly_usd" in run.stderr and "--ledger none" in run.stderr
    run = _cli("--max-hire-usd", "12.345", "--ledger", str(tmp_path / "ledger.sqlite3"))
    assert run.returncode == 2 and "max_hire_usd (--max-hire-usd)" in run.stderr


# --- money ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "fee", "total"),
    [(300, 3000, 33995), (0.05, 1, 1001), (0.04, 0, 999), (49.95, 500, 6490), (1234.56, 12346, 136797)],
)
def test_charge_is_amount_plus_ten_percent_half_up_plus_fee(amount, fee, total):
    charge = hire_charge(amount)
    assert charge.fee_cents == fee and charge.contract_fee_cents == 995 and charge.total_cents == total


# --- the spend book -----------------------------------------------------------------------------------


def test_usage_counts_fee_inclusive_cents_per_utc_day_and_month(book: Ledger):
    first = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(first, approval("a1"))
    usage = book.spend_usage(api_origin=ORIGIN, now=DAY1)
    assert (usage.today_cents, usage.month_cents, usage.pending, usage.last_hour) == (33995, 33995, 1, 1)
    next_day = DAY1 + dt.timedelta(minutes=59)  # 2030-02-01 00:29: a new day and a new month
    usage = book.spend_usage(api_origin=ORIGIN, now=next_day)
    assert (usage.today_cents, usage.month_cents, usage.pending, usage.last_hour) == (0, 0, 1, 1)
    book.update(approval("a1", "confirmed"), api_origin=ORIGIN)
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).month_cents == 33995
    usage = book.spend_usage(api_origin=ORIGIN, now=next_day)
    assert (usage.today_cents, usage.month_cents, usage.pending, usage.last_hour) == (0, 0, 0, 1)
    later = book.spend_usage(api_origin=ORIGIN, now=next_day + dt.timedelta(minutes=31))
    assert (later.pending, later.last_hour) == (0, 0)
    assert book.spend_usage(api_origin="http://127.0.0.1:9", now=DAY1).pending == 0


def test_declined_and_expired_release_money_and_pending_but_still_count_as_requests(book: Ledger):
    for n in range(3):
        book.settle_spend(
            book.reserve_spend(hire(f"p{n}"), allow, api_origin=ORIGIN, now=DAY1), approval(f"a{n}")
        )
    book.update(approval("a0", "declined"), api_origin=ORIGIN)
    book.update(approval("a1", "confirmed"), api_origin=ORIGIN)
    usage = book.spend_usage(api_origin=ORIGIN, now=DAY1)
    assert (usage.today_cents, usage.pending, usage.last_hour) == (2 * 33995, 1, 3)
    after_expiry = DAY1.replace(month=3, day=2, hour=0)  # a2's expiresAt has passed: it no longer counts
    assert book.spend_usage(api_origin=ORIGIN, now=after_expiry).pending == 0
    assert book.pending_spend(api_origin=ORIGIN, limit=5) == ("a2",)


def test_identical_terms_count_once_and_new_terms_replace_the_open_request(book: Ledger):
    first = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(first, approval("a1"))
    again = book.reserve_spend(
        hire("p1"), lambda u: pytest.fail("a repeat is not checked"), api_origin=ORIGIN, now=DAY1
    )
    assert again.repeat and again.row_id == first.row_id
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).last_hour == 1
    replacing = book.assess_spend(hire("p1", amount=100), api_origin=ORIGIN, now=DAY1)
    assert replacing.replaces == ("a1",) and replacing.usage.pending == 1
    assert replacing.usage.today_cents == hire_charge(100).total_cents
    second = book.reserve_spend(hire("p1", amount=100), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(second, approval("a2"))
    usage = book.spend_usage(api_origin=ORIGIN, now=DAY1)
    assert (usage.today_cents, usage.pending, usage.last_hour) == (hire_charge(100).total_cents, 1, 2)
    old_terms = book.assess_spend(hire("p1"), api_origin=ORIGIN, now=DAY1)
    assert not old_terms.repeat, "the superseded request is not open any more"


def test_a_repeat_answered_by_a_new_approval_gets_its_own_row(book: Ledger):
    first = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(first, approval("a1"))
    again = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(again, approval("a9"))  # a1 had been decided upstream without us knowing
    assert set(book.pending_spend(api_origin=ORIGIN, limit=5)) == {"a1", "a9"}


def test_a_new_approval_for_a_repeat_counts_in_the_last_hour_only_for_an_hour(book: Ledger):
    now = dt.datetime.now(dt.timezone.utc)  # a new approval's row is stamped when it is settled
    book.settle_spend(book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=now), approval("a1"))
    book.settle_spend(book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=now), approval("a9"))
    later = book.spend_usage(api_origin=ORIGIN, now=now + dt.timedelta(hours=2))
    assert (later.pending, later.last_hour) == (1, 0)
    assert book.pending_spend(api_origin=ORIGIN, limit=5) == ("a9", "a1")


def test_an_answer_to_a_repeat_whose_first_request_was_given_back_does_not_fail(book: Ledger):
    """Two identical requests in flight: the first is refused (released), the second gets an approval."""
    first = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    repeat = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    assert repeat.repeat
    book.release_spend(first)
    book.settle_spend(repeat, approval("a1"))  # must not raise: the approval was already created upstream


@pytest.mark.parametrize(
    "expires", ["2030-02-01T00:00:00.000Z", "2030-02-01T00:00:00", "2030-02-01T02:00:00+02:00"]
)
def test_an_approval_stops_counting_at_the_moment_it_expires(book: Ledger, expires: str):
    """A stamp without a timezone is UTC; one with an offset means that instant."""
    book.settle_spend(
        book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1), approval("a1", expires=expires)
    )
    expiry = dt.datetime(2030, 2, 1, tzinfo=dt.timezone.utc)
    assert book.spend_usage(api_origin=ORIGIN, now=expiry - dt.timedelta(milliseconds=1)).pending == 1
    assert book.spend_usage(api_origin=ORIGIN, now=expiry).pending == 0


def test_release_gives_back_only_an_unanswered_reservation(book: Ledger):
    held = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).pending == 1
    book.release_spend(held)
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).pending == 0
    kept = book.reserve_spend(hire("p2"), allow, api_origin=ORIGIN, now=DAY1)
    book.release_spend(book.reserve_spend(hire("p2"), allow, api_origin=ORIGIN, now=DAY1))  # a repeat
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).pending == 1
    three_days = DAY1 + dt.timedelta(hours=72, seconds=1)  # an unanswered request cannot stay pending longer
    assert book.spend_usage(api_origin=ORIGIN, now=three_days).pending == 0
    book.settle_spend(kept, approval("a2"))
    book.release_spend(kept)
    assert book.pending_spend(api_origin=ORIGIN, limit=5) == ("a2",)


def test_a_refusal_writes_nothing(book: Ledger):
    policy = SpendPolicy(max_pending=1)
    request = hire("p1")
    book.reserve_spend(request, policy.check(request.charge_cents), api_origin=ORIGIN, now=DAY1)
    with pytest.raises(SpendRefused) as refused:
        book.reserve_spend(hire("p2"), policy.check(request.charge_cents), api_origin=ORIGIN, now=DAY1)
    assert (refused.value.breach.limit, refused.value.breach.used, refused.value.breach.cap) == (
        "max_pending",
        2,
        1,
    )
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).last_hour == 1


def test_the_book_survives_a_restart_and_an_old_ledger_is_upgraded(tmp_path: Path):
    import sqlite3

    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:  # a version-1 file, as the previous release wrote it
        db.execute(
            "CREATE TABLE hires (approvalId TEXT NOT NULL, proposalId TEXT NOT NULL, jobId TEXT, milestone TEXT "
            "NOT NULL, status TEXT NOT NULL, approvalUrl TEXT, expiresAt TEXT, contractId TEXT, apiOrigin TEXT "
            "NOT NULL, createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL, PRIMARY KEY (apiOrigin, approvalId))"
        )
        db.execute("PRAGMA user_version = 1")
    first = Ledger(path)
    first.settle_spend(first.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1), approval("a1"))
    first.close()
    second = Ledger(path)
    try:
        assert second.spend_usage(api_origin=ORIGIN, now=DAY1).today_cents == 33995
    finally:
        second.close()


def test_check_and_reserve_is_one_transaction_across_connections(tmp_path: Path):
    """B tries while A is inside its check: B must wait and then see A's reservation, not slip past it."""
    path = tmp_path / "ledger.sqlite3"
    first, second = Ledger(path), Ledger(path)
    policy = SpendPolicy(max_pending=1)
    inside = threading.Event()
    outcome: dict[str, str] = {}

    def slow_check(after) -> None:
        policy.check(33995)(after)
        inside.set()
        time.sleep(0.3)  # hold the write transaction while the other connection tries

    def other() -> None:
        inside.wait(10)
        try:
            second.reserve_spend(hire("p2"), policy.check(33995), api_origin=ORIGIN)
            outcome["second"] = "reserved"
        except SpendRefused as exc:
            outcome["second"] = exc.breach.limit

    thread = threading.Thread(target=other)
    thread.start()
    first.reserve_spend(hire("p1"), slow_check, api_origin=ORIGIN)
    thread.join(15)
    try:
        assert outcome == {"second": "max_pending"}
        assert first.spend_usage(api_origin=ORIGIN).pending == 1
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("missing", ["id", "status"])
def test_an_answer_without_an_approval_id_or_status_settles_nothing(book: Ledger, missing: str):
    """The book never ties a reservation to an approval it could not re-read or count by status later."""
    held = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    with pytest.raises(ValueError, match=missing):
        book.settle_spend(held, {**approval("a1"), missing: ""})
    assert book.pending_spend(api_origin=ORIGIN, limit=5) == ()
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1).pending == 1, "the reservation still counts"


def test_the_utc_day_and_month_begin_exactly_at_midnight(book: Ledger):
    midnight = dt.datetime(2030, 2, 1, tzinfo=dt.timezone.utc)  # the first instant of a day and a month
    just_before = book.reserve_spend(
        hire("p0"), allow, api_origin=ORIGIN, now=midnight - dt.timedelta(seconds=1)
    )
    book.settle_spend(just_before, approval("a0"))
    book.settle_spend(book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=midnight), approval("a1"))
    charge = hire_charge(300).total_cents
    usage = book.spend_usage(api_origin=ORIGIN, now=midnight + dt.timedelta(hours=12))
    assert (usage.today_cents, usage.month_cents, usage.pending) == (charge, charge, 2)
    for a in ("a0", "a1"):
        book.update(approval(a, "confirmed"), api_origin=ORIGIN)
    usage = book.spend_usage(api_origin=ORIGIN, now=midnight + dt.timedelta(hours=12))
    assert (usage.today_cents, usage.month_cents, usage.pending) == (charge, charge, 0)


def test_a_pending_approval_stops_counting_the_instant_it_expires(book: Ledger):
    expires = "2030-02-01T00:00:00.000Z"
    old = book.reserve_spend(hire("p0"), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(old, approval("a0", expires=expires))
    book.settle_spend(book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1), approval("a1"))
    at_expiry = dt.datetime(2030, 2, 1, tzinfo=dt.timezone.utc)
    assert book.spend_usage(api_origin=ORIGIN, now=at_expiry - dt.timedelta(milliseconds=1)).pending == 2
    assert book.spend_usage(api_origin=ORIGIN, now=at_expiry).pending == 1, "only the expired one stops"


def test_an_unanswered_reservation_counts_for_72_hours(book: Ledger):
    book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1 + dt.timedelta(hours=71, minutes=59)).pending == 1
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1 + dt.timedelta(hours=72)).pending == 0


def test_an_unreadable_expiry_keeps_the_approval_pending(book: Ledger):
    """A malformed expiresAt from the API never crashes the policy check; the approval keeps counting."""
    held = book.reserve_spend(hire("p1"), allow, api_origin=ORIGIN, now=DAY1)
    book.settle_spend(held, approval("a1", expires="next tuesday"))
    assert book.spend_usage(api_origin=ORIGIN, now=DAY1 + dt.timedelta(days=30)).pending == 1
