"""Helpers for end-to-end tests that run the server as a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

SERVER_CMD = [sys.executable, "-m", "opentrain_mcp"]
LOGS = Path(__file__).resolve().parents[2] / "test-artifacts" / "server-logs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """What a stdio MCP host passes: a handful of variables plus what the user configured."""
    passed = ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "PATH", "LANG", "SYSTEMROOT")
    keep = {k: os.environ[k] for k in passed if k in os.environ}
    return {**keep, **extra}


@contextmanager
def http_server(*args: str, env: dict[str, str], port: int | None = None) -> Iterator[tuple[str, Path]]:
    """Run ``opentrain-mcp --transport http`` and yield (base URL, stderr log path) once /healthz answers."""
    port = port or free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"http-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*SERVER_CMD, "--transport", "http", "--port", str(port), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log_path.read_text()}")
            try:
                if httpx2.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become healthy in 30 s")
            time.sleep(0.1)
        yield base, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
