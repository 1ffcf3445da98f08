"""Local SQLite record of co-signed requests (hires, milestone fund/release, contract end), so approval ids
survive restarts (the API cannot list them).

It also keeps the spend book the operator's policy counts against: one row per request that may cost money,
with its kind and fee-inclusive amount, reserved before the request is sent and settled with its approval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3
_V2_COLUMNS = (
    "approvalId, proposalId, jobId, milestone, status, approvalUrl, expiresAt, contractId, apiOrigin, createdAt, "
    "updatedAt"
)
_SCHEMA = {  # the statements that bring a file from the previous version to this one
    1: (
        """CREATE TABLE hires (
        approvalId TEXT NOT NULL, proposalId TEXT NOT NULL, jobId TEXT, milestone TEXT NOT NULL,
        status TEXT NOT NULL, approvalUrl TEXT, expiresAt TEXT, contractId TEXT, apiOrigin TEXT NOT NULL,
        createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL, PRIMARY KEY (apiOrigin, approvalId))""",
        "CREATE INDEX hires_newest ON hires (apiOrigin, createdAt)",
    ),
    2: (
        """CREATE TABLE spend (
        apiOrigin TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, terms TEXT NOT NULL,
        chargeCents INTEGER NOT NULL, approvalId TEXT, status TEXT NOT NULL, expiresAt TEXT,
        createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL)""",
        "CREATE INDEX spend_newest ON spend (apiOrigin, createdAt)",
        "CREATE INDEX spend_open ON spend (apiOrigin, status)",
    ),
    3: (  # every co-signed request, not only hires: kind, targetId, fee-inclusive amountUsd
        "ALTER TABLE hires RENAME TO hires_v2",
        """CREATE TABLE hires (
        approvalId TEXT NOT NULL, proposalId TEXT, jobId TEXT, milestone TEXT,
        status TEXT NOT NULL, approvalUrl TEXT, expiresAt TEXT, contractId TEXT, apiOrigin TEXT NOT NULL,
        createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'proposal_hire',
        targetId TEXT, amountUsd REAL, PRIMARY KEY (apiOrigin, approvalId))""",
        f"INSERT INTO hires ({_V2_COLUMNS}, targetId) SELECT {_V2_COLUMNS}, proposalId FROM hires_v2",
        "DROP TABLE hires_v2",
        "CREATE INDEX hires_newest ON hires (apiOrigin, createdAt)",
    ),
}
RESERVED = "reserved"
"""Spend status while the request's answer is unknown (in flight, or it may have reached OpenTrain)."""
OPEN_STATUSES = (RESERVED, "pending")
RESERVATION_LIFETIME = dt.timedelta(hours=72)
"""An unanswered reservation counts as long as an approval it may have created could stay pending."""
SUPERSEDING_KINDS = frozenset({"proposal_hire"})
MONEY_KINDS = ("proposal_hire", "milestone_fund")
"""Kinds whose confirmation charges money; the others (release, contract end) count toward ``max_pending`` only."""
"""Kinds where a request with new terms replaces the open one on the same subject."""
_REFRESHED = ("status", "approvalUrl", "expiresAt", "contractId")
_KEYS = ("id", "proposalId", "jobId", *_REFRESHED)  # approval keys stored, in column order
_COLUMNS = ("approvalId", "proposalId", "jobId", *_REFRESHED, "milestone", "kind", "targetId", "amountUsd")
_ONE = "apiOrigin = ? AND approvalId = ?"
_KEY = ("id", "proposalId")  # without these a record cannot be found again; every other value is optional
MEMORY = ":memory:"


@dataclasses.dataclass(frozen=True)
class HireRecord:
    """One co-signed request (a hire, or a milestone fund/release or contract end) as this server last saw it.

    ``amountUsd`` is the fee-inclusive estimate of what confirming it charges (hire, funding), the payout
    (release), or ``None`` (contract end; hires recorded before schema 2).
    """

    approvalId: str
    proposalId: str | None
    jobId: str | None
    milestone: dict[str, Any] | None
    status: str
    approvalUrl: str | None
    expiresAt: str | None
    contractId: str | None
    apiOrigin: str
    createdAt: str
    updatedAt: str
    kind: str = "proposal_hire"
    targetId: str | None = None
    amountUsd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the same camelCase keys."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SpendRequest:
    """A request that may cost money: what kind, on what (e.g. the proposal), its terms and charge."""

    kind: str
    subject: str
    terms: Mapping[str, Any]
    charge_cents: int

    @property
    def terms_key(self) -> str:
        return json.dumps(_scrub(self.terms), sort_keys=True, separators=(",", ":"))


@dataclasses.dataclass(frozen=True)
class SpendUsage:
    """What counts against the caps: fee-inclusive cents today / this month (UTC), open requests, last hour."""

    today_cents: int
    month_cents: int
    pending: int
    last_hour: int


