"""The ``opentrain-mcp`` command: serve MCP (stdio or HTTP), or run one of the subcommands in ``COMMANDS``."""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentrain_mcp import __version__
from opentrain_mcp.api.errors import ConfigurationError
from opentrain_mcp.config import AUTH_TOKEN_VAR, Settings, env_flag

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from opentrain_mcp.server.app import ServerOptions
    from opentrain_mcp.server.http import HttpOptions


class SuggestingParser(argparse.ArgumentParser):
    """argparse that answers a mistyped flag or command with the closest match ("did you mean '--sandbox'?")."""

    commands: tuple[str, ...] = ()
    """Subcommand names a bare word may have meant (only the top-level parser has any)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: "--toolset" must be pointed at "--toolsets", not silently taken for it.
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(self.unrecognized(extras[0]))
        return parsed

    def unrecognized(self, word: str) -> str:
        """Why ``word`` was not understood, with the closest flag or command when one is close."""
        if word.startswith("-") and word != "-":
            flag = word.split("=", 1)[0]
            flags = [o for o in self._option_string_actions if o.startswith("--")]
            return f"unrecognized argument {word!r}{_did_you_mean(flag, flags)}"
        if self.commands:
            return (
                f"unknown command {word!r}{_did_you_mean(word, self.commands)} "
                f"(commands: {', '.join(self.commands)}; options start with --)"
            )
        return f"unrecognized argument {word!r}"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    """The closest choice, compared without leading dashes (every flag shares those), if it is close."""
    names = {choice.lstrip("-"): choice for choice in choices}
    close = difflib.get_close_matches(word.lstrip("-"), list(names), n=1, cutoff=0.7)
    return f"; did you mean {names[close[0]]!r}?" if close else ""


@dataclass(frozen=True)
class Command:
    """``opentrain-mcp NAME ...``: ``target`` ("module:function", imported only when run) gets the rest of the
    command line and the parser class to build its options with, and returns the exit code."""

    summary: str
    target: str

    def run(self, argv: list[str]) -> int:
        module, _, function = self.target.partition(":")
        entry = getattr(importlib.import_module(module), function)
        return int(entry(argv, SuggestingParser))


COMMANDS: dict[str, Command] = {
    "demo": Command(
        "walk the whole hire flow against the sandbox through a real MCP client", "opentrain_mcp.demo:main"
    ),
    "sandbox": Command(
        "run a local simulated OpenTrain API with approval pages", "opentrain_mcp.sandbox.runner:main"
    ),
    "check": Command(
        "preflight: is this set-up ready to hire? (exit 0 ready, 1 not ready, 2 configuration error)",
        "opentrain_mcp.check:main",
    ),
}
"""Every subcommand. The usage line, --help and the close-match suggestions are all built from this table."""

USAGE = f"%(prog)s [options]\n       %(prog)s {{{','.join(COMMANDS)}}} [--help]"
DESCRIPTION = (
    """\
MCP server that lets AI agents request hires on OpenTrain. Nothing is hired and no money moves until a
signed-in human confirms the approval link the tools return.

commands:
  opentrain-mcp [options]          serve MCP (stdio by default; --transport http for Streamable HTTP)
"""
    + "".join(f"  {'opentrain-mcp ' + name + ' [--help]':<33}{c.summary}\n" for name, c in COMMANDS.items())
    + """
environment:
  OT_API_TOKEN                 OpenTrain personal API token (ot_pat_...); also read: OPENTRAIN_API_TOKEN,
                               OPENTRAIN_PERSONAL_API_TOKEN (first one set wins, in that order), then
                               apiToken/baseUrl in ${XDG_CONFIG_HOME:-~/.config}/opentrain/cli.json (mode 0600)
  OPENTRAIN_API_BASE_URL       OpenTrain origin (also OT_API_BASE_URL); default https://app.opentrain.ai
  OPENTRAIN_MCP_AUTH_TOKEN     bearer secret required on /mcp with --transport http
  OPENTRAIN_MCP_SANDBOX=1      same as --sandbox (1/true/yes/on or 0/false/no/off, any case)
  OPENTRAIN_MCP_READ_ONLY=1    same as --read-only (same values; anything else refuses to start)
  OPENTRAIN_MCP_TOOLS          same as --tools
  OPENTRAIN_MCP_TOOLSETS       same as --toolsets
  OPENTRAIN_MCP_LEDGER         same as --ledger
  OPENTRAIN_MCP_LOG_LEVEL      same as --log-level
  OPENTRAIN_MCP_POLICY         same as --policy; each policy key also has a variable, e.g.
                               OPENTRAIN_MCP_MAX_DAILY_USD (flags win over variables, variables over the file)
