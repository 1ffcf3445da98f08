"""The command line a newcomer meets (issue 24), run as real subprocesses: `opentrain-mcp check` and its exit
codes, close-match suggestions for mistyped flags and commands, and configuration errors reported before
anything starts or warns."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from opentrain_mcp.cli import COMMANDS
from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import build_server
from tests.conftest import FAST_POLICY
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opentrain_mcp", *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def on(sandbox: Any) -> dict[str, str]:
    """The environment of a server (or check) pointed at the test sandbox with its token."""
    return {"OT_API_TOKEN": sandbox.token, "OPENTRAIN_API_BASE_URL": sandbox.base_url}


async def test_check_gives_the_tools_verdict_and_items_for_the_same_account(sandbox, controls, tmp_path):
    controls.account(features={"public_api_hiring": False})
    settings = Settings(token=sandbox.token, token_var="OT_API_TOKEN", base_url=sandbox.base_url)
    async with Client(build_server(settings, policy=FAST_POLICY), mode="legacy") as c:
        tool = await c.call_tool("check_hiring_readiness", {"amount": 300})
    checked = run("check", "--amount", "300", "--ledger", str(tmp_path / "l.sqlite3"), **on(sandbox))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    said = checked.stdout.splitlines()
    lines = tool.content[0].text.splitlines()
    assert said[1] == lines[0] == "Not ready to hire: fix hiring_feature first."
    assert said[2 : 2 + len(lines) - 1] == lines[1:], "the OpenTrain items are the tool's, word for word"
    assert any(line.startswith("spend_policy: ready.") for line in said)
    assert any(line.startswith("ledger: ready.") for line in said)


def test_check_in_the_sandbox_exits_0_naming_what_it_cannot_verify():
    checked = run("check", "--sandbox")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("opentrain-mcp check: the sandbox at http://127.0.0.1:")
    assert "not verifiable from here: account_claimed, funds" in checked.stdout
    assert "token: ready. Token accepted (from sandbox)." in checked.stdout
    assert checked.stderr == ""


def test_check_without_a_token_is_not_ready_and_says_where_to_get_one():
    checked = run("check", "--ledger", "none")
    assert checked.returncode == 1
    assert "Not ready to hire: fix token first." in checked.stdout and "OT_API_TOKEN" in checked.stdout


def test_check_reads_the_token_file_and_names_it(sandbox, controls, tmp_path):
    config = tmp_path / "config"
    (config / "opentrain").mkdir(parents=True)
    file = config / "opentrain" / "cli.json"
    file.write_text(f'{{"apiToken": "{sandbox.token}", "baseUrl": "{sandbox.base_url}"}}')
    file.chmod(0o600)
    checked = run("check", "--ledger", "none", XDG_CONFIG_HOME=str(config))
    assert checked.returncode == 0, checked.stdout
    assert f"token: ready. Token accepted (from {file})." in checked.stdout
    assert sandbox.token not in checked.stdout + checked.stderr


def test_check_flags_a_ledger_it_cannot_create(sandbox, controls, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    checked = run("check", "--ledger", str(tmp_path / "a-file" / "ledger.sqlite3"), **on(sandbox))
    assert checked.returncode == 1, checked.stdout
    assert "Not ready to hire: fix ledger first." in checked.stdout
    assert "ledger: not_ready. Cannot create" in checked.stdout


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (("--max-pending", "0"), {}, "max_pending (--max-pending)"),
        (("--toolsets", "hiring,contract"), {}, "unknown toolset(s): contract"),
        ((), {"OPENTRAIN_MCP_SANDBOX": "maybe"}, "OPENTRAIN_MCP_SANDBOX='maybe' is not a boolean"),
        ((), {"OPENTRAIN_API_BASE_URL": "ftp://example.com"}, "base URL is misconfigured"),
        (("--amount", "lots"), {}, "'lots' is not a number of US dollars"),
        (("--policy", "/nonexistent/policy.toml"), {}, "cannot read it"),
    ],
    ids=["policy-flag", "toolsets", "variable", "base-url", "amount", "policy-file"],
)
def test_check_exits_2_on_a_configuration_error(args, env, said):
    checked = run("check", *args, **{"OT_API_TOKEN": "ot_pat_never_sent", **env})
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert said in checked.stderr and checked.stdout == ""
    assert "Traceback" not in checked.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--sandbx",), "unrecognized argument '--sandbx'; did you mean '--sandbox'?"),
        (("--toolset", "hiring"), "unrecognized argument '--toolset'; did you mean '--toolsets'?"),
        (("demo2",), "unknown command 'demo2'; did you mean 'demo'?"),
        (("chekc",), "unknown command 'chekc'; did you mean 'check'?"),
        (("sandbox", "--prot", "8787"), "unrecognized argument '--prot'; did you mean '--port'?"),
        (("demo", "--interactiv"), "unrecognized argument '--interactiv'; did you mean '--interactive'?"),
        (("check", "--amout", "5"), "unrecognized argument '--amout'; did you mean '--amount'?"),
    ],
)
def test_mistyped_flags_and_commands_get_the_closest_match(args, said):
    proc = run(*args)
    assert proc.returncode == 2
    assert said in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [("--bogus",), ("sandbox", "--bogus"), ("bogus",)])
def test_nothing_far_off_is_suggested(args):
    proc = run(*args)
    assert proc.returncode == 2 and "did you mean" not in proc.stderr, proc.stderr


def test_only_the_top_level_takes_a_bare_word_for_a_command():
    proc = run("check", "demo")
    assert proc.returncode == 2
    assert proc.stderr.endswith("error: unrecognized argument 'demo'\n"), proc.stderr


def test_the_usage_line_lists_every_command():
    proc = run("--bogus-flag")
    usage = proc.stderr.splitlines()[:2]
    assert usage == [
        "usage: opentrain-mcp [options]",
        f"       opentrain-mcp {{{','.join(COMMANDS)}}} [--help]",
    ]
    assert set(COMMANDS) == {"demo", "sandbox", "check"}
    helped = run("--help").stdout
    for name, command in COMMANDS.items():
        assert f"opentrain-mcp {name} [--help]" in helped and command.summary in helped


def test_a_configuration_error_comes_before_any_warning():
    proc = run("--toolsets", "hirng")  # no token either: the server would warn about that after starting
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        "opentrain-mcp: refusing to start: --tools/--toolsets: unknown toolset(s): hirng"
    )
    assert "No OpenTrain API token" not in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_the_policy_is_checked_before_the_sandbox_starts(tmp_path: Path):
    policy = tmp_path / "policy.toml"
    policy.write_text("max_hire_usd = -5\n")
    proc = run("--sandbox", "--policy", str(policy))
    assert proc.returncode == 2 and "max_hire_usd" in proc.stderr
    assert "sandbox mode" not in proc.stderr, "the sandbox must not start for a configuration that is refused"
