"""Run the sandbox: in a background thread (``running_sandbox``) or as ``opentrain-mcp sandbox`` (``main``).

Uvicorn never writes to stdout here (``log_config=None``, no access log): the MCP stdio server may run the
sandbox in-process, and its stdout is the JSON-RPC wire. Warnings and errors reach stderr via ``logging``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator

from .state import API_PREFIX, SandboxState

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0
LOOPBACK_NAMES = ("localhost",)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time (survives stream swaps, e.g. pytest's capture)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def _route_logs_to_stderr() -> None:
    """Make sure uvicorn's and the sandbox's own log records can only reach stderr.

    Loggers that already have handlers (configured by the host program) are left alone.
    """
    for name in ("uvicorn", "opentrain_mcp.sandbox"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(_StderrHandler())
            logger.propagate = False
            if logger.level == logging.NOTSET:
                logger.setLevel(logging.WARNING)


@dataclasses.dataclass
class RunningSandbox:
    """A sandbox serving on ``base_url``; ``state`` is live (thread-safe) and may be inspected or reset."""

    base_url: str
    api_base_url: str
    token: str
    state: SandboxState


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP, and without
    # it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if os.name != "nt":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _origin(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def running_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int = 0,
    state_file: str | os.PathLike[str] | None = None,
) -> Iterator[RunningSandbox]:
    """Serve a sandbox from a daemon thread with its own event loop; stop it on exit.

    The socket is bound first, so ``port=0`` picks a free port and ``base_url`` is known before serving.
    """
    import uvicorn

    from .app import create_app

    _route_logs_to_stderr()
    sock = _bind(host, port)
    base_url = _origin(host, sock.getsockname()[1])
    try:
        state = SandboxState(seed=seed, base_url=base_url, state_file=state_file)
        config = uvicorn.Config(
            create_app(state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            log_config=None,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
    except BaseException:
        sock.close()
        raise
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller by the startup wait below
            errors.append(exc)

    thread = threading.Thread(target=serve, name=f"opentrain-sandbox-{base_url}", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if errors or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the sandbox failed to start on {base_url}") from (
                errors[0] if errors else None
            )
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(SHUTDOWN_TIMEOUT)
            sock.close()
            raise RuntimeError(f"the sandbox did not start on {base_url} within {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.01)
    try:
        yield RunningSandbox(
            base_url=base_url, api_base_url=base_url + API_PREFIX, token=state.token, state=state
        )
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()


def _parser(parser_class: type[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="opentrain-mcp sandbox",
        description="Run a local OpenTrain sandbox: the Public API hiring flow, a human approval page and test "
        "controls. No real money moves.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8787, help="port to bind; 0 picks a free one (default 8787)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for the generated ids, names and token (default 0)"
    )
    parser.add_argument(
        "--state", metavar="FILE", help="JSON file that keeps the sandbox state across restarts"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the test controls and approval page have no authentication)",
    )
    return parser


def main(
    argv: list[str] | None = None, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
) -> int:
    """``opentrain-mcp sandbox``: serve until Ctrl-C; print the token and URLs on start. ``parser_class`` lets the
    ``opentrain-mcp`` command bring its own argument parser (close-match suggestions)."""
    args = _parser(parser_class).parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"opentrain-mcp sandbox: error: refusing to listen on non-loopback host {args.host!r}; the sandbox's "
            "test controls and approval page have no authentication. Pass --allow-remote to do it anyway.",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.port <= 65535:
        print(f"opentrain-mcp sandbox: error: invalid port {args.port}", file=sys.stderr)
        return 2
    try:
        with running_sandbox(
            host=args.host, port=args.port, seed=args.seed, state_file=args.state
        ) as sandbox:
            lines = [
                "OpenTrain sandbox running — no real money moves.",
                f"  API base URL:  {sandbox.api_base_url}",
                f"  Token:         {sandbox.token}",
                f"  Approvals:     {sandbox.base_url}/",
                f"  Test controls: {sandbox.base_url}/__sandbox__/fixtures",
            ]
            if args.state:
                lines.append(f"  State file:    {args.state}")
            lines += [
                "Point opentrain-mcp at it with:",
                f"  OPENTRAIN_API_BASE_URL={sandbox.base_url} OT_API_TOKEN={sandbox.token} opentrain-mcp",
                "Press Ctrl-C to stop.",
            ]
            print("\n".join(lines), flush=True)
            stop = threading.Event()
            while not stop.wait(0.5):
                pass
    except KeyboardInterrupt:
        print("Sandbox stopped.", file=sys.stderr)
        return 0
    except OSError as exc:
        print(
            f"opentrain-mcp sandbox: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    except ValueError as exc:
        print(f"opentrain-mcp sandbox: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
