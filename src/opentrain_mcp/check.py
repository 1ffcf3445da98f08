"""``opentrain-mcp check``: the hiring-readiness preflight from the shell.

The OpenTrain items (token, scopes, hiring feature, claim, funds) are ``check_hiring_readiness``'s own checks,
run by the same code; this command adds what only the set-up can tell (spend policy, ledger) and judges the
whole list with the same verdict. Exit 0: nothing blocks a hire (items that cannot be verified from here are
named); 1: not ready, a missing token included; 2: a configuration error (a malformed flag, variable or file).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from contextlib import ExitStack, closing
from pathlib import Path
from typing import TYPE_CHECKING

from opentrain_mcp.api.errors import ConfigurationError
from opentrain_mcp.cli import StartupRefused, SuggestingParser, _parser, server_options
from opentrain_mcp.config import Settings

if TYPE_CHECKING:
    from opentrain_mcp.server.app import ServerOptions
    from opentrain_mcp.server.tools.reads import Check

PROG = "opentrain-mcp check"
DESCRIPTION = """\
Is this set-up ready to hire? Runs check_hiring_readiness's checks against OpenTrain (token and where it came
from, scopes, hiring feature, account claim, funds) and checks the spend policy and the ledger, with the same
options and variables the server reads.

exit status: 0 nothing blocks a hire (items that cannot be verified from here are named), 1 not ready (a missing
token included), 2 configuration error (a malformed flag, variable or file)."""
EXIT_READY, EXIT_NOT_READY, EXIT_CONFIG = 0, 1, 2


def _amount(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of US dollars") from None
    if not 0 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError("must be between 0 and 1,000,000 US dollars")
    return value


def main(
    argv: list[str] | None = None, parser_class: type[argparse.ArgumentParser] = SuggestingParser
) -> int:
    try:
        parser = _parser(
            parser_class,
            prog=PROG,
            usage=None,
            description=DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument(
            "--amount",
            type=_amount,
            default=0.0,
            metavar="USD",
            help="planned first milestone, to check funds against its estimated charge (default: skip)",
        )
        args = parser.parse_args(argv)
    except ConfigurationError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    settings = Settings.from_env(base_url=args.base_url)
    if settings.config_error and not args.sandbox:
        print(f"{PROG}: {settings.config_error}", file=sys.stderr)
        return EXIT_CONFIG
    with ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory()) if args.sandbox else None
        try:
            options = server_options(args, scratch)
        except StartupRefused as exc:
            print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if args.sandbox:
            from opentrain_mcp.sandbox.runner import running_sandbox

            sandbox = stack.enter_context(running_sandbox(port=args.sandbox_port))
            settings = Settings(
                token=sandbox.token, token_var="sandbox", base_url=sandbox.base_url, sandbox=True
            )
        import anyio

        from opentrain_mcp.server.tools.reads import readiness_summary, verdict

        checks = anyio.run(_opentrain_checks, settings, args.amount)
        result = verdict([*checks, _policy_check(options, args.policy), _ledger_check(options.ledger_path)])
    where = "the sandbox" if settings.sandbox else "OpenTrain"
    print(f"{PROG}: {where} at {settings.base_url}")
    print(readiness_summary(result))
    return EXIT_NOT_READY if result.verdict == "not_ready" else EXIT_READY


async def _opentrain_checks(settings: Settings, amount: float) -> list[Check]:
    """``check_hiring_readiness``'s checks, through the same client the server would build."""
    from opentrain_mcp.api.client import OpenTrainClient
    from opentrain_mcp.server.state import AppState
    from opentrain_mcp.server.tools.reads import readiness

    client = OpenTrainClient(token=None if settings.problem() else settings.token, base_url=settings.base_url)
    try:
        return (await readiness(AppState(settings=settings, client=client), amount)).checks
    finally:
        await client.aclose()


def _policy_check(options: ServerOptions, path: str | None) -> Check:
    """The policy in force (a bad one never gets here: it is a configuration error)."""
    from opentrain_mcp.policy import usd
    from opentrain_mcp.server.tools.reads import Check

    policy = options.spend_policy
    caps = [f"{key} {usd(value) if key.endswith('_usd') else value}" for key, value in policy.caps().items()]
    jobs = f"; only jobs {', '.join(policy.allowed_job_ids)}" if policy.allowed_job_ids else ""
    source = f"policy file {path}" if path else "no policy file"
    return Check(name="spend_policy", status="ready", detail=f"{source}; caps: {', '.join(caps)}{jobs}.")


def _ledger_check(path: str | None) -> Check:
    """The ledger file: readable if it exists (and not from a newer version), else creatable where it goes."""
    from opentrain_mcp.ledger import SCHEMA_VERSION
    from opentrain_mcp.server.tools.reads import Check

    if path is None:
        return Check(
            name="ledger", status="ready", detail="Off (--ledger none): nothing is recorded on disk."
        )
    file = Path(path).expanduser().absolute()
    if not file.exists():
        parent = next(p for p in file.parents if p.exists())
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Check(name="ledger", status="ready", detail=f"Created at {file} on the first request.")
        return Check(
            name="ledger",
            status="not_ready",
            detail=f"Cannot create {file}: {parent} is not a writable folder.",
        )
    try:
        with closing(sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True)) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        return Check(name="ledger", status="not_ready", detail=f"{file} is not a readable ledger ({exc}).")
    if version > SCHEMA_VERSION:
        return Check(
            name="ledger",
            status="not_ready",
            detail=f"{file} was written by a newer opentrain-mcp (schema {version}); upgrade this one.",
        )
    return Check(name="ledger", status="ready", detail=f"{file} is readable.")
