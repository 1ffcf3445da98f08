"""Secrets never survive logging."""

from __future__ import annotations

import io
import logging

from opentrain_mcp.logs import RedactSecrets


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
