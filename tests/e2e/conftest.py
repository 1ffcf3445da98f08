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
# A server starts in about a second; on a machine busy with parallel tests it can take far longer.
STARTUP_SECONDS = 90
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


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the listening socket on loopback ``port`` (Linux /proc; else assumed).

    Another run's server may take the port between ``free_port`` and our server's bind; its /healthz would
    answer for ours.
    """
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return True
    inodes = set()
    for table in tables:
        for row in table.read_text().splitlines()[1:] if table.exists() else ():
            cells = row.split()
            if cells[1].endswith(f":{port:04X}") and cells[3] == "0A":  # local address, state LISTEN
                inodes.add(f"socket:[{cells[9]}]")
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) in inodes:
                return True
        except OSError:
            continue
    return False


@contextmanager
def http_server(*args: str, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """Run ``opentrain-mcp --transport http`` on a free port; yield (base URL, stderr log path) once it serves.

    When another process takes the port first (tests run in parallel), the server is started again on another.
    """
    LOGS.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        port = free_port()
        log_path = LOGS / f"http-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [*SERVER_CMD, "--transport", "http", "--port", str(port), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            if _wait_until_serving(proc, port, log_path):
                yield f"http://127.0.0.1:{port}", log_path
                return
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    raise RuntimeError("no free port for the server in 5 attempts")


def _wait_until_serving(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> bool:
    """True once the server answers /healthz on ``port``; False if the port was taken by another process."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if proc.poll() is not None:
            log = log_path.read_text()
            if "address already in use" in log:
                return False
            raise RuntimeError(f"server exited with {proc.returncode}: {log}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return _listens(proc.pid, port)
        except httpx2.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not become healthy in {STARTUP_SECONDS} s")
        time.sleep(0.05)
