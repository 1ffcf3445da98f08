"""Shared helpers: statistics, machine facts, the sandbox and server subprocesses, MCP clients."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent
FLOOR = str(ROOT / "bench" / "floor_server.py")
FETCH_FLOOR = str(ROOT / "bench" / "fetch_server.py")


# --- statistics -------------------------------------------------------------------------------


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def summary(xs: list[float]) -> dict[str, float]:
    """Median, p95 and p99 of ``xs`` (same unit as the input)."""
    return {
        "n": len(xs),
        "median": statistics.median(xs) if xs else float("nan"),
        "p95": pct(xs, 95),
        "p99": pct(xs, 99),
    }


def ratio(value: float, floor: float) -> float:
    return value / floor if floor else float("nan")


# --- machine ----------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """CPU model, cores, Python and SDK versions, and the date."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "mcp": version("mcp"),
        "opentrain-mcp": version("opentrain-mcp"),
        "os": f"{platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB, from /proc/PID/status (VmRSS)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers (any status), or fail if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx2.HTTPError):
            httpx2.get(url, timeout=1.0)
            return
        time.sleep(0.05)
    raise TimeoutError(url)


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None, ready_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (stderr to a temp log), stopped with SIGTERM then SIGKILL on exit."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=ROOT)
    try:
        if ready_url:
            try:
                wait_http(ready_url, proc)
            except Exception:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-3000:])
                raise
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# --- sandbox ----------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """A simulated OpenTrain running as its own process (so it does not share the client's GIL)."""

    base_url: str
    token: str
    fixtures: dict[str, Any] = field(default_factory=dict)
    pid: int = 0

    @property
    def api_base_url(self) -> str:
        return self.base_url + "/api/public/v1"

    def control(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx2.request(method, f"{self.base_url}/__sandbox__/{path}", timeout=10, **kw)
        r.raise_for_status()
        return r.json()

    def requests(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "requests"))

    def clear(self) -> None:
        self.control("DELETE", "requests")

    def hire(self, proposal_id: str, amount: float) -> dict[str, Any]:
        """Create (or repeat) a hire request directly on the API; returns the approval."""
        r = httpx2.post(
            f"{self.api_base_url}/proposals/{proposal_id}/hire",
            json={"milestone": {"name": "Bench milestone", "amount": amount}},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        r.raise_for_status()
        return dict(r.json()["approval"])

    def server_env(self) -> dict[str, str]:
        """Environment for an MCP server child pointed at this sandbox."""
        return {**minimal_env(), "OT_API_TOKEN": self.token, "OPENTRAIN_API_BASE_URL": self.base_url}


def minimal_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "OPENTRAIN_MCP_LEDGER": "none"}


@contextlib.contextmanager
def sandbox(seed: int = 0) -> Iterator[Sandbox]:
    """Start ``python -m opentrain_mcp sandbox`` on a free loopback port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [PY, "-m", "opentrain_mcp", "sandbox", "--port", str(port), "--seed", str(seed)]
    with process(args, env=minimal_env(), ready_url=base + "/__sandbox__/fixtures") as proc:
        fx = httpx2.get(base + "/__sandbox__/fixtures", timeout=10).json()
        yield Sandbox(base_url=base, token=fx["token"], fixtures=fx, pid=proc.pid)


# --- servers and clients ----------------------------------------------------------------------


def ours_args(*extra: str) -> list[str]:
    """Arguments to launch our server with the ledger off."""
    return ["-m", "opentrain_mcp", "--ledger", "none", *extra]


def stdio(args: list[str], env: dict[str, str] | None = None, mode: str = "legacy") -> Client:
    """An MCP client that spawns ``python *args`` over stdio."""
    params = StdioServerParameters(command=PY, args=args, env=env or minimal_env(), cwd=str(ROOT))
    return Client(params, mode=mode)  # type: ignore[arg-type]


@contextlib.contextmanager
def http_server(kind: str, sb: Sandbox | None, *extra: str) -> Iterator[tuple[str, int]]:
    """Start ours (``kind="ours"``), the in-server ``"fetch"`` floor or the echo floor over Streamable HTTP;
    yields (mcp url, pid)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    if kind == "ours":
        args = [PY, *ours_args("--transport", "http", "--port", str(port), *extra)]
        env = sb.server_env() if sb else minimal_env()
    elif kind == "fetch":
        args = [PY, FETCH_FLOOR, "--http", str(port)]
        env = sb.server_env() if sb else minimal_env()
    else:
        args = [PY, FLOOR, "--http", str(port), *extra]
        env = minimal_env()
    with process(args, env=env, ready_url=base + "/healthz") as proc:
        yield base + "/mcp", proc.pid
