"""The local hire ledger: roundtrips, upserts, origin separation, restarts and two processes at once."""

from __future__ import annotations

import multiprocessing
import os
import re
import sqlite3
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from opentrain_mcp.ledger import SCHEMA_VERSION, HireRecord, Ledger, default_ledger_path

REAL = "https://app.opentrain.ai"
SANDBOX = "http://127.0.0.1:8787"
MILESTONE = {"name": "Label 500 images", "amount": 300, "dueDate": "2030-01-31"}
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def approval(approval_id: str, status: str = "pending", **extra: Any) -> dict[str, Any]:
    return {
        "id": approval_id,
        "type": "proposal_hire",
        "status": status,
        "proposalId": f"prop_{approval_id}",
        "jobId": "job_1",
        "approvalUrl": f"{REAL}/approvals/{approval_id}",
        "expiresAt": "2030-01-01T00:00:00.000Z",
        "contractId": None,
        **extra,
    }


@pytest.fixture
def ledger(tmp_path: Path):
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def test_record_get_list_update_roundtrip(ledger: Ledger):
    rec = ledger.record(approval("apr_1"), milestone=MILESTONE, api_origin=REAL)
    assert isinstance(rec, HireRecord)
    assert (rec.approvalId, rec.proposalId, rec.jobId, rec.status) == (
        "apr_1",
        "prop_apr_1",
        "job_1",
        "pending",
    )
    assert rec.milestone == MILESTONE and rec.contractId is None and rec.apiOrigin == REAL
    assert STAMP.match(rec.createdAt) and STAMP.match(rec.updatedAt)
    assert ledger.get("apr_1", api_origin=REAL) == rec
    assert ledger.list(api_origin=REAL) == [rec]
    assert set(rec.to_dict()) == {f for f in HireRecord.__dataclass_fields__}

    assert ledger.update({"id": "apr_1", "status": "pending"}, api_origin=REAL) == rec  # nothing changed
    done = ledger.update(approval("apr_1", "confirmed", contractId="ctr_9"), api_origin=REAL)
    assert done is not None and (done.status, done.contractId) == ("confirmed", "ctr_9")
    assert done.createdAt == rec.createdAt and done.updatedAt >= rec.updatedAt
    assert done.milestone == MILESTONE and ledger.get("apr_1", api_origin=REAL) == done
    later = ledger.update({"id": "apr_1", "status": "confirmed", "contractId": None}, api_origin=REAL)
    assert later is not None and later.contractId == "ctr_9"  # a missing field never erases a known one

    assert ledger.update(approval("apr_unknown"), api_origin=REAL) is None
    assert ledger.get("apr_unknown", api_origin=REAL) is None
    assert len(ledger.list(api_origin=REAL)) == 1


def test_repeat_request_keeps_created_at(ledger: Ledger):
    first = ledger.record(approval("apr_1"), milestone=MILESTONE, api_origin=REAL)
    again = ledger.record(
        approval("apr_1", approvalUrl=f"{REAL}/approvals/apr_1?v=2"), milestone=MILESTONE, api_origin=REAL
    )
    assert again.createdAt == first.createdAt and again.updatedAt >= first.updatedAt
    assert again.approvalUrl == f"{REAL}/approvals/apr_1?v=2"
    assert ledger.list(api_origin=REAL) == [again]


def test_status_filter_limit_and_newest_first(ledger: Ledger):
    for i, status in enumerate(["pending", "declined", "pending", "expired", "confirmed"]):
        ledger.record(approval(f"apr_{i}", status), milestone=MILESTONE, api_origin=REAL)
    assert [r.approvalId for r in ledger.list(api_origin=REAL)] == [f"apr_{i}" for i in (4, 3, 2, 1, 0)]
    assert [r.approvalId for r in ledger.list(api_origin=REAL, status="pending")] == ["apr_2", "apr_0"]
    assert ledger.list(api_origin=REAL, status="weird-new-status") == []
    assert [r.approvalId for r in ledger.list(api_origin=REAL, limit=2)] == ["apr_4", "apr_3"]
    assert [r.approvalId for r in ledger.list(api_origin=REAL, limit=1)] == ["apr_4"]
    with pytest.raises(ValueError):
        ledger.list(api_origin=REAL, limit=0)


