"""What lives for the whole server process: settings, the API client, the watcher, the ledger, caches."""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from opentrain_mcp.api.client import OpenTrainClient
from opentrain_mcp.api.errors import MalformedResponseError
from opentrain_mcp.api.models import Approval
from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings
from opentrain_mcp.policy import SpendPolicy
from opentrain_mcp.server.links import UntrustedLinkError
from opentrain_mcp.server.untrusted import is_id, shape_approval
from opentrain_mcp.server.watcher import ApprovalWatcher

if TYPE_CHECKING:
    from mcp.server.subscriptions import SubscriptionBus

    from opentrain_mcp.ledger import Ledger

log = logging.getLogger("opentrain_mcp.server")
TERMINAL_STATUSES = frozenset({"confirmed", "declined", "expired"})
APPROVAL_URI = "opentrain://approvals/{approvalId}"
MAX_SUBSCRIPTIONS_PER_SESSION = 100


def approval_uri(approval_id: str) -> str:
    return APPROVAL_URI.format(approvalId=approval_id)


class LegacySubscriptions:
    """Handshake-era ``resources/subscribe`` registrations: per client connection, capped, gone with it.

    Connections are held weakly, so a session that ends takes its subscriptions with it without anyone
    having to unsubscribe. A connection is anything with ``send_resource_updated(uri)``.
    """

    def __init__(self, cap: int = MAX_SUBSCRIPTIONS_PER_SESSION) -> None:
        self.cap = cap
        self._by_session: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def add(self, session: Any, uri: str) -> bool:
        """Subscribe ``session`` to ``uri``; False when the session already holds ``cap`` other URIs."""
        uris = self._by_session.setdefault(session, set())
        if uri not in uris and len(uris) >= self.cap:
            return False
        uris.add(uri)
        return True

    def remove(self, session: Any, uri: str) -> None:
        uris = self._by_session.get(session)
        if uris is not None:
            uris.discard(uri)
            if not uris:
                del self._by_session[session]

    def drop(self, session: Any) -> None:
        self._by_session.pop(session, None)

    def sessions_for(self, uri: str) -> list[Any]:
        return [session for session, uris in list(self._by_session.items()) if uri in uris]

    def __len__(self) -> int:
        """How many (session, URI) subscriptions are held."""
        return sum(len(uris) for uris in list(self._by_session.values()))


@dataclass
class AppState:
    """Shared by every tool call of one server (one per process on stdio, one per app on HTTP)."""

    settings: Settings
    client: OpenTrainClient
    watcher: ApprovalWatcher | None = None
    ledger_path: str | None = None
    _ledger: Ledger | None = field(default=None, repr=False)
    spend_policy: SpendPolicy = field(default_factory=SpendPolicy)
    _memory_book: Ledger | None = field(default=None, repr=False)
    bus: SubscriptionBus | None = None
    settled: dict[str, Approval] = field(default_factory=dict)
    legacy_subscriptions: LegacySubscriptions = field(default_factory=LegacySubscriptions)
    open_elicitations: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger | None:
        """The hire-request ledger, opened on first use (keeps SQLite off the start-up path); None if off."""
        if self._ledger is None and self.ledger_path:
            from opentrain_mcp.ledger import Ledger

            self._ledger = Ledger(self.ledger_path)
        return self._ledger

    @property
    def spend_book(self) -> Ledger:
        """Where the spend policy counts: the ledger, or with the ledger off a book kept in this process."""
        ledger = self.ledger
        if ledger is not None:
            return ledger
        if self._memory_book is None:
            from opentrain_mcp.ledger import MEMORY, Ledger

            self._memory_book = Ledger(MEMORY)
        return self._memory_book

    @property
    def sandbox(self) -> bool:
        """Results come from a sandbox: ``--sandbox``, or a loopback API that says it is the sandbox."""
        return self.settings.sandbox or self.client.sandbox_seen

    @property
    def trusted_origin(self) -> str:
        return self.client.base_url

    def remember(self, approval: Approval) -> None:
        """Cache approvals that can no longer change, so re-reading them costs no API call."""
        if approval.status in TERMINAL_STATUSES:
            self.settled[approval.id] = approval

    async def approval_changed(self, approval: Approval) -> None:
        """Fan a settled approval out: cache, ledger, resource subscribers (both eras), open elicitations.

        Only a well-shaped approval with a vetted link is cached or written to the ledger; subscribers are
        told either way (their read reports what is wrong with it).
        """
        try:
            view = shape_approval(approval, trusted_origin=self.trusted_origin)
        except (MalformedResponseError, UntrustedLinkError) as exc:
            log.warning(
                "approval %s from the watcher not recorded: %s",
                approval.id if is_id(approval.id) else "?",
                exc,
            )
        else:
            self.remember(approval)
            ledger = self.ledger or self._memory_book
            if ledger is not None:
                ledger.update(view.model_dump(), api_origin=self.trusted_origin)
        uri = approval_uri(approval.id)
        if self.bus is not None:
            from mcp.server.subscriptions import ResourceUpdated

            await self.bus.publish(ResourceUpdated(uri=uri))
        for session in self.legacy_subscriptions.sessions_for(uri):
            if not await _delivered(session.send_resource_updated(uri)):
                self.legacy_subscriptions.drop(session)
        for session, elicitation_id in self.open_elicitations.pop(approval.id, []):
            await _delivered(session.send_elicit_complete(elicitation_id))


async def _delivered(send: Any) -> bool:
    """Await a notification; a closed session must not stop the fan-out (it is dropped instead)."""
    try:
        await send
    except Exception as exc:
        log.debug("notification not delivered: %r", exc)
        return False
    return True


def lifespan_for(
    settings: Settings,
    policy: RetryPolicy | None = None,
    *,
    bus: SubscriptionBus | None = None,
    ledger_path: str | None = None,
    watch_interval: float = 2.0,
    spend_policy: SpendPolicy | None = None,
) -> Any:
    """The server lifespan: the API client (one shared HTTP client), the approval watcher and the ledger."""

    @asynccontextmanager
    async def lifespan(_server: object) -> AsyncIterator[AppState]:
        client = OpenTrainClient(  # owns one HTTP client for the whole process, created on first call
            token=None if settings.problem() else settings.token,
            base_url=settings.base_url if not settings.config_error else "https://app.opentrain.ai",
            policy=policy,
        )
        state = AppState(
            settings=settings,
            client=client,
            bus=bus,
            ledger_path=ledger_path,
            spend_policy=spend_policy or SpendPolicy(),
        )
        state.watcher = ApprovalWatcher(client, state.approval_changed, interval=watch_interval)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(state.watcher.run)
                yield state
                tg.cancel_scope.cancel()
        finally:
            for book in (state._ledger, state._memory_book):
                if book is not None:
                    book.close()
            await client.aclose()

    return lifespan
