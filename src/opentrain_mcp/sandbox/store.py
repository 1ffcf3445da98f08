"""The store every sandbox domain shares: the records, the clock, the random source, persistence and events.

All reads and writes go through one ``threading.RLock`` so a test thread can inspect or reset the state while
uvicorn serves requests from another thread. With ``state_file`` set, the records are written as JSON after
every mutation and loaded on start.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import random
import threading
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import ApiError
from .records import World
from .seed import build_seed, iso

API_PREFIX = "/api/public/v1"
DEFAULT_BASE_URL = "http://127.0.0.1:8787"
STATE_VERSION = 1

Item = TypeVar("Item", bound=Any)


def has_scope(granted: list[str], needed: str) -> bool:
    """True when ``granted`` covers ``needed`` (``:write`` implies ``:read``)."""
    if needed in granted:
        return True
    resource, _, action = needed.partition(":")
    return action == "read" and f"{resource}:write" in granted


def _encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    """A ``limit`` query parameter, or a 400 naming the allowed range."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise ApiError(400, f"limit must be an integer between 1 and {maximum}.", {"field": "limit"})
    return value


def paginate(items: list[Item], cursor: str | None, limit: int) -> tuple[list[Item], str | None]:
    """One page of ``items`` after the opaque ``cursor``, and the cursor of the next page (or ``None``)."""
    start = 0
    if cursor:
        item_id = _decode_cursor(cursor)
        index = next((i for i, item in enumerate(items) if item["id"] == item_id), None)
        if index is None:
            raise ApiError(400, "Invalid cursor.", {"field": "cursor"})
        start = index + 1
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, (_encode_cursor(page[-1]["id"]) if page and more else None)


def newest_first(items: list[Item]) -> list[Item]:
    """``items`` sorted by ``createdAt`` then ``id``, newest first."""
    return sorted(items, key=lambda item: (item["createdAt"], item["id"]), reverse=True)


def _rng_state_to_json(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(raw: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = raw
    return (version, tuple(internal), gauss)


class Store:
    """The shared records, clock and persistence; the domain classes build on it."""

    def __init__(
        self,
        seed: int = 0,
        base_url: str = DEFAULT_BASE_URL,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.seed = seed
        self._base_url = base_url.rstrip("/")
        self.state_file = Path(state_file) if state_file is not None else None
        self._clock_offset = 0.0
        self._rng = random.Random(seed)
        self._data: World
        self._token_index: dict[str, str] = {}
        if self.state_file is not None and self.state_file.exists() and self.state_file.stat().st_size > 0:
            self._load(self.state_file)
        else:
            self._reseed()
            self._save()

    @property
    def base_url(self) -> str:
        """The sandbox's own origin, e.g. ``http://127.0.0.1:8787`` (used for approvalUrl, claimUrl, ...)."""
        with self._lock:
            return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        with self._lock:
            self._base_url = value.rstrip("/")

    @property
    def api_base_url(self) -> str:
        """``base_url`` + ``/api/public/v1``."""
        return self.base_url + API_PREFIX

    # ------------------------------------------------------------------ clock

    def now(self) -> dt.datetime:
        """The sandbox clock: real UTC time plus the offset set by ``advance_clock``."""
        with self._lock:
            offset = self._clock_offset
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)

    def now_iso(self) -> str:
        """The sandbox clock as an API timestamp."""
        return iso(self.now())

    def clock_info(self) -> dict[str, Any]:
        """``{"now", "offsetSeconds"}``."""
        with self._lock:
            return {"now": self.now_iso(), "offsetSeconds": self._clock_offset}

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock forward by ``seconds`` (≥ 0)."""
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 <= seconds <= 10 * 365 * 86400
        ):
            raise ValueError("'advanceSeconds' must be a number between 0 and 315360000")
        with self._lock:
            self._clock_offset += float(seconds)
            self._save()
            return self.clock_info()

    # ------------------------------------------------------------ persistence

    def _reseed(self) -> None:
        self._rng = random.Random(self.seed)
        self._clock_offset = 0.0
        self._data = build_seed(self._rng, self.now())
        self._reindex()

    def _reindex(self) -> None:
        self._token_index = {t["token"]: t["id"] for t in self._data["tokens"].values()}

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported state version {raw.get('version')!r}")
            self.seed = int(raw["seed"])
            self._clock_offset = float(raw["clockOffsetSeconds"])
            self._rng = random.Random()
            self._rng.setstate(_rng_state_from_json(raw["rngState"]))
            self._data = cast(World, raw["data"])
            self._reindex()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot load sandbox state file {path}: {exc}") from exc

    def _save(self) -> None:
        if self.state_file is None:
            return
        snapshot = {
            "version": STATE_VERSION,
            "seed": self.seed,
            "clockOffsetSeconds": self._clock_offset,
            "rngState": _rng_state_to_json(self._rng.getstate()),
            "data": self._data,
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(snapshot, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_file)

    # ----------------------------------------------------------------- events

    def _emit(
        self, account_id: str, event_type: str, resource_id: str, job_id: str | None, data: dict[str, Any]
    ) -> None:
        self._data["eventSeq"] += 1
        self._data["events"].append(
            {
                "seq": self._data["eventSeq"],
                "accountId": account_id,
                "type": event_type,
                "createdAt": self.now_iso(),
                "resourceId": resource_id,
                "jobId": job_id,
                "data": data,
            }
        )
