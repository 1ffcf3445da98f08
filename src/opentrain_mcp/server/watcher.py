"""One background poll of ``GET /updates`` serves every watched approval.

Upstream traffic per interval is one request whatever the number of watched approvals; when the token may
not read ``/updates`` the watcher falls back to reading each pending approval directly. A settlement is
never lost: an approval named by the feed stays due until a refresh of it succeeds, even though the feed's
cursor has moved on. A malformed id or answer is dropped from the watch set with one log line.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import anyio

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.api.errors import (
    MalformedResponseError,
    NotFoundError,
    OpenTrainError,
    PermissionDeniedError,
)
from opentrain_mcp.api.models import Approval, check_id
from opentrain_mcp.api.retry import shared_deadline

log = logging.getLogger("opentrain_mcp.watcher")
MAX_PAGES_PER_POLL = 20

OnChange = Callable[[Approval], Awaitable[None]]


class ApprovalWatcher:
    """Tracks pending approvals and reports each one once it settles."""

    def __init__(self, client: OpenTrainClient, on_change: OnChange, *, interval: float = 2.0) -> None:
        self.client = client
        self.on_change = on_change
        self.interval = interval
        self.pending: dict[str, Approval] = {}
        self.due: set[str] = set()
        self.cursor: str | None = None
        self.use_updates = True
        self.polls = 0
        self._wake = anyio.Event()
        self._changed: dict[str, anyio.Event] = {}

    def watch(self, approval: Approval) -> None:
        """Follow ``approval`` until it leaves ``pending`` (an approval with a malformed id is not followed)."""
        if approval.status != "pending":
            return
        try:
            check_id(approval.id, "approvalId")
        except ValueError:
            log.warning("approval watcher: not watching an approval with a malformed id")
            return
        self.pending[approval.id] = approval
        self._wake.set()

    def changed_event(self, approval_id: str) -> anyio.Event:
        """An event set the next time ``approval_id`` changes."""
        return self._changed.setdefault(approval_id, anyio.Event())

    async def run(self) -> None:
        """Poll forever (cancel the surrounding task group to stop)."""
        while True:
            if not self.pending:
                self._wake = anyio.Event()
                await self._wake.wait()
            try:
                await self.poll_within_budget()
            except OpenTrainError as exc:
                log.warning("approval watcher: %s", exc.message)
            except Exception:
                log.exception("approval watcher failed; retrying")
            await anyio.sleep(self.interval)

    async def poll_within_budget(self) -> None:
        """``poll_once`` with all its API requests sharing one wall-clock budget (``RetryPolicy.budget``)."""
        with shared_deadline(self.client.policy.budget):
            await self.poll_once()

    async def poll_once(self) -> None:
        """One round: the updates feed (or direct reads), plus approvals past their expiry."""
        self.polls += 1
        if self.use_updates:
            try:
                await self._read_updates()
            except PermissionDeniedError:
                log.info("token cannot read /updates; watching approvals by direct reads")
                self.use_updates = False
        if not self.use_updates:
            self.due |= set(self.pending)
        now = dt.datetime.now(dt.timezone.utc)
        self.due |= {i for i, a in self.pending.items() if _past(a.expiresAt, now)}
        self.due &= set(self.pending)
        for approval_id in sorted(self.due):
            await self._refresh(approval_id)

    async def _read_updates(self) -> None:
        """Mark every watched approval the feed mentions as due (the cursor moves only past read pages)."""
        for _ in range(MAX_PAGES_PER_POLL):
            page = await self.client.list_updates(cursor=self.cursor, limit=200)
            events = page.get("events")
            for event in events if isinstance(events, list) else []:
                data = event.get("data") if isinstance(event, dict) else None
                if isinstance(data, dict) and event.get("type") == "approval.confirmed":
                    approval_id = data.get("approvalId")
                    if isinstance(approval_id, str) and approval_id in self.pending:
                        self.due.add(approval_id)
            next_cursor = page.get("nextCursor")
            if isinstance(next_cursor, str):
                self.cursor = next_cursor
            if page.get("hasMore") is not True:
                break

    async def _refresh(self, approval_id: str) -> None:
        """Re-read one due approval. A malformed or vanished one stops being watched (one log line); any
        other failure ends the poll, leaving this and every unread approval due for the next one."""
        try:
            approval = await self.client.get_approval(approval_id)
        except (MalformedResponseError, NotFoundError, ValueError) as exc:
            log.warning("approval watcher: dropped %s: %r", approval_id, getattr(exc, "message", str(exc)))
            self.pending.pop(approval_id, None)
            self.due.discard(approval_id)
            return
        self.due.discard(approval_id)
        if approval.status == "pending":
            self.pending[approval_id] = approval
            return
        self.pending.pop(approval_id, None)
        try:
            await self.on_change(approval)
        finally:
            event = self._changed.pop(approval_id, None)
            if event is not None:
                event.set()


def _past(expires_at: str | None, now: dt.datetime) -> bool:
    if not expires_at:
        return False
    try:
        return dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00")) <= now
    except ValueError:
        return False
