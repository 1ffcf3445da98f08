"""Logging to stderr only, with secrets redacted from every record."""

from __future__ import annotations

import logging
import re
import sys

_PATTERNS = (
    re.compile(r"\bot_(?:pat|clm|cat)_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(\bbearer\s+)[^\s'\",]+"),
)


class RedactSecrets(logging.Filter):
    """Replaces API tokens, bearer credentials and any registered secret in log messages."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        text = _PATTERNS[0].sub("ot_***[redacted]", text)
        return _PATTERNS[1].sub(r"\1[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.redact(message), None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def setup_logging(level: str = "WARNING", secrets: list[str] | None = None) -> RedactSecrets:
    """Send all logging to stderr through the redaction filter; returns the filter to register more secrets."""
    redactor = RedactSecrets(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return redactor