@dataclasses.dataclass(frozen=True)
class Reservation:
    """A place in the spend book. ``repeat``: an identical open request already held it (counted once)."""

    row_id: int
    repeat: bool
    usage: SpendUsage
    replaces: tuple[str, ...] = ()


def default_ledger_path() -> Path:
    """The per-user data location of the ledger file on this platform."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "opentrain-mcp" / "ledger.sqlite3"


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> str:
    return _stamp(dt.datetime.now(dt.timezone.utc))


def _parse_stamp(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _scrub(value: Any) -> Any:
    """Drop every key that mentions a token or authorization, at any depth."""
    if isinstance(value, Mapping):
        secret = ("token", "authorization")
        return {str(k): _scrub(v) for k, v in value.items() if not any(s in str(k).lower() for s in secret)}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _text(approval: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    """A stored text value: a non-empty string, else None; only the record's keys are truly required."""
    value = approval.get(key)
    if isinstance(value, str) and value:
        return value
    if required:
        raise ValueError(f"approval {key} must be a non-empty string, got {value!r}")
    return None


def _status(approval: Mapping[str, Any]) -> str:
    return _text(approval, "status") or "unknown"


def _origin(api_origin: str) -> str:
    return api_origin.rstrip("/")


def _select(db: sqlite3.Connection, where: str, params: tuple[Any, ...], limit: int = 1) -> list[HireRecord]:
    sql = f"SELECT * FROM hires WHERE {where} ORDER BY createdAt DESC, rowid DESC LIMIT ?"
    rows = db.execute(sql, (*params, limit)).fetchall()
    return [
        HireRecord(**{**dict(row), "milestone": json.loads(row["milestone"]) if row["milestone"] else None})
        for row in rows
    ]