def test_origins_never_mix(ledger: Ledger):
    ledger.record(approval("apr_1"), milestone=MILESTONE, api_origin=REAL)
    ledger.record(approval("apr_1", "confirmed"), milestone={"amount": 1}, api_origin=SANDBOX)
    ledger.record(approval("apr_2"), milestone=MILESTONE, api_origin=SANDBOX + "/")
    assert [r.approvalId for r in ledger.list(api_origin=REAL)] == ["apr_1"]
    assert [r.approvalId for r in ledger.list(api_origin=SANDBOX)] == ["apr_2", "apr_1"]
    real, sandbox = ledger.get("apr_1", api_origin=REAL), ledger.get("apr_1", api_origin=SANDBOX)
    assert real is not None and sandbox is not None
    assert (real.status, sandbox.status) == ("pending", "confirmed")
    assert ledger.update({"id": "apr_2", "status": "declined"}, api_origin=REAL) is None


def test_survives_restart(tmp_path: Path):
    first = Ledger(tmp_path / "deep" / "dir" / "ledger.sqlite3")
    rec = first.record(approval("apr_1"), milestone=MILESTONE, api_origin=REAL)
    first.close()
    second = Ledger(first.path)
    try:
        assert second.list(api_origin=REAL) == [rec]
    finally:
        second.close()


def test_never_stores_tokens(tmp_path: Path):
    led = Ledger(tmp_path / "ledger.sqlite3")
    secret = "ot_pat_supersecret_123"
    milestone = {**MILESTONE, "apiToken": secret, "extra": [{"Authorization": f"Bearer {secret}"}]}
    rec = led.record(approval("apr_1", token=secret), milestone=milestone, api_origin=REAL)
    led.close()
    assert rec.milestone == {**MILESTONE, "extra": [{}]}
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert secret.encode() not in stored and b"apr_1" in stored


def test_rejects_an_approval_without_ids(ledger: Ledger):
    for bad in (
        {"status": "pending", "proposalId": "p"},
        {"id": "apr_1", "status": "pending"},
        approval("apr_2", proposalId=123),
        approval("apr_3", proposalId=""),
    ):
        with pytest.raises(ValueError):
            ledger.record(bad, milestone=MILESTONE, api_origin=REAL)
    assert ledger.list(api_origin=REAL) == []
    with pytest.raises(ValueError):
        ledger.update({"status": "confirmed"}, api_origin=REAL)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_file_and_directory_are_private(tmp_path: Path):
    led = Ledger(tmp_path / "new" / "ledger.sqlite3")
    led.record(approval("apr_1"), milestone=MILESTONE, api_origin=REAL)
    assert stat.S_IMODE(led.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(led.path.parent.stat().st_mode) == 0o700
    led.close()


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG applies on Linux and other Unixes")
def test_default_path_honours_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_ledger_path() == tmp_path / "opentrain-mcp" / "ledger.sqlite3"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the XDG spec says to ignore relative paths
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        default_ledger_path() == tmp_path / "home" / ".local" / "share" / "opentrain-mcp" / "ledger.sqlite3"
    )


def test_one_ledger_shared_by_threads(ledger: Ledger):
    def write(prefix: str) -> None:
        for i in range(25):
            ledger.record(approval(f"{prefix}_{i}"), milestone=MILESTONE, api_origin=REAL)
            ledger.list(api_origin=REAL, limit=3)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ledger.list(api_origin=REAL, limit=1000)) == 100


def _writer(path: str, prefix: str, start: Any) -> None:
    start.wait(timeout=30)
    led = Ledger(path)
    for i in range(50):
        led.record(approval(f"{prefix}_{i}"), milestone=MILESTONE, api_origin=REAL)
        led.update({"id": f"{prefix}_{i}", "status": "confirmed"}, api_origin=REAL)
        led.list(api_origin=REAL, limit=5)
    led.close()


