"""What lives for the whole server process: settings, the API client and a cache of settled approvals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from opentrain_mcp.api.client import OpenTrainClient, new_http_client
from opentrain_mcp.api.models import Approval
from opentrain_mcp.api.retry import RetryPolicy
from opentrain_mcp.config import Settings

TERMINAL_STATUSES = frozenset({"confirmed", "declined", "expired"})


@dataclass
class AppState:
    """Shared by every tool call of one server (one per process on stdio, one per app on HTTP)."""

    settings: Settings
    client: OpenTrainClient
    settled: dict[str, Approval] = field(default_factory=dict)

    @property
    def trusted_origin(self) -> str:
        return self.client.base_url

    def remember(self, approval: Approval) -> None:
        """Cache approvals that can no longer change, so re-reading them costs no API call."""
        if approval.status in TERMINAL_STATUSES:
            self.settled[approval.id] = approval


def lifespan_for(settings: Settings, policy: RetryPolicy | None = None) -> Any:
    """The server lifespan: one shared HTTP client for the whole process."""

    @asynccontextmanager
    async def lifespan(_server: object) -> AsyncIterator[AppState]:
        http = new_http_client(policy)
        try:
            client = OpenTrainClient(
                token=None if settings.problem() else settings.token,
                base_url=settings.base_url if not settings.config_error else "https://app.opentrain.ai",
                http=http,
                policy=policy,
            )
            yield AppState(settings=settings, client=client)
        finally:
            await http.aclose()

    return lifespan
