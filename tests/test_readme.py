"""The README and docs/reference.md work as written: every fenced command and tool call is exercised against the
sandbox, and the documents keep their promised shape (order, length, every flag and variable, live links).

Each fenced block is one case. A command block must be claimed by exactly one handler below, and every command
in it must match one of the handler's patterns, so a new command cannot slip in untested. A handler runs the
command as written where it can, with only these stand-ins: the test sandbox for OpenTrain (its token for
``ot_pat_...``, its address added as ``OPENTRAIN_API_BASE_URL``), this venv for ``.venv/bin`` and
``/ABS/PATH/.venv/bin``, free ports for fixed ones, the installed Inspector 2.12.0 for ``npx``, and real ids for
``<from ...>`` and ``PROPOSAL_ID``. What cannot run here is said at its handler: ``claude`` is not installed (its
server command is started instead), the set-up and release commands run in ``.ci/run``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from opentrain_mcp.cli import COMMANDS
from opentrain_mcp.policy import KEYS, env_var, hire_charge
from opentrain_mcp.server.app import TOOLSETS, build_server
from tests.conftest import FAST_POLICY, ROOT, need, node_bin
from tests.e2e.conftest import clean_env, free_port

pytestmark = pytest.mark.anyio
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"
DOCS = (README, REFERENCE)
BIN = Path(sys.executable).parent
SERVER = str(BIN / "opentrain-mcp")
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/opentrain-mcp demo"
INSPECTOR = "npx @modelcontextprotocol/inspector@2.12.0"
INSPECTOR_PACKAGE = "@modelcontextprotocol/inspector"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    text: str

    @property
    def commands(self) -> list[str]:
        """Shell commands, one per logical line (backslash continuations joined), comments dropped."""
        joined = re.sub(r"\s*\\\n\s*", " ", self.text)
        return [c.strip() for c in joined.splitlines() if c.strip() and not c.strip().startswith("#")]

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced(path: Path) -> list[Block]:
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("```") and lines[i] != "```":
            start, lang = i, lines[i][3:].strip()
            i += 1
            body = []
            while lines[i] != "```":
                body.append(lines[i])
                i += 1
            blocks.append(Block(path, start + 1, lang, "\n".join(body)))
        i += 1
    return blocks


ALL_BLOCKS = [b for path in DOCS for b in fenced(path)]


def readme_command(pattern: str) -> str:
    """The one README command matching ``pattern`` (the release checks run these literally)."""
    found = [c for b in fenced(README) if b.lang == "bash" for c in b.commands if re.search(pattern, c)]
    assert len(found) == 1, (pattern, found)
    return found[0]


# ---------------------------------------------------------------- stand-ins for the test machine


def localize(command: str, sandbox: Any = None, *, http_port: int = 0, sandbox_port: int = 0) -> str:
    """The command with this machine's stand-ins (see the module docstring)."""
    command = re.sub(r"(/ABS/PATH/)?\.venv/bin/", f"{BIN}/", command)
    if sandbox is not None:
        url, token = f"OPENTRAIN_API_BASE_URL={sandbox.base_url}", f"OT_API_TOKEN={sandbox.token}"
        command = command.replace("-e OT_API_TOKEN=ot_pat_...", f"-e {token} -e {url}")
        command = re.sub(r"(^|\s)OT_API_TOKEN=ot_pat_\.\.\.", rf"\1{url} {token}", command)
    if http_port:
        command = command.replace("--port 8000", f"--port {http_port}").replace(":8000/", f":{http_port}/")
    if sandbox_port:
        command = command.replace("--port 8787", f"--port {sandbox_port}")
    inspector = node_bin("inspector")
    if inspector:
        command = command.replace(INSPECTOR, shlex.quote(inspector))
    assert "ot_pat_..." not in command, f"no stand-in for the token in: {command}"
    return command


def bash(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], env=clean_env(**env), capture_output=True, text=True, timeout=120, cwd=ROOT
    )


