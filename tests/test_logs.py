"""Secrets never survive logging."""

from __future__ import annotations

import io
import logging
import sys

from opentrain_mcp.logs import RedactSecrets, setup_logging


def test_redacts_tokens_bearer_and_registered_secrets():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(["s3cr3t-shared-value"]))
    log = logging.getLogger("redaction-test")
    log.addHandler(handler)
    log.propagate = False
    log.warning("token ot_pat_abc_DEF123 header %s", "Authorization: Bearer ot_pat_x_y")
    log.warning("custom %s and bearer abc.def.ghi", "s3cr3t-shared-value")
    try:
        raise ValueError("boom ot_pat_in_exception")
    except ValueError:
        log.exception("failed")
    out = stream.getvalue()
    for secret in (
        "ot_pat_abc_DEF123",
        "ot_pat_x_y",
        "s3cr3t-shared-value",
        "abc.def.ghi",
        "ot_pat_in_exception",
    ):
        assert secret not in out
    assert out.count("[redacted]") >= 5


def test_setup_logging_replaces_handlers_and_quiets_http_libraries(monkeypatch):
    """Everything goes to stderr once (stdout is the MCP channel); HTTP libraries never log headers."""
    stdout_like = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [logging.StreamHandler(stdout_like)])
    monkeypatch.setattr(root, "level", root.level)
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    redactor = setup_logging("debug", ["shared-secret-1234"])
    redactor.secrets.append("added-later-5678")
    logging.getLogger("opentrain_mcp.test").debug("sent shared-secret-1234 and added-later-5678")
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).info("GET / Authorization: secret")
    assert stdout_like.getvalue() == "", "the handler that was there before is gone"
    out = stderr.getvalue()
    assert "sent [redacted] and [redacted]" in out and "DEBUG opentrain_mcp.test" in out
    assert "Authorization" not in out
    assert root.level == logging.DEBUG and len(root.handlers) == 1
