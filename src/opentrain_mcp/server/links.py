"""Which links may be shown to a human: only OpenTrain's own origin, and approval pages by exact path."""

from __future__ import annotations

import functools
import re
import unicodedata
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from opentrain_mcp.api.client import is_loopback_host

_UNSAFE_CHARS = re.compile(r"[\s\x00-\x1f\x7f\\]")
_LINK_LIKE = re.compile(r"(?i)^\s*(?:[a-z][a-z0-9+.-]*:|//|\\\\|www\.)")


class UntrustedLinkError(Exception):
    """An API response carried a link we will not show to a human."""

    def __init__(self, kind: str, trusted_origin: str, why: str) -> None:
        super().__init__(f"{kind} withheld: {why}")
        self.kind = kind
        self.trusted_origin = trusted_origin
        self.why = why


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        if not parts.scheme or not parts.hostname:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # bad port, or a host that changes under NFKC normalisation
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def _hidden_characters(text: str) -> bool:
    """Control, bidi-override or other invisible characters (after percent-decoding)."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in unquote(text))


def vet_link(url: object, *, trusted_origin: str, kind: str, approval_id: str | None = None) -> str:
    """Return ``url`` if a human may safely open it, else raise ``UntrustedLinkError``.

    The link must be on ``trusted_origin`` (https, or http only for a loopback origin such as the
    sandbox), carry no credentials, and for an approval link be exactly ``/approvals/<approval_id>``.
    """
    if not isinstance(url, str) or not url:
        raise UntrustedLinkError(kind, trusted_origin, "the API sent no link")
    problem = _link_problem(url, trusted_origin, approval_id)
    if problem:
        raise UntrustedLinkError(kind, trusted_origin, problem)
    return url


@functools.lru_cache(maxsize=1024)
def _link_problem(url: str, trusted_origin: str, approval_id: str | None) -> str | None:
    """Why ``url`` may not be shown, or None; cached because the same approval links are re-checked often."""
    if not url.isascii() or _UNSAFE_CHARS.search(url):
        return "the link contains non-ASCII, whitespace or control characters"
    expected = _origin(trusted_origin)
    actual = _origin(url)
    if actual is None:
        return "the link is malformed"
    if expected is None or actual != expected:
        return f"it does not point to {trusted_origin}"
    parts = urlsplit(url)
    if (
        _hidden_characters(parts.path)
        or _hidden_characters(parts.query)
        or _hidden_characters(parts.fragment)
    ):
        return "it carries encoded control or bidi characters"
    pairs = parse_qsl(parts.query, keep_blank_values=True)  # "?https://evil" is a name with a blank value
    if any(_LINK_LIKE.match(part) for pair in pairs for part in pair):
        return "its query carries another link"
    if actual[0] != "https" and not is_loopback_host(actual[1]):
        return "it is not https"
    if parts.username or parts.password or "@" in parts.netloc:
        return "it carries credentials"
    if approval_id is not None and (
        parts.path != f"/approvals/{quote(approval_id, safe='')}" or parts.query or parts.fragment
    ):
        return f"it is not the page of approval {approval_id}"
    return None