"""
)


class StartupRefused(Exception):
    """The configuration cannot be served; the message says which setting and why."""


def _parser(parser_class: type[argparse.ArgumentParser] = SuggestingParser, **settings: Any) -> Any:
    """The server's options; ``settings`` replace the parser's prog, usage and description (``check`` reuses the
    options under its own name, so it checks exactly what the server would run with)."""
    p = parser_class(
        **{
            "prog": "opentrain-mcp",
            "usage": USAGE,
            "description": DESCRIPTION,
            "formatter_class": argparse.RawDescriptionHelpFormatter,
            **settings,
        }
    )
    p.add_argument("--version", action="version", version=f"opentrain-mcp {__version__}")
    p.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (default, what desktop clients launch) or http (Streamable HTTP at /mcp)",
    )
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument(
        "--sandbox",
        action="store_true",
        default=env_flag("OPENTRAIN_MCP_SANDBOX"),
        help="use a local simulated OpenTrain started in this process; no token, no real money",
    )
    p.add_argument(
        "--sandbox-port",
        type=int,
        default=0,
        metavar="PORT",
        help="with --sandbox: loopback port for the simulated OpenTrain and its approval pages (default: a free one)",
    )
    p.add_argument("--base-url", help="OpenTrain origin (overrides OPENTRAIN_API_BASE_URL)")
    p.add_argument(
        "--auth-token",
        default=None,
        help=f"HTTP only: require 'Authorization: Bearer <secret>' on /mcp (env {AUTH_TOKEN_VAR}); "
        "prefer the variable, since flags are visible in process lists",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="HOST",
        help="HTTP only: extra Host header value to accept (repeatable), e.g. mcp.example.com",
    )
    p.add_argument(
        "--allowed-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="HTTP only: extra browser Origin to accept (repeatable), e.g. https://app.example.com",
    )
    p.add_argument("--stateless", action="store_true", help="HTTP only: no sessions (for several workers)")
    p.add_argument(
        "--read-only",
        action="store_true",
        default=env_flag("OPENTRAIN_MCP_READ_ONLY"),
        help="register no tool that writes (request_hire and the contract writes disappear); "
        "env OPENTRAIN_MCP_READ_ONLY=1",
    )
    p.add_argument(
        "--tools",
        default=os.environ.get("OPENTRAIN_MCP_TOOLS"),
        metavar="A,B,C",
        help="expose only these tools (comma-separated); env OPENTRAIN_MCP_TOOLS",
    )
    p.add_argument(
        "--toolsets",
        default=os.environ.get("OPENTRAIN_MCP_TOOLSETS"),
        metavar="hiring,contracts",
        help="tool families to expose (default hiring; add contracts for milestones, payouts and contract "
        "end); env OPENTRAIN_MCP_TOOLSETS",
    )
    p.add_argument(
        "--ledger",
        default=os.environ.get("OPENTRAIN_MCP_LEDGER"),
        metavar="PATH",
        help="SQLite file recording hire requests (default: user data dir); 'none' turns it off; "
        "env OPENTRAIN_MCP_LEDGER",
    )
    _policy_arguments(p)
    p.add_argument(
        "--log-level",
        default=os.environ.get("OPENTRAIN_MCP_LOG_LEVEL", "WARNING"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="stderr log level (default WARNING)",
    )
    return p


def _policy_arguments(p: argparse.ArgumentParser) -> None:
    from opentrain_mcp.policy import KEYS, POLICY_VAR, env_var

    group = p.add_argument_group("spend policy (caps no tool can change; see README)")
    group.add_argument(
        "--policy",
        default=os.environ.get(POLICY_VAR),
        metavar="PATH",
        help=f"TOML policy file; env {POLICY_VAR}",
    )
    for key, meaning in KEYS.items():
        metavar = "USD" if key.endswith("_usd") else "ID,ID" if key == "allowed_job_ids" else "N"
        group.add_argument(
            f"--{key.replace('_', '-')}",
            dest=key,
            metavar=metavar,
            help=f"{meaning}; env {env_var(key)}".replace("%", "%%"),
        )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = COMMANDS.get(argv[0]) if argv else None
    if command is not None:
        return command.run(argv[1:])
    try:
        parser = _parser()
        parser.commands = tuple(COMMANDS)
        args = parser.parse_args(argv)
    except ConfigurationError as exc:
        print(f"opentrain-mcp: {exc.message}", file=sys.stderr)
        return 2
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """Run the MCP server until the client disconnects (stdio) or Ctrl-C (HTTP).

    Every setting is checked before anything starts or warns: a refused configuration exits 2 with one message.
    """
    from opentrain_mcp.logs import setup_logging

    settings = Settings.from_env(base_url=args.base_url)
    auth_token = args.auth_token or os.environ.get(AUTH_TOKEN_VAR) or None
    redactor = setup_logging(args.log_level, [settings.token or "", auth_token or ""])
    log = logging.getLogger("opentrain_mcp")

    with ExitStack() as stack:
        scratch = (
            stack.enter_context(tempfile.TemporaryDirectory(prefix="opentrain-sandbox-"))
            if args.sandbox
            else None
        )
        try:
            options = server_options(args, scratch)
        except StartupRefused as exc:
            print(f"opentrain-mcp: refusing to start: {exc}", file=sys.stderr)
            return 2
        try:
            http = _http_options(args, auth_token) if args.transport == "http" else None
        except StartupRefused as exc:
            print(f"opentrain-mcp: {exc}", file=sys.stderr)
            return 2
        options.stateless = http is not None and args.stateless
        if args.sandbox:
            settings = stack.enter_context(_sandbox_settings(args.sandbox_port, redactor.secrets))
        elif settings.problem():
            log.warning("%s", settings.problem())

        from opentrain_mcp.server.app import build_server

        if http is None:
            build_server(settings, options).run("stdio")
            return 0
        return _serve_http(http, build_server(settings, options))
    return 0


@contextmanager
def _sandbox_settings(port: int, secrets: list[str]) -> Iterator[Settings]:
    """Start the in-process sandbox and yield settings pointing at it (its token joins the redacted secrets)."""
    from opentrain_mcp.sandbox.runner import running_sandbox

    with running_sandbox(port=port) as sandbox:
        secrets.append(sandbox.token)
        print(
            f"opentrain-mcp: sandbox mode, simulated OpenTrain at {sandbox.base_url} "
            f"(approval pages: {sandbox.base_url}/)",
            file=sys.stderr,
            flush=True,
        )
        yield Settings(token=sandbox.token, token_var="sandbox", base_url=sandbox.base_url, sandbox=True)


def server_options(args: argparse.Namespace, scratch: str | None) -> ServerOptions:
    """Tool selection, spend policy and ledger location; a sandbox keeps its ledger in ``scratch``, away from
    real records. Raises ``StartupRefused`` naming the bad setting."""
    from opentrain_mcp.server.app import ServerOptions

    if args.ledger and args.ledger.lower() == "none":
        ledger = None
    elif args.ledger:
        ledger = args.ledger
    elif scratch:
        ledger = str(Path(scratch) / "ledger.sqlite3")
    else:
        from opentrain_mcp.ledger import default_ledger_path

        ledger = str(default_ledger_path())
    tools = {t.strip() for t in args.tools.split(",") if t.strip()} if args.tools else None
    toolsets = {t.strip() for t in args.toolsets.split(",") if t.strip()} if args.toolsets else None
    options = ServerOptions(read_only=args.read_only, tools=tools, toolsets=toolsets, ledger_path=ledger)
    try:
        options.wanted()
    except ValueError as exc:
        raise StartupRefused(f"--tools/--toolsets: {exc}") from None
    from opentrain_mcp.policy import KEYS, PolicyError, load_policy

    try:
        options.spend_policy = load_policy(args.policy, {k: getattr(args, k) for k in KEYS}, os.environ)
        options.spend_policy.require_ledger(ledger is not None)
    except PolicyError as exc:
        raise StartupRefused(str(exc)) from None
    return options


def _http_options(args: argparse.Namespace, auth_token: str | None) -> HttpOptions:
    from opentrain_mcp.server.http import HttpOptions

    http = HttpOptions(
        host=args.host,
        port=args.port,
        auth_token=auth_token,
        allowed_hosts=args.allowed_host,
        allowed_origins=args.allowed_origin,
        stateless=args.stateless,
    )
    refusal = http.refusal()
    if refusal:
        raise StartupRefused(refusal)
    return http


def _serve_http(http: HttpOptions, server: MCPServer[Any]) -> int:
    import uvicorn

    from opentrain_mcp.server.http import build_http_app

    app = build_http_app(server, http)
    auth_note = " (bearer auth required)" if http.auth_token else ""
    print(
        f"opentrain-mcp: serving MCP over Streamable HTTP at {http.public_url}{auth_note}",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=http.host, port=http.port, log_level="warning", access_log=False)
    return 0
