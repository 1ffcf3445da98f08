"""Local SQLite record of hire requests, so approval ids survive restarts (the API cannot list them)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE hires (
        approvalId TEXT NOT NULL, proposalId TEXT NOT NULL, jobId TEXT, milestone TEXT NOT NULL,
        status TEXT NOT NULL, approvalUrl TEXT, expiresAt TEXT, contractId TEXT, apiOrigin TEXT NOT NULL,
        createdAt TEXT NOT NULL, updatedAt TEXT NOT NULL, PRIMARY KEY (apiOrigin, approvalId))""",
    "CREATE INDEX hires_newest ON hires (apiOrigin, createdAt)",
)
_REFRESHED = ("status", "approvalUrl", "expiresAt", "contractId")
_KEYS = ("id", "proposalId", "jobId", *_REFRESHED)  # approval keys stored, in column order
_COLUMNS = ("approvalId", "proposalId", "jobId", *_REFRESHED, "milestone")
_ONE = "apiOrigin = ? AND approvalId = ?"


@dataclasses.dataclass(frozen=True)
class HireRecord:
    """One hire request as this server last saw it."""

    approvalId: str
    proposalId: str
    jobId: str | None
    milestone: dict[str, Any]
    status: str
    approvalUrl: str | None
    expiresAt: str | None
    contractId: str | None
    apiOrigin: str
    createdAt: str
    updatedAt: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the same camelCase keys."""
        return dataclasses.asdict(self)


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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _scrub(value: Any) -> Any:
    """Drop every key that mentions a token or authorization, at any depth."""
    if isinstance(value, Mapping):
        secret = ("token", "authorization")
        return {str(k): _scrub(v) for k, v in value.items() if not any(s in str(k).lower() for s in secret)}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _text(approval: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = approval.get(key)
    if (value is not None or required) and (not isinstance(value, str) or not value):
        raise ValueError(f"approval {key} must be a non-empty string, got {value!r}")
    return value


def _origin(api_origin: str) -> str:
    return api_origin.rstrip("/")


def _select(db: sqlite3.Connection, where: str, params: tuple[Any, ...], limit: int = 1) -> list[HireRecord]:
    sql = f"SELECT * FROM hires WHERE {where} ORDER BY createdAt DESC, rowid DESC LIMIT ?"
    rows = db.execute(sql, (*params, limit)).fetchall()
    return [HireRecord(**{**dict(row), "milestone": json.loads(row["milestone"])}) for row in rows]


class Ledger:
    """Hire requests keyed by (apiOrigin, approvalId) in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path).expanduser().absolute()
        for parent in reversed([p for p in self._path.parents if not p.exists()]):
            parent.mkdir(mode=0o700, exist_ok=True)
        os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self._path, 0o600)  # also tightens a file that existed before
        self._lock = threading.Lock()
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
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{self._path}: ledger schema {version} is newer than {SCHEMA_VERSION}")
            if version == 0:
                for statement in _SCHEMA:
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
        self, approval: Mapping[str, Any], *, milestone: Mapping[str, Any], api_origin: str
    ) -> HireRecord:
        """Insert or refresh a hire request; a repeat of the same approval keeps its ``createdAt``."""
        origin, now = _origin(api_origin), _now()
        values = [_text(approval, k, required=k in ("id", "proposalId", "status")) for k in _KEYS]
        values.append(json.dumps(_scrub(milestone), sort_keys=True))
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
        with self._write() as db:
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

    def close(self) -> None:
        """Close the connection; the ledger cannot be used afterwards."""
        with self._lock:
            self._conn.close()
