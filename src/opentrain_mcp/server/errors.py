"""Turn anything a tool body raises into a ``ToolError`` whose text the model can act on."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver.exceptions import ToolError

from opentrain_mcp.api.errors import NotFoundError, OpenTrainError
from opentrain_mcp.server import text
from opentrain_mcp.server.links import UntrustedLinkError, vet_link
from opentrain_mcp.server.state import AppState

log = logging.getLogger("opentrain_mcp.server")


def require_configured(state: AppState) -> None:
    """Raise a ``ToolError`` naming the fix when the server cannot call the API at all."""
    problem = state.settings.problem()
    if problem:
        raise ToolError(problem)


def _vetted_error_links(exc: OpenTrainError, state: AppState) -> tuple[dict[str, str | None], list[str]]:
    links: dict[str, str | None] = {}
    warnings: list[str] = []
    for key in ("claimUrl", "billingUrl"):
        raw = exc.details.get(key)
        if raw is None:
            continue
        try:
            links[key] = vet_link(raw, trusted_origin=state.trusted_origin, kind=key)
        except UntrustedLinkError as bad:
            links[key] = None
            warnings.append(text.untrusted_link(key, bad.why, state.trusted_origin, None))
    return links, warnings


@asynccontextmanager
async def tool_errors(tool: str, state: AppState, *, writes: bool) -> AsyncIterator[None]:
    """Translate exceptions from a tool body; unexpected ones are logged with a traceback."""
    try:
        yield
    except ToolError:
        raise
    except UntrustedLinkError as exc:
        log.error("%s: withheld %s from the API: %s", tool, exc.kind, exc.why)
        raise ToolError(text.untrusted_link(exc.kind, exc.why, exc.trusted_origin, None)) from None
    except OpenTrainError as exc:
        links, warnings = _vetted_error_links(exc, state)
        if isinstance(exc, NotFoundError) and state.sandbox:
            warnings.append(text.sandbox_not_found(in_process=state.settings.sandbox))
        log.info("%s failed: %r", tool, exc)
        explained = text.explain_error(exc, writes=writes, links=links, tool=tool)
        raise ToolError("\n".join([explained, *warnings])) from None
    except Exception:
        ref = secrets.token_hex(4)
        log.exception("%s: unexpected error (reference %s)", tool, ref)
        raise ToolError(text.internal_error(ref, writes=writes, tool=tool)) from None