def test_two_processes_share_one_file(tmp_path: Path):
    path = tmp_path / "ledger.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(path), name, start)) for name in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0]

    led = Ledger(path)
    records = led.list(api_origin=REAL, limit=1000)
    led.close()
    assert sorted(r.approvalId for r in records) == sorted(f"{p}_{i}" for p in "ab" for i in range(50))
    assert {r.status for r in records} == {"confirmed"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_records_every_cosigned_kind_with_target_and_amount(ledger: Ledger):
    fund = {**approval("apr_f"), "type": "milestone_fund", "proposalId": None, "milestoneId": "ms_1"}
    rec = ledger.record(fund, api_origin=REAL, target_id="ms_1", amount_usd=220.0)
    assert (rec.kind, rec.targetId, rec.amountUsd, rec.proposalId, rec.milestone) == (
        "milestone_fund",
        "ms_1",
        220.0,
        None,
        None,
    )
    hire = ledger.record(approval("apr_h"), milestone=MILESTONE, api_origin=REAL, amount_usd=339.95)
    assert (hire.kind, hire.targetId, hire.amountUsd) == ("proposal_hire", "prop_apr_h", 339.95)
    assert [r.kind for r in ledger.list(api_origin=REAL)] == ["proposal_hire", "milestone_fund"]


def test_a_schema_1_ledger_is_migrated_in_place(tmp_path: Path):
    path = tmp_path / "ledger.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        """CREATE TABLE hires (
        approvalId TEXT NOT NULL, proposalId TEXT NOT NULL, jobId TEXT, milestone TEXT NOT NULL,
        status TEXT NOT NULL, approvalUrl TEXT, expiresAt TEXT, contractId TEXT, apiOrigin TEXT NOT NULL,
        createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL, PRIMARY KEY (apiOrigin, approvalId))"""
    )
    db.execute(
        "INSERT INTO hires VALUES ('apr_1', 'prop_1', 'job_1', '{\"amount\": 300}', 'pending', NULL, NULL, NULL, "
        "?, '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z')",
        (REAL,),
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    led = Ledger(path)
    [old] = led.list(api_origin=REAL)
    assert (old.kind, old.targetId, old.proposalId, old.milestone) == (
        "proposal_hire",
        "prop_1",
        "prop_1",
        {"amount": 300},
    )
    led.record(
        {**approval("apr_2"), "type": "contract_end", "proposalId": None}, api_origin=REAL, target_id="c_1"
    )
    assert next(r.kind for r in led.list(api_origin=REAL)) == "contract_end"
    led.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3


def test_opening_waits_for_another_writer_to_finish(tmp_path: Path):
    """A second server starting while another holds the file waits for it instead of failing."""
    path = tmp_path / "ledger.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other_program (x)")
    other.execute("BEGIN IMMEDIATE")  # a writer mid-transaction: switching to WAL fails at once, then waits
    release = threading.Timer(0.5, other.execute, ("COMMIT",))
    release.start()
    try:
        led = Ledger(path)
        led.record(approval("apr_wait"), milestone=MILESTONE, api_origin=REAL)
        assert [r.approvalId for r in led.list(api_origin=REAL)] == ["apr_wait"]
        led.close()
    finally:
        release.join()
        other.close()


def test_opening_gives_up_on_a_writer_that_never_lets_go(tmp_path: Path):
    """A start-up behind a writer that holds the file past the 5 s deadline fails, naming the lock, while the
    writer still holds it: it does not wait for the writer (which lets go once the open returned, or after
    60 s at most)."""
    path = tmp_path / "ledger.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other_program (x)")
    other.execute("BEGIN IMMEDIATE")
    opened = threading.Event()
    holder = threading.Thread(target=lambda: (opened.wait(60), other.execute("COMMIT")))
    holder.start()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            Ledger(path)
    finally:
        opened.set()
        holder.join()
        other.close()
    Ledger(path).close()  # the writer is done: the same file opens


def _open_at_once(path: Path, count: int) -> list[BaseException]:
    """Open ``path`` from ``count`` threads released together; what each failed open raised."""
    start = threading.Barrier(count)
    failures: list[BaseException] = []
    opened: list[Ledger] = []

    def open_one() -> None:
        start.wait(timeout=60)
        try:
            opened.append(Ledger(path))
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for led in opened:
        led.close()
    return failures


def test_concurrent_first_opens_of_a_new_path_all_succeed(tmp_path: Path):
    """Servers starting at once on a ledger path whose directories do not exist yet all open it. 4 rounds of
    120 at once, each on a fresh path: a race between creating a directory and finding it there shows only
    on some rounds."""
    for round_ in range(4):
        path = tmp_path.joinpath(f"round{round_}", *"abcdefgh", "ledger.sqlite3")
        failures = _open_at_once(path, 120)
        assert failures == [], f"{len(failures)} of 120 opens failed: {failures[:3]}"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("platform", "local_app_data", "expected"),
    [
        ("win32", "C:/Users/me/AppData/Local", "C:/Users/me/AppData/Local/opentrain-mcp/ledger.sqlite3"),
        ("win32", None, "{home}/AppData/Local/opentrain-mcp/ledger.sqlite3"),
        ("darwin", None, "{home}/Library/Application Support/opentrain-mcp/ledger.sqlite3"),
    ],
)
def test_default_path_on_windows_and_macos(tmp_path, monkeypatch, platform, local_app_data, expected):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("HOME", str(tmp_path))
    if local_app_data:
        monkeypatch.setenv("LOCALAPPDATA", local_app_data)
    else:
        monkeypatch.delenv("LOCALAPPDATA", raising=False)
    assert default_ledger_path() == Path(expected.format(home=tmp_path))


def test_a_ledger_from_a_newer_version_is_refused(tmp_path: Path):
    """A file written by a newer opentrain-mcp is never touched."""
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 4")
    with pytest.raises(RuntimeError, match="newer"):
        Ledger(path)