async def list_over_stdio(
    command: str, args: list[str], env: dict[str, str]
) -> tuple[set[str], dict[str, Any]]:
    server = StdioServerParameters(command=command, args=args, env=clean_env(**env))
    async with Client(server, mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        ready = (await c.call_tool("check_hiring_readiness", {})).structured_content or {}
    return names, ready


@contextmanager
def http_server(script: str, port: int) -> Iterator[str]:
    """Run the reference's HTTP lines (a generated secret, then the server) in one bash; yield the secret once
    /healthz answers. The secret is read back the way a user would: echoed from that same shell."""
    first, *rest = script.splitlines()
    proc = subprocess.Popen(
        ["bash", "-c", "\n".join([first, 'echo "$OPENTRAIN_MCP_AUTH_TOKEN"', *rest])],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        assert proc.stdout
        secret = proc.stdout.readline().strip()
        assert len(secret) >= 32, "the generated secret"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "the HTTP server exited"
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "the HTTP server did not answer /healthz in 30 s"
            time.sleep(0.1)
        yield secret
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


# ---------------------------------------------------------------- handlers, one per kind of block


@dataclass(frozen=True)
class Handler:
    """Claims the blocks whose first command matches ``claims``; ``commands`` are the patterns every command of
    the block must match; ``run`` exercises the block."""

    claims: str
    commands: tuple[str, ...]
    run: Callable[..., Any]


async def setup_demo(block: Block, **_: Any) -> None:
    """Runs in .ci/run: tests/release/release_checks.py runs it literally in a fresh copy of the repository."""
    assert block.commands == [DEMO_COMMAND]
    checks = (ROOT / "tests" / "release" / "release_checks.py").read_text()
    assert "def test_the_readmes_demo_command_runs_in_a_fresh_copy" in checks
    assert "tests/release/release_checks.py" in (ROOT / ".ci" / "run").read_text()


async def setup_tests(block: Block, **_: Any) -> None:
    """The test command: .ci/run runs exactly this line."""
    assert block.commands == [TEST_COMMAND]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any(line.startswith(TEST_COMMAND + " ") or line == TEST_COMMAND for line in ci)


async def release_wheel(block: Block, **_: Any) -> None:
    """Installing the built wheel: release_checks.py runs this command literally after scripts/release.sh."""
    from opentrain_mcp import __version__

    (command,) = block.commands
    assert f"dist/opentrain_mcp-{__version__}-py3-none-any.whl" in command
    checks = (ROOT / "tests" / "release" / "release_checks.py").read_text()
    assert "def test_the_readmes_wheel_command_installs_and_runs_the_demo" in checks


async def claude_add(block: Block, sandbox: Any, **_: Any) -> None:
    """``claude`` is not installed here: the server part after ``--`` is started as Claude Code would, with the
    ``-e`` variables, and lists its tools; the rest of the line is checked against ``claude mcp add``'s syntax."""
    for command in block.commands:
        words = shlex.split(localize(command, sandbox))
        assert words[:3] == ["claude", "mcp", "add"], words
        split = words.index("--")
        options, server = words[3:split], words[split + 1 :]
        env = dict(options[i + 1].split("=", 1) for i, w in enumerate(options) if w == "-e")
        assert [w for i, w in enumerate(options) if w != "-e" and (i == 0 or options[i - 1] != "-e")] == [
            "opentrain"
        ]
        if "OT_API_TOKEN" in env:
            env["OPENTRAIN_API_BASE_URL"] = sandbox.base_url
        names, ready = await list_over_stdio(server[0], server[1:], env)
        assert "request_hire" in names and ready["checks"][0]["status"] == "ready", ready


async def check_command(block: Block, sandbox: Any, controls: Any, **_: Any) -> None:
    """`opentrain-mcp check` with a token: run as written against the sandbox standing in for OpenTrain."""
    for command in block.commands:
        proc = bash(localize(command, sandbox))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Token accepted (from OT_API_TOKEN)" in proc.stdout and "funds:" in proc.stdout


async def http_block(block: Block, sandbox: Any, controls: Any, **_: Any) -> None:
    """The HTTP server started with the reference's two lines (a generated secret, then the server), reached
    with the secret and refused without it."""
    port = free_port()
    script = "\n".join(localize(c, sandbox, http_port=port) for c in block.commands)
    with http_server(script, port) as secret:
        base = f"http://127.0.0.1:{port}"
        assert httpx2.post(base + "/mcp", json={}).status_code == 401
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"})
        async with Client(streamable_http_client(base + "/mcp", http_client=http), mode="legacy") as c:
            assert "request_hire" in {t.name for t in (await c.list_tools()).tools}


async def claude_http(block: Block, sandbox: Any, controls: Any, **_: Any) -> None:
    """Claude Code's HTTP form: ``claude`` is not installed, so its URL and header reach a server started the
    reference's way, as Claude Code would send them."""
    (command,) = block.commands
    port = free_port()
    serve = next(b for b in fenced(REFERENCE) if b.commands and "--transport http --host" in b.text)
    with http_server("\n".join(localize(c, sandbox, http_port=port) for c in serve.commands), port) as secret:
        words = shlex.split(
            localize(command, sandbox, http_port=port).replace("$OPENTRAIN_MCP_AUTH_TOKEN", secret)
        )
        assert words[:6] == ["claude", "mcp", "add", "--transport", "http", "opentrain"], words
        url, header = words[6], words[words.index("--header") + 1]
        name, value = header.split(": ", 1)
        http = httpx2.AsyncClient(headers={name: value})
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as c:
            assert "request_hire" in {t.name for t in (await c.list_tools()).tools}


async def inspector_block(block: Block, sandbox: Any, controls: Any, ids: Any, **_: Any) -> None:
    """The Inspector CLI commands as written (the installed 2.12.0 for npx), the HTTP one against a server
    started the reference's way."""
    inspector = node_bin("inspector")
    need(inspector, "MCP Inspector CLI not installed (run scripts/install-test-tools.sh)")
    folders = Path(str(inspector)).resolve().parents
    manifests = [
        json.loads((d / "package.json").read_text()) for d in folders if (d / "package.json").is_file()
    ]
    installed = next(m for m in manifests if m.get("name") == INSPECTOR_PACKAGE)
    assert INSPECTOR.endswith("@" + installed["version"]), "the documented version is the one tested"
    port = free_port()
    serve = next(b for b in fenced(REFERENCE) if b.commands and "--transport http --host" in b.text)
    with http_server("\n".join(localize(c, sandbox, http_port=port) for c in serve.commands), port) as secret:
        for command in block.commands:
            script = localize(command, sandbox, http_port=port).replace(
                "PROPOSAL_ID", ids["proposals"]["hireable"][0]
            )
            proc = bash(script, OPENTRAIN_MCP_AUTH_TOKEN=secret)
            assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
            assert "request_hire" in proc.stdout or '"candidate"' in proc.stdout, proc.stdout[:500]


async def standalone_sandbox(block: Block, tmp_path: Path, **_: Any) -> None:
    """`opentrain-mcp sandbox` as written (a free port, in a scratch folder for its state file); the server
    command it prints is then pointed at it by `opentrain-mcp check`."""
    (command,) = block.commands
    port = free_port()

    proc = subprocess.Popen(
        ["bash", "-c", f"exec {localize(command, sandbox_port=port)}"],
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip().startswith("OPENTRAIN_API_BASE_URL="):
                break
        printed = lines[-1]
        assert f"127.0.0.1:{port}" in printed and printed.endswith(" opentrain-mcp")
        checked = bash(f"{printed.removesuffix('opentrain-mcp')}{SERVER} check --ledger none")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert checked.stdout.startswith(f"opentrain-mcp check: OpenTrain at http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)
    assert (tmp_path / "sandbox.json").exists(), "--state FILE keeps the sandbox's data"


async def dev_commands(block: Block, **_: Any) -> None:
    """Long runs (minutes; the mutation gate and framework matrix run in .ci/run): checked with their own
    argument parsers, which must accept the documented flags."""
    for command in block.commands:
        words = shlex.split(command.replace(".venv/bin/python", sys.executable))
        if words[0] == "bash":
            proc = subprocess.run(["bash", "-n", words[1]], cwd=ROOT, capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            continue
        helped = subprocess.run([*words[:2], "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0, helped.stderr
        for flag in (w for w in words[2:] if w.startswith("--")):
            assert flag in helped.stdout, f"{words[1]} has no {flag}"


HANDLERS = {
    "setup-demo": Handler(
        r"^python3 -m venv \.venv && \.venv/bin/pip install \. ", (re.escape(DEMO_COMMAND),), setup_demo
    ),
    "setup-tests": Handler(
        r"^python3 -m venv \.venv && \.venv/bin/pip install -e", (re.escape(TEST_COMMAND),), setup_tests
    ),
    "release-wheel": Handler(
        r"^python3 -m venv ~/",
        (r"^python3 -m venv ~/\S+ && ~/\S+/bin/pip install dist/\S+\.whl$",),
        release_wheel,
    ),
    "claude-stdio": Handler(
        r"^claude mcp add (-e|opentrain)",
        (r"^claude mcp add .* -- /ABS/PATH/\.venv/bin/opentrain-mcp( --sandbox)?$",),
        claude_add,
    ),
    "claude-http": Handler(
        r"^claude mcp add --transport http",
        (r"^claude mcp add --transport http opentrain http://127\.0\.0\.1:8000/mcp --header ",),
        claude_http,
    ),
    "check": Handler(
        r"opentrain-mcp check",
        (r"^OT_API_TOKEN=ot_pat_\.\.\. \.venv/bin/opentrain-mcp check( --amount \d+)?$",),
        check_command,
    ),
    "http": Handler(
        r"^export OPENTRAIN_MCP_AUTH_TOKEN=",
        (
            r"^export OPENTRAIN_MCP_AUTH_TOKEN=\$\(python3 -c ",
            r"^OT_API_TOKEN=ot_pat_\.\.\. \.venv/bin/opentrain-mcp --transport http ",
        ),
        http_block,
    ),
    "inspector": Handler(
        r"^npx @modelcontextprotocol/inspector@", (rf"^{re.escape(INSPECTOR)} --cli ",), inspector_block
    ),
    "sandbox": Handler(
        r"opentrain-mcp sandbox ",
        (r"^\.venv/bin/opentrain-mcp sandbox --port 8787 --state \S+$",),
        standalone_sandbox,
    ),
    "dev": Handler(
        r"^\.venv/bin/python bench/run\.py",
        (
            r"^\.venv/bin/python bench/run\.py",
            r"^bash scripts/framework-matrix\.sh$",
            r"^\.venv/bin/python scripts/mutation\.py",
        ),
        dev_commands,
    ),
}


def handler_for(block: Block) -> Handler:
    first = block.commands[0]
    claimed = [h for h in HANDLERS.values() if re.search(h.claims, first)]
    assert len(claimed) == 1, (
        f"{block}: {len(claimed)} handlers claim {first!r}; every command needs exactly one"
    )
    return claimed[0]


# ---------------------------------------------------------------- JSON: client configurations and tool calls


async def client_config(block: Block, sandbox: Any, controls: Any, **_: Any) -> None:
    """A client's server entry, started as the client would (command, args, env; the token stand-in and a VS
    Code ``${input:...}`` answered with the sandbox's token): it lists its tools and accepts the token."""
    config = json.loads(block.text)
    servers = config.get("mcpServers") or config["servers"]
    inputs = {i["id"] for i in config.get("inputs", [])}
    for entry in servers.values():
        assert entry.get("type", "stdio") == "stdio" and set(entry) <= {"type", "command", "args", "env"}
        env = dict(entry.get("env", {}))
        for name, value in env.items():
            asked = re.fullmatch(r"\$\{input:(\w+)\}", value)
            assert value == "ot_pat_..." or (asked and asked.group(1) in inputs), f"{name}={value}"
            env[name] = sandbox.token
        if env:
            env["OPENTRAIN_API_BASE_URL"] = sandbox.base_url
        command = localize(entry["command"])
        names, ready = await list_over_stdio(command, entry.get("args", []), env)
        assert "request_hire" in names, names
        token = ready["checks"][0]
        assert token["status"] == "ready", token
        assert ("--sandbox" in entry.get("args", [])) == (token["detail"] == "Token accepted (from sandbox).")


def is_tool_call(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"name", "arguments"}


def tool_calls(path: Path) -> list[tuple[Block, dict[str, Any]]]:
    calls = []
    for block in fenced(path):
        if block.lang == "json" and is_tool_call(value := json.loads(block.text)):
            calls.append((block, value))
    return calls


def resolve(arguments: Any, key: str, results: dict[str, dict[str, Any]], ids: Any) -> Any:
    """``"<from TOOL>"`` placeholders: the id an earlier call of TOOL returned, or for the listing tools (not
    called in the documents) the sandbox's own ids."""
    if isinstance(arguments, dict):
        return {k: resolve(v, k, results, ids) for k, v in arguments.items()}
    found = re.fullmatch(r"<from (\w+)>", arguments) if isinstance(arguments, str) else None
    if not found:
        return arguments
    tool = found.group(1)
    if tool == "list_proposals":
        return ids["proposals"]["hireable"][0]
    answer = results[tool]
    return {
        "approvalId": lambda: answer["approval"]["id"],
        "contractId": lambda: answer["approval"]["contractId"],
        "milestoneId": lambda: answer["milestone"]["id"],
    }[key]()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
async def test_tool_calls_work_as_written_in_order(path, settings, controls, ids):
    """Every documented tool call, in document order, in one session against the sandbox; the human confirms
    each approval in between, as the README's steps say. Every tool family is on, whatever the default list."""
    calls = tool_calls(path)
    if path == README:
        assert [c["name"] for _, c in calls] == [
            "request_hire",
            "check_approval",
            "create_milestone",
            "request_milestone_funding",
            "end_contract",
        ]
    results: dict[str, dict[str, Any]] = {}
    async with Client(build_server(settings, policy=FAST_POLICY, toolsets=set(TOOLSETS)), mode="legacy") as c:
        for block, call in calls:
            r = await c.call_tool(call["name"], resolve(call["arguments"], "", results, ids))
            assert not r.is_error, f"{block}: {r.content}"
            results[call["name"]] = out = r.structured_content or {}
            if out.get("approval", {}).get("status") == "pending":
                controls.confirm(out["approval"]["id"])


# ---------------------------------------------------------------- the cases


def command_blocks() -> list[Block]:
    return [b for b in ALL_BLOCKS if b.lang == "bash"]


@pytest.mark.parametrize("block", command_blocks(), ids=str)
async def test_every_command_runs_as_written(block, request, tmp_path):
    handler = handler_for(block)
    for command in block.commands:
        assert any(re.search(p, command) for p in handler.commands), f"{block}: no test covers {command!r}"
    fixtures = {n: request.getfixturevalue(n) for n in ("sandbox", "controls", "ids")}
    await handler.run(block, tmp_path=tmp_path, **fixtures)


@pytest.mark.parametrize(
    "block", [b for b in ALL_BLOCKS if b.lang == "json" and not is_tool_call(json.loads(b.text))], ids=str
)
async def test_every_client_configuration_starts_the_server(block, sandbox, controls):
    await client_config(block, sandbox=sandbox, controls=controls)


def test_every_block_is_a_command_a_configuration_a_tool_call_or_the_policy():
    kinds = {b.lang for b in ALL_BLOCKS}
    assert kinds == {"bash", "json", "toml"}, kinds


def test_the_policy_file_loads_and_check_shows_its_caps(tmp_path):
    (block,) = [b for b in ALL_BLOCKS if b.lang == "toml"]
    policy = tmp_path / "policy.toml"
    policy.write_text(block.text)
    checked = subprocess.run(
        [SERVER, "check", "--sandbox", "--policy", str(policy), "--ledger", str(tmp_path / "l.sqlite3")],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    caps = "max_hire_usd $500.00, max_daily_usd $1,000.00, max_monthly_usd $5,000.00, max_pending 5"
    assert caps in checked.stdout and "only jobs cl9x1job0001, cl9x1job0002" in checked.stdout
    example = re.search(r"a \$(\d+) milestone costs .* = \$([\d.]+)", block.text)
    assert example and hire_charge(int(example.group(1))).total_cents == round(float(example.group(2)) * 100)


# ---------------------------------------------------------------- the documents' shape


def headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")]


def test_the_readme_keeps_its_order_and_length():
    text = README.read_text()
    assert len(text.splitlines()) < 250
    order = [
        "Set-up (two commands)",
        "Add it to your MCP client",
        "How an approval reaches the human",
        "Spend policy",
        "Reference",
        "Development",
    ]
    found = [h for h in headings(README) if h in order]
    assert found == order
    setup = text.split("## Set-up (two commands)")[1].split("\n## ")[0]
    assert [c for b in fenced(README) if f"```bash\n{b.text}\n```" in setup for c in b.commands] == [
        DEMO_COMMAND,
        TEST_COMMAND,
    ], "exactly the two set-up commands"


def test_later_features_have_their_titled_place():
    readme = README.read_text()
    for title, anchor in (
        ("Agents and audit", "agents-and-audit"),
        ("Notifications and webhooks", "notifications-and-webhooks"),
        ("Many workers (PostgreSQL)", "many-workers-postgresql"),
    ):
        assert title in headings(REFERENCE) and f"(docs/reference.md#{anchor})" in readme


def help_of(*command: str) -> str:
    proc = subprocess.run(
        [SERVER, *command, "--help"], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_every_flag_is_in_the_reference(command):
    documented = REFERENCE.read_text()
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_of(*([command] if command else []))))
    missing = {f for f in flags if f"`{f}" not in documented and f != "--help"}
    assert not missing, f"opentrain-mcp {command} flags missing from docs/reference.md: {sorted(missing)}"


def test_every_variable_is_in_the_reference():
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "opentrain_mcp").rglob("*.py"))
    variables = set(re.findall(r"\b(?:OT|OPENTRAIN)_[A-Z0-9_]*[A-Z0-9]\b", source)) | {
        env_var(k) for k in KEYS
    }
    variables -= {v for v in variables if v.endswith("_MCP") or v == "OPENTRAIN_MCP_MAX"}
    documented = REFERENCE.read_text()
    assert {v for v in variables if f"`{v}" not in documented} == set()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_links_and_anchors_resolve(path):
    text = path.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith("http"):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: {target}"
        if anchor:
            slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings(linked)}
            assert anchor in slugs, f"{path.name}: #{anchor} is no heading of {linked.name}"