class Ledger:
    """Hire requests keyed by (apiOrigin, approvalId) in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        """Open (creating if needed) the ledger file at ``path``; ``":memory:"`` keeps it in this process only."""
        self._lock = threading.Lock()
        if str(path) == MEMORY:
            self._path = Path(MEMORY)
            self._conn = sqlite3.connect(MEMORY, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._migrate()
            return
        self._path = Path(path).expanduser().absolute()
        for parent in reversed([p for p in self._path.parents if not p.exists()]):
            parent.mkdir(mode=0o700, exist_ok=True)
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self._path, 0o600)  # also tightens a file that existed before
        self._conn = sqlite3.connect(self._path, timeout=5.0, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 5000")
        deadline = time.monotonic() + 5
        while True:  # SQLite reports a concurrent switch to WAL as "locked" at once, without busy_timeout
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        # WAL + NORMAL: commits survive a crash of this process; only an OS crash or power loss can drop the
        # newest commits (the file stays consistent). A full fsync per commit would cost milliseconds per hire.
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self._path}: ledger schema {version} is newer than {SCHEMA_VERSION}")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _SCHEMA[step]:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def path(self) -> Path:
        return self._path

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def record(
        self,
        approval: Mapping[str, Any],
        *,
        milestone: Mapping[str, Any] | None = None,
        api_origin: str,
        target_id: str | None = None,
        amount_usd: float | None = None,
    ) -> HireRecord:
        """Insert or refresh a co-signed request; a repeat of the same approval keeps its ``createdAt``.

        ``kind`` is the approval's ``type``; ``target_id`` the proposal, milestone or contract it acts on
        (default: the proposal).
        """
        origin, now = _origin(api_origin), _now()
        kind = _text(approval, "type") or "proposal_hire"
        required = ("id",) if kind != "proposal_hire" else _KEY
        values: list[Any] = [
            _status(approval) if k == "status" else _text(approval, k, required=k in required) for k in _KEYS
        ]
        values.append(
            None if milestone is None else json.dumps(_scrub(milestone), sort_keys=True, ensure_ascii=False)
        )
        values += [kind, target_id or values[1], amount_usd]
        keep = ", ".join(f"{c} = COALESCE(excluded.{c}, {c})" for c in _COLUMNS[1:])
        with self._write() as db:
            db.execute(
                f"INSERT INTO hires ({', '.join(_COLUMNS)}, apiOrigin, createdAt, updatedAt) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) + 3))}) "
                f"ON CONFLICT (apiOrigin, approvalId) DO UPDATE SET {keep}, updatedAt = excluded.updatedAt",
                (*values, origin, now, now),
            )
            return _select(db, _ONE, (origin, values[0]))[0]

    def update(self, approval: Mapping[str, Any], *, api_origin: str) -> HireRecord | None:
        """Refresh status/contractId/expiresAt/approvalUrl of a known approval; None if it is unknown."""
        key = (_origin(api_origin), _text(approval, "id", required=True))
        status, expires = _text(approval, "status"), _text(approval, "expiresAt")
        with self._write() as db:
            if status:
                db.execute(
                    f"UPDATE spend SET status = ?, expiresAt = COALESCE(?, expiresAt), updatedAt = ? "
                    f"WHERE {_ONE} AND status != ?",
                    (status, expires, _now(), *key, status),
                )
            found = _select(db, _ONE, key)
            if not found:
                return None
            old = found[0].to_dict()
            new = {name: _text(approval, name) or old[name] for name in _REFRESHED}
            if all(new[name] == old[name] for name in _REFRESHED):
                return found[0]
            assignments = ", ".join(f"{name} = ?" for name in _REFRESHED)
            db.execute(
                f"UPDATE hires SET {assignments}, updatedAt = ? WHERE {_ONE}", (*new.values(), _now(), *key)
            )
            return _select(db, _ONE, key)[0]

    def list(self, *, api_origin: str, status: str | None = None, limit: int = 50) -> list[HireRecord]:
        """This origin's hire requests, newest first, optionally only those with ``status``."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        params = (_origin(api_origin), status, status)
        with self._lock:
            return _select(self._conn, "apiOrigin = ? AND (? IS NULL OR status = ?)", params, limit)

    def get(self, approval_id: str, *, api_origin: str) -> HireRecord | None:
        """The record of one approval on this origin, or None."""
        with self._lock:
            found = _select(self._conn, _ONE, (_origin(api_origin), approval_id))
        return found[0] if found else None

    # --- the spend book ----------------------------------------------------------------------

    def spend_usage(self, *, api_origin: str, now: dt.datetime | None = None) -> SpendUsage:
        """What counts against the caps at ``now`` (default: the current time)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        with self._lock:
            book = _read_book(self._conn, _origin(api_origin), now)
        return _usage(book, _live(book))

    def assess_spend(
        self, request: SpendRequest, *, api_origin: str, now: dt.datetime | None = None
    ) -> Reservation:
        """What reserving ``request`` would do, without writing anything (``row_id`` 0 unless a repeat)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        with self._lock:
            return _assess(_read_book(self._conn, _origin(api_origin), now), request)

    def reserve_spend(
        self,
        request: SpendRequest,
        check: Callable[[SpendUsage], None],
        *,
        api_origin: str,
        now: dt.datetime | None = None,
    ) -> Reservation:
        """Check and reserve in one write transaction, so no other process on this file takes the same room.

        ``check`` gets the usage including this request and raises to refuse (nothing is written then). An
        identical open request is a repeat: neither checked nor counted again.
        """
        now = now or dt.datetime.now(dt.timezone.utc)
        origin = _origin(api_origin)
        with self._write() as db:
            assessed = _assess(_read_book(db, origin, now), request)
            if assessed.repeat:
                return assessed
            check(assessed.usage)
            stamp = _stamp(now)
            cursor = db.execute(
                "INSERT INTO spend (apiOrigin, kind, subject, terms, chargeCents, status, expiresAt, createdAt, "
                "updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    origin,
                    request.kind,
                    request.subject,
                    request.terms_key,
                    request.charge_cents,
                    RESERVED,
                    _stamp(now + RESERVATION_LIFETIME),
                    stamp,
                    stamp,
                ),
            )
            return dataclasses.replace(assessed, row_id=int(cursor.lastrowid or 0))

    def settle_spend(self, reservation: Reservation, approval: Mapping[str, Any]) -> None:
        """Tie a reservation to the approval its request got; a repeat answered by a new approval gets a row."""
        approval_id = _text(approval, "id", required=True)
        values = (approval_id, _text(approval, "status", required=True), _text(approval, "expiresAt"), _now())
        with self._write() as db:
            row = db.execute(
                "SELECT approvalId, status, expiresAt FROM spend WHERE rowid = ?", (reservation.row_id,)
            ).fetchone()
            if row is not None and tuple(row) == (approval_id, values[1], values[2] or row["expiresAt"]):
                return  # an identical retry answered with the same approval: nothing changed
            if row is not None and row["approvalId"] not in (None, approval_id):
                db.execute(
                    "INSERT INTO spend (approvalId, status, expiresAt, updatedAt, apiOrigin, kind, subject, terms, "
                    "chargeCents, createdAt) SELECT ?, ?, ?, ?, apiOrigin, kind, subject, terms, chargeCents, ? "
                    "FROM spend WHERE rowid = ?",
                    (*values, values[-1], reservation.row_id),
                )
            else:
                db.execute(
                    "UPDATE spend SET approvalId = ?, status = ?, expiresAt = COALESCE(?, expiresAt), "
                    "updatedAt = ? WHERE rowid = ?",
                    (*values, reservation.row_id),
                )

    def release_spend(self, reservation: Reservation) -> None:
        """Give back a reservation whose request certainly created nothing; a repeat keeps the original."""
        if reservation.repeat:
            return
        with self._write() as db:
            db.execute("DELETE FROM spend WHERE rowid = ? AND approvalId IS NULL", (reservation.row_id,))

    def pending_spend(self, *, api_origin: str, limit: int) -> tuple[str, ...]:
        """Approval ids of spend rows still pending here, newest first (to refresh before counting)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT approvalId FROM spend WHERE apiOrigin = ? AND status = 'pending' AND approvalId IS NOT NULL "
                "ORDER BY createdAt DESC, rowid DESC LIMIT ?",
                (_origin(api_origin), limit),
            ).fetchall()
        return tuple(row["approvalId"] for row in rows)

    def close(self) -> None:
        """Close the connection; the ledger cannot be used afterwards."""
        with self._lock:
            self._conn.close()


@dataclasses.dataclass(frozen=True)
class _Book:
    """The spend book at one moment: settled sums (added up by SQLite) and the few open rows."""

    day_start: str
    month_start: str
    confirmed_today: int
    confirmed_month: int
    last_hour: int
    open_rows: list[sqlite3.Row]
    now: dt.datetime


def _read_book(db: sqlite3.Connection, origin: str, now: dt.datetime) -> _Book:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day_start, month_start = _stamp(day), _stamp(day.replace(day=1))
    hour_ago = now - dt.timedelta(hours=1)
    today, month, last_hour = db.execute(
        "SELECT COALESCE(SUM(CASE WHEN status = 'confirmed' AND createdAt >= ? THEN chargeCents END), 0), "
        "COALESCE(SUM(CASE WHEN status = 'confirmed' THEN chargeCents END), 0), "
        "COUNT(CASE WHEN createdAt > ? AND kind IN (?, ?) THEN 1 END) "
        "FROM spend WHERE apiOrigin = ? AND createdAt >= ?",
        (day_start, _stamp(hour_ago), *MONEY_KINDS, origin, min(month_start, _stamp(hour_ago))),
    ).fetchone()
    if month_start > _stamp(hour_ago):  # the last hour reaches into last month: drop what is older
        month = db.execute(
            "SELECT COALESCE(SUM(chargeCents), 0) FROM spend WHERE apiOrigin = ? AND status = 'confirmed' "
            "AND createdAt >= ?",
            (origin, month_start),
        ).fetchone()[0]
    open_rows = db.execute(
        "SELECT rowid AS id, kind, subject, terms, chargeCents, approvalId, expiresAt, createdAt FROM spend "
        "WHERE apiOrigin = ? AND status IN (?, ?) ORDER BY createdAt, rowid",
        (origin, *OPEN_STATUSES),
    ).fetchall()
    return _Book(day_start, month_start, today, month, last_hour, open_rows, now)


def _live(book: _Book) -> dict[int, sqlite3.Row]:
    """Open rows that still count: not past their expiry, and only the newest per superseding subject."""
    live: dict[Any, sqlite3.Row] = {}
    for row in book.open_rows:  # oldest first, so a newer request on the same subject replaces an older one
        expires = _parse_stamp(row["expiresAt"])
        if expires is not None and expires <= book.now:
            continue
        key = (row["kind"], row["subject"]) if row["kind"] in SUPERSEDING_KINDS else row["id"]
        live[key] = row
    return {row["id"]: row for row in live.values()}


def _usage(book: _Book, live: Mapping[int, sqlite3.Row]) -> SpendUsage:
    rows = live.values()
    return SpendUsage(
        today_cents=book.confirmed_today
        + sum(r["chargeCents"] for r in rows if r["createdAt"] >= book.day_start),
        month_cents=book.confirmed_month
        + sum(r["chargeCents"] for r in rows if r["createdAt"] >= book.month_start),
        pending=len(live),
        last_hour=book.last_hour,
    )


def _assess(book: _Book, request: SpendRequest) -> Reservation:
    live = _live(book)
    terms = request.terms_key
    for row in live.values():
        if (row["kind"], row["subject"], row["terms"]) == (request.kind, request.subject, terms):
            return Reservation(row_id=row["id"], repeat=True, usage=_usage(book, live))
    replaced = {
        row_id: row
        for row_id, row in live.items()
        if request.kind in SUPERSEDING_KINDS
        and (row["kind"], row["subject"]) == (request.kind, request.subject)
    }
    usage = _usage(book, {k: v for k, v in live.items() if k not in replaced})
    after = SpendUsage(
        today_cents=usage.today_cents + request.charge_cents,
        month_cents=usage.month_cents + request.charge_cents,
        pending=usage.pending + 1,
        last_hour=usage.last_hour + 1,
    )
    return Reservation(
        row_id=0,
        repeat=False,
        usage=after,
        replaces=tuple(r["approvalId"] for r in replaced.values() if r["approvalId"]),
    )
