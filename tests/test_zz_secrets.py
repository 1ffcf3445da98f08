"""Runs last: nothing the suite's servers printed or the suite recorded contains an API token."""

from __future__ import annotations

import re

from tests.conftest import ARTIFACTS

TOKEN = re.compile(r"ot_pat_[A-Za-z0-9]{4,}")


def test_no_token_in_server_output_or_artifacts(sandbox):
    scanned = 0
    for path in ARTIFACTS.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".txt"):
            text = path.read_text(errors="replace")
            scanned += 1
            assert sandbox.token not in text, path
            assert not TOKEN.search(text), (path, TOKEN.search(text))
    assert scanned > 0, "the e2e tests should have left server logs to scan"
