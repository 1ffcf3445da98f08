"""Mutation testing of the money and safety code, as a CI gate.

Mutants come from cosmic-ray's operators (the ``mutation`` extra pins it). Each module has a test set
(``TARGETS``). A traced clean run of each set first records every test's duration and the lines it runs, in
process and in the ``python -m`` subprocesses it starts (coverage.py). A mutant then runs, with ``-x``, only
the tests of its set that ran its statement, fastest first: any other test runs the same code with or
without it. A statement that runs at import (module level) gets the whole set. Each run is a forked child of
a process that has already imported the heavy libraries, with a private copy of ``src/`` first on
``sys.path``, ``PYTHONPATH`` and ``sys.executable`` (a wrapper), so subprocesses run the mutant too.

A mutant is named by what it changes, not by a number that shifts when code moves:
``<module> :: <function> :: <original line> => <mutated line>``. A survivor fails the gate unless that name
is in the allow-list (``tests/mutation-allowlist.txt``, one ``<name> ## <kind>: <why>`` per line, the kinds
in ``REASON_KINDS``). The allow-list is checked, not trusted: its mutants run in every gate like the others,
and one that a test kills fails the gate as stale, as does an entry that names no mutant any more. A verdict
that would fail the gate (a survivor not listed, a listed mutant killed) is confirmed by a second run first.

    .venv/bin/python scripts/mutation.py                 # every target; exit 1 below 95 %, on a new survivor,
                                                         # a stale entry or a living mutant of issue #15
    .venv/bin/python scripts/mutation.py --only links    # targets whose module path contains "links"
    .venv/bin/python scripts/mutation.py --issue-mutants # only the hand-written mutants of issue #15
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import importlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PKG = "src/opentrain_mcp/"
ALLOWLIST = ROOT / "tests" / "mutation-allowlist.txt"
REPORT = ROOT / "test-artifacts" / "mutation.json"
THRESHOLD = 0.95
# Why a listed survivor changes nothing anyone can observe: each kind names what a reviewer checks.
REASON_KINDS = {
    "same value": "both versions compute the same value in every state the code can reach",
    "unreachable": "the changed code never runs, or never with values for which the versions differ",
    "overridden": "a later statement replaces what the mutant changed",
    "unread": "the changed value is stored but no code reads it",
    "log only": "only a log line changes (its wording or a figure in it)",
    "clock boundary": "the versions differ only when a continuous clock lands exactly on a boundary",
    "tuning": "only a duration or a pool size changes, at a scale no test reaches without timing asserts",
    "arbitrary": "a choice with no documented meaning changes (a random reference's length)",
}

# Test sets: each is run once, traced, on the clean code; a mutant then runs the tests of its set that ran the
# mutated statement (or started a subprocess), so a broad set costs little for a mutant its first test kills.
TOOL_TESTS = (
    "tests/server/test_links.py",
    "tests/server/test_hire_tool.py",
    "tests/server/test_trust_boundary.py",
    "tests/server/test_edges.py",
    "tests/server/test_human_loop.py",
    "tests/server/test_spend.py",
    "tests/test_policy.py",
)
API_TESTS = (
    "tests/api/test_retry.py",
    "tests/api/test_client.py",
    "tests/api/test_lifecycle.py",
    "tests/api/test_proxy.py",
    "tests/server/test_deadline.py",
)
ENTRY_TESTS = (
    "tests/server/test_http_auth.py",
    "tests/test_logs.py",
    "tests/test_zz_secrets.py",
    "tests/test_cli_flags.py",
    "tests/test_cli_commands.py",
    "tests/test_policy.py",
    "tests/server/test_lifecycle.py::test_read_only_and_toolsets_listings",
    "tests/e2e/test_cli_config.py::test_unclear_boolean_refuses_to_start_naming_the_variable",
)
STATE_TESTS = (
    "tests/test_ledger.py",
    "tests/test_policy.py",
    "tests/server/test_watcher.py",
    "tests/server/test_subscriptions.py",
    "tests/server/test_spend.py",
)

# module (under src/opentrain_mcp/) -> (functions to mutate, or None for all; the test set that covers it)
TARGETS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]] = {
    "server/links.py": (None, TOOL_TESTS),
    "server/tools/hire.py": (None, TOOL_TESTS),
    "policy.py": (None, TOOL_TESTS),
    "server/tools/_common.py": (None, TOOL_TESTS),
    "server/app.py": (("ServerOptions.wanted",), ENTRY_TESTS),
    "api/retry.py": (None, API_TESTS),
    "api/client.py": (None, API_TESTS),
    "server/http.py": (None, ENTRY_TESTS),
    "logs.py": (None, ENTRY_TESTS),
    "cli.py": (("_parser", "_policy_arguments", "main", "server_options"), ENTRY_TESTS),
    "ledger.py": (None, STATE_TESTS),
    "server/watcher.py": (None, STATE_TESTS),
}

# cosmic-ray operators: boundary and negation of conditions, arithmetic swaps, constants, loops, handlers.
OPERATORS = (
    *(
        f"core/ReplaceComparisonOperator_{a}_{b}"
        for a, bs in {
            "Lt": ("LtE", "GtE"),
            "LtE": ("Lt", "Gt"),
            "Gt": ("GtE", "LtE"),
            "GtE": ("Gt", "Lt"),
            "Eq": ("NotEq",),
            "NotEq": ("Eq",),
            "Is": ("IsNot",),
            "IsNot": ("Is",),
        }.items()
        for b in bs
    ),
    *(
        f"core/ReplaceBinaryOperator_{a}_{b}"
        for a, b in (
            ("Add", "Sub"),
            ("Sub", "Add"),
            ("Mul", "Div"),
            ("Div", "Mul"),
            ("FloorDiv", "Mul"),
            ("Pow", "Mul"),
            ("BitOr", "BitAnd"),
            ("BitAnd", "BitOr"),
        )
    ),
    "core/ReplaceUnaryOperator_Delete_Not",
    "core/ReplaceUnaryOperator_USub_UAdd",
    "core/AddNot",
    "core/ReplaceTrueWithFalse",
    "core/ReplaceFalseWithTrue",
    "core/ReplaceAndWithOr",
    "core/ReplaceOrWithAnd",
    "core/ReplaceBreakWithContinue",
    "core/ReplaceContinueWithBreak",
    "core/ExceptionReplacer",
    "core/NumberReplacer",
    "core/ZeroIterationForLoop",
)

# The mutants issue #15 found surviving; each must be killed: (module, exact original text, replacement).
ISSUE_MUTANTS: tuple[tuple[str, str, str], ...] = (
    (
        "policy.py",
        "fee = (base * MARKETPLACE_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)",
        'fee = (base * MARKETPLACE_FEE_RATE).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)',
    ),
    (
        "policy.py",
        "fee = (base * MARKETPLACE_FEE_RATE).quantize(CENT, rounding=ROUND_HALF_UP)",
        'fee = (base * MARKETPLACE_FEE_RATE).quantize(CENT, rounding="ROUND_DOWN")',
    ),
    ("server/links.py", 'parts.username or parts.password or "@" in parts.netloc', "parts.password"),
    ("cli.py", "read_only=args.read_only", "read_only=False"),
    (
        "server/http.py",
        "hmac.compare_digest(secret.strip(), self._secret)",
        "secret.strip()[-8:] == self._secret[-8:]",
    ),
    ("server/http.py", "len(self.auth_token) < 16", "len(self.auth_token) < 1"),
    ("api/client.py", "follow_redirects=False", "follow_redirects=True"),
    ("api/client.py", "if attempt > policy.max_retries:", "if attempt > policy.max_retries + 1:"),
    ("api/retry.py", "frozenset({429, 502, 503, 504})", "frozenset({429, 500, 502, 503, 504})"),
    ("api/client.py", "if wait > deadline.remaining() - 0.5:", "if wait > deadline.remaining() + 5:"),
    ("api/client.py", "accepted.approval.proposalId not in (None, proposal_id)", "False"),
    ("server/tools/_common.py", "AfterValidator(lambda v: check_id(v, what)),", ""),
    ("server/watcher.py", 'event.get("type") == "approval.confirmed"', 'data.get("status") == "confirmed"'),
    ("server/tools/hire.py", "ledger.update(", "(lambda *a, **k: None)("),
)


@dataclass
class Mutant:
    module: str
    function: str
    before: str
    after: str
    source: str = field(repr=False)
    tests: tuple[str, ...] = ()
    lines: tuple[int, int] = (0, 0)  # first and last line of the mutated statement
    outcome: str = ""
    killed_by: str = ""
    cpu: float = 0.0
    first_outcome: str = ""  # set when a second run confirmed (or overturned) the first verdict

    @property
    def name(self) -> str:
        return f"{self.module} :: {self.function} :: {self.before} => {self.after}"


def _skipped_spans(tree: ast.Module) -> list[tuple[int, int, int, int]]:
    """Source spans whose mutants change nothing observable: annotations, docstrings, logging calls."""
    spans: list[ast.stmt | ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            signature = ast.Pass(lineno=node.lineno, col_offset=node.col_offset)
            signature.end_lineno, signature.end_col_offset = node.body[0].lineno, 0
            spans += [signature, *node.decorator_list]
        elif isinstance(node, ast.AnnAssign):
            spans.append(node.annotation)
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id in ("log", "logger")
        ) or (
            isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        ):
            spans.append(node)
    return [(n.lineno, n.col_offset, n.end_lineno or n.lineno, n.end_col_offset or 0) for n in spans]


def _functions(tree: ast.Module) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every def, innermost last."""
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _inside(pos: tuple[int, int], span: tuple[int, int, int, int]) -> bool:
    return (span[0], span[1]) <= pos < (span[2], span[3])


def _changed_line(original: list[str], mutated: list[str], line: int) -> tuple[str, str]:
    """The mutated line, as ``(before, after)`` stripped texts (several lines joined with ``⏎``)."""
    before: list[str] = []
    after: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, original, mutated).get_opcodes():
        if tag != "equal":
            before += [s.strip() for s in original[i1:i2]]
            after += [s.strip() for s in mutated[j1:j2]]
    if not before:
        before = [original[line - 1].strip()]
    return " ⏎ ".join(before), " ⏎ ".join(after) or "(deleted)"


# The exception cosmic-ray's ExceptionReplacer writes into a handler in place of the one it catches. It is
# defined at the end of the mutated module (lines above keep their numbers): undefined, the handler would
# raise NameError for whatever reaches it, instead of letting it pass, and tests would kill the mutant for
# the wrong reason.
NOTHING_RAISED = "CosmicRayTestingException"


def generate(module: str, functions: tuple[str, ...] | None, tests: tuple[str, ...]) -> list[Mutant]:
    """Every mutant of ``module`` under ``OPERATORS``, minus those in ``_skipped_spans``."""
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    source = (SRC / "opentrain_mcp" / module).read_text()
    tree = ast.parse(source)
    skipped, defs = _skipped_spans(tree), _functions(tree)
    original = source.split("\n")
    statements = [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]
    parso_tree = get_ast(source)
    mutants: dict[str, Mutant] = {}
    for name in OPERATORS:
        operator = get_operator(name)()
        positions = [p for node in ast_nodes(parso_tree) for p in operator.mutation_positions(node)]
        for occurrence, (start, end) in enumerate(positions):
            if any(_inside(start, s) for s in skipped):
                continue
            owners = [d for d in defs if d[0] <= start[0] <= d[1]]
            function = owners[-1][2] if owners else "<module>"
            if functions is not None and not any(
                function == f or function.startswith(f + ".") for f in functions
            ):
                continue
            try:
                mutated = mutate_code(source, operator, occurrence)
            except Exception as exc:  # an operator that cannot handle this syntax: say so, skip the mutant
                print(f"  note: {name} cannot mutate {module} line {start[0]}: {exc!r}", file=sys.stderr)
                continue
            if mutated is None or mutated == source:
                continue
            # cosmic-ray writes the name into a dotted one (sqlite3.OperationalError -> sqlite3Cosmic...Error)
            mutated = re.sub(rf"[\w.]*{NOTHING_RAISED}[\w.]*", NOTHING_RAISED, mutated)
            before, after = _changed_line(original, mutated.split("\n"), start[0])
            first = max(
                (n.lineno for n in statements if n.lineno <= start[0] <= (n.end_lineno or 0)), default=0
            )
            if NOTHING_RAISED in mutated:  # a handler that catches nothing: define what it names
                mutated += f'\n\nclass {NOTHING_RAISED}(Exception):\n    """Never raised."""\n'
            m = Mutant(module, function, before, after, mutated, tests, (first or start[0], end[0]))
            mutants.setdefault(m.name, m)
    return list(mutants.values())


ISSUE = "(issue #15)"  # the function name that marks a hand-written mutant


def issue_mutants() -> list[Mutant]:
    """The hand-written mutants of issue #15, each with the test files of its module."""
    out = []
    for module, old, new in ISSUE_MUTANTS:
        source = (SRC / "opentrain_mcp" / module).read_text()
        if source.count(old) != 1:
            raise SystemExit(
                f"issue mutant no longer applies: {old!r} appears {source.count(old)}x in {module}"
            )
        tests = TARGETS[module][1]
        line = source[: source.index(old)].count("\n") + 1
        out.append(Mutant(module, ISSUE, old, new, source.replace(old, new), tests, (line, line)))
    return out


class _Measure:
    """pytest plugin for a clean run: each test's duration, and the lines it runs (through coverage)."""

    def __init__(self, coverage: Any, current_test: Path) -> None:
        self.coverage, self.current_test = coverage, current_test
        self.durations: dict[str, float] = {}

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.coverage.switch_context(nodeid)
        self.current_test.write_text(nodeid)

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration


class _Select:
    """pytest plugin for a mutant's run: only ``keep`` (every test if None), in that order; the first failing
    test is written to ``killer``."""

    def __init__(self, keep: list[str] | None, durations: dict[str, float], killer: Path) -> None:
        self.keep, self.durations, self.killer = keep, durations, killer

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        if self.keep is None:
            items.sort(key=lambda item: self.durations.get(item.nodeid, 0.0))
            return
        rank = {nodeid: i for i, nodeid in enumerate(self.keep)}
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in rank])
        items[:] = sorted((item for item in items if item.nodeid in rank), key=lambda item: rank[item.nodeid])

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not self.killer.exists():
            self.killer.write_text(report.nodeid)


@dataclass
class Profile:
    """A clean run of one test set: seconds per test, and module -> line -> tests that ran it ("" at import)."""

    durations: dict[str, float]
    covered: dict[str, dict[int, list[str]]]

    def tests_for(self, mutant: Mutant) -> list[str] | None:
        """The tests that ran the mutated statement, in process or in a subprocess, fastest first.

        Any other test runs the same code with or without the mutant, so it is left out. None (every test)
        when the statement ran at import, before any test: a module-level constant is used by tests that
        never run its line."""
        lines = self.covered.get(mutant.module, {})
        ran = {t for n in range(mutant.lines[0], mutant.lines[1] + 1) for t in lines.get(n, ())}
        if not ran or "" in ran:
            return None
        return sorted(ran, key=lambda t: self.durations.get(t, 0.0))

    def seconds(self, tests: list[str] | None) -> float:
        return (
            sum(self.durations.values()) if tests is None else sum(self.durations.get(t, 0.0) for t in tests)
        )


class Slot:
    """A private copy of ``src/`` in which one mutant at a time is written and tested by a forked child."""

    def __init__(self, base: Path, index: int) -> None:
        self.dir = base / f"slot{index}"
        self.src = self.dir / "src"
        shutil.copytree(SRC, self.src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        # Tests start servers as ``sys.executable -m opentrain_mcp`` with a bare environment: this interpreter
        # wrapper puts the slot's code first for them too.
        # During a clean run (while ``trace.rc`` exists) a ``-m`` subprocess is traced too, labelled with the
        # test that started it (``current-test``), so the profile knows which tests run a line out of process.
        self.python = self.dir / "python"
        self.trace_rc, self.current_test = self.dir / "trace.rc", self.dir / "current-test"
        self.python.write_text(
            f'#!/bin/sh\nexport PYTHONPATH="{self.src}"\n'
            f'if [ -f "{self.trace_rc}" ] && [ "$1" = "-m" ]; then\n'
            f'  exec "{sys.executable}" -m coverage run --rcfile="{self.trace_rc}" '
            f'--context="$(cat "{self.current_test}")" "$@"\n'
            f'fi\nexec "{sys.executable}" "$@"\n'
        )
        self.python.chmod(0o755)
        self.killer = self.dir / "killer"
        self.pid = 0
        self.cpu = 0.0
        self.job: Job | None = None
        self.started = 0.0

    def start(self, job: Job) -> None:
        """Run ``job`` in a forked child, with its mutant (if any) written into this slot's ``src/``."""
        if job.mutant is not None:
            (self.src / "opentrain_mcp" / job.mutant.module).write_text(job.mutant.source)
        self.killer.unlink(missing_ok=True)
        self.job, self.started = job, time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:
            self._child(job)

    def _child(self, job: Job) -> None:
        os.setsid()
        code = 3
        try:
            log = os.open(self.dir / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(ROOT)
            os.environ["PYTHONPATH"] = str(self.src)
            os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
            # Compiled test modules (pytest's assertion rewriting costs seconds) are cached under the run's own
            # prefix by the warm-up runs only; a cached module is used only while its source's mtime and size
            # match, and every mutant is written after the warm-up, so a mutant never runs stale code.
            sys.pycache_prefix = str(self.dir.parent / "pycache")
            sys.dont_write_bytecode = not job.write_bytecode
            sys.path.insert(0, str(self.src))
            sys.executable = str(self.python)
            import pytest

            plugin = job.plugin(self)
            # In this one process: no xdist workers (pyproject's addopts, with its "-n auto", is cleared too).
            args = [*job.args, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-m", "not slow"]
            code = int(pytest.main([*args, "-o", "addopts=", "--basetemp", str(self.dir / "tmp")], [plugin]))
            if hasattr(plugin, "finish"):
                plugin.finish()
        finally:
            os._exit(code)

    def poll(self) -> str | None:
        """The outcome once the child has finished (or was killed for running too long), else None."""
        assert self.job is not None
        pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            if time.monotonic() - self.started < self.job.timeout:
                return None
            os.killpg(self.pid, signal.SIGKILL)
            _, _, usage = os.wait4(self.pid, 0)
            outcome = "timeout"
        else:
            code = os.waitstatus_to_exitcode(status)
            outcome = "survived" if code == 0 else "error" if code in (3, 4, 5) else "killed"
        self.cpu = usage.ru_utime + usage.ru_stime
        if self.job.mutant is not None:
            module = self.job.mutant.module
            shutil.copyfile(SRC / "opentrain_mcp" / module, self.src / "opentrain_mcp" / module)
        self.pid = 0
        return outcome


@dataclass
class Job:
    """One pytest run in a slot: ``plugin(slot)`` is built in the child."""

    args: tuple[str, ...]
    timeout: float
    plugin: Callable[[Slot], object]
    mutant: Mutant | None = None
    tests: tuple[str, ...] = ()  # the test set (for clean runs and library lists)
    write_bytecode: bool = False


def _run_jobs(slots: list[Slot], jobs: list[Job], done: Callable[[Slot, Job, str], None]) -> None:
    """Run ``jobs`` on the free slots, calling ``done(slot, job, outcome)`` as each one ends."""
    queue = list(jobs)
    try:
        while queue or any(s.pid for s in slots):
            for slot in slots:
                if slot.pid and (outcome := slot.poll()) is not None:
                    assert slot.job is not None
                    done(slot, slot.job, outcome)
                if not slot.pid and queue:
                    slot.start(queue.pop(0))
            time.sleep(0.02)
    finally:
        for slot in slots:
            if slot.pid:
                os.killpg(slot.pid, signal.SIGKILL)
                slot.pid = 0


class _Libraries:
    """pytest plugin for a collection-only run: writes the modules imported that a mutant cannot change."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot

    def pytest_collection_finish(self, session: Any) -> None:
        ours = (str(SRC), str(ROOT / "tests"), str(self.slot.dir))
        plugins = set(map(id, session.config.pluginmanager.get_plugins()))  # pytest registers these itself
        names = [
            name
            for name, module in list(sys.modules.items())
            if name.partition(".")[0] not in ("opentrain_mcp", "tests", "conftest", "__main__")
            and not (getattr(module, "__file__", None) or "").startswith(ours)
            and id(module) not in plugins
        ]
        (self.slot.dir / "libraries.json").write_text(json.dumps(names))


# Libraries imported before forking (the ones whose import is slow); asyncio-level modules such as test plugins
# are left to each child, because importing them early breaks anyio's task tracking in the child.
WARM_PACKAGES = frozenset(
    [
        "hypothesis",
        "mcp",
        "mcp_types",
        "pydantic",
        "pydantic_core",
        "httpx2",
        "starlette",
        "uvicorn",
        "cryptography",
        "opentelemetry",
        "click",
        "sortedcontainers",
        "pygments",
        "jsonschema",
        "sse_starlette",
    ]
)


def _warm_up(test_sets: list[tuple[str, ...]], slots: list[Slot]) -> None:
    """Import, in this process, the libraries the test sets import, so that every forked run starts warm:
    test collection otherwise costs about 2 s per mutant, mostly in hypothesis and the MCP SDK."""
    names: set[str] = set()

    def done(slot: Slot, job: Job, outcome: str) -> None:
        if outcome == "survived":
            names.update(json.loads((slot.dir / "libraries.json").read_text()))

    _run_jobs(
        slots,
        [Job((*t, "--collect-only"), 120, _Libraries, tests=t, write_bytecode=True) for t in test_sets],
        done,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # hypothesis is imported by its pytest plugin only as a run ends, so the collection never lists it
        for name in ["hypothesis", *sorted(n for n in names if n.partition(".")[0] in WARM_PACKAGES)]:
            with contextlib.suppress(
                Exception
            ):  # a module that imports only in some context: left to the child
                importlib.import_module(name)


def _measuring(modules: list[str]) -> Callable[[Slot], object]:
    """The plugin of a clean run: writes its :class:`Profile` to ``profile.json`` in the slot."""

    def build(slot: Slot) -> object:
        import coverage

        files = {str(slot.src / "opentrain_mcp" / m): m for m in modules}
        subprocess_data = slot.dir / "subprocess-coverage" / "data"
        slot.trace_rc.write_text(
            "[run]\nparallel = true\nsigterm = true\n"
            f"data_file = {subprocess_data}\ninclude =\n"
            + "".join(f"    {f}\n" for f in files)
            + "disable_warnings = no-data-collected, module-not-measured, module-not-imported\n"
        )
        slot.current_test.write_text("")
        cov = coverage.Coverage(data_file=None, include=list(files), config_file=False)
        measure = _Measure(cov, slot.current_test)

        def finish() -> None:
            cov.stop()
            slot.trace_rc.unlink()
            covered: dict[str, dict[int, set[str]]] = {m: {} for m in modules}
            datas = [cov.get_data()]
            for path in subprocess_data.parent.glob("data.*"):
                datas.append(coverage.CoverageData(basename=str(path)))
                datas[-1].read()
            for data in datas:
                for f in data.measured_files():
                    if f in files:
                        for n, contexts in data.contexts_by_lineno(f).items():
                            covered[files[f]].setdefault(n, set()).update(contexts)
            profile = {
                "durations": measure.durations,
                "covered": {m: {n: sorted(c) for n, c in lines.items()} for m, lines in covered.items()},
            }
            (slot.dir / "profile.json").write_text(json.dumps(profile))

        measure.finish = finish  # type: ignore[attr-defined]
        cov.start()
        return measure

    return build


def run(mutants: list[Mutant], jobs: int, base: Path, listed: set[str]) -> float:
    """Test every mutant (after a clean run of each test set, which must pass), ``jobs`` at a time; then once
    more each mutant whose verdict would fail the gate (``_doubtful``), with twice the time, so that a load
    spike on the machine neither fails the gate nor passes it: the second verdict stands.

    Returns the CPU seconds of the warm-up and clean runs."""
    slots = [Slot(base, i) for i in range(jobs)]
    test_sets: dict[tuple[str, ...], list[str]] = {}
    for m in mutants:
        test_sets.setdefault(m.tests, [])
        if m.module not in test_sets[m.tests]:
            test_sets[m.tests].append(m.module)
    _warm_up(list(test_sets), slots)
    profiles: dict[tuple[str, ...], Profile] = {}
    cpu = 0.0

    def clean_done(slot: Slot, job: Job, outcome: str) -> None:
        nonlocal cpu
        seconds = time.monotonic() - slot.started
        if outcome != "survived":
            log_text = (slot.dir / "pytest.log").read_text()[-3000:]
            raise SystemExit(f"the unmutated code fails {' '.join(job.tests)} ({outcome}):\n{log_text}")
        data = json.loads((slot.dir / "profile.json").read_text())
        covered = {m: {int(n): ts for n, ts in lines.items()} for m, lines in data["covered"].items()}
        profiles[job.tests] = Profile(data["durations"], covered)
        cpu += slot.cpu
        print(f"  clean run {seconds:5.1f} s ({slot.cpu:.1f} s CPU): {' '.join(job.tests)}", flush=True)

    clean = [Job(t, 900, _measuring(modules), tests=t) for t, modules in test_sets.items()]
    _run_jobs(slots, clean, clean_done)
    _run_jobs(slots, [_mutant_job(m, profiles[m.tests]) for m in mutants], _mutant_done(len(mutants)))
    doubtful = [m for m in mutants if _doubtful(m, listed)]
    if doubtful:
        print(f"  {len(doubtful)} verdicts that fail the gate, run once more to confirm them", flush=True)
        for m in doubtful:
            m.first_outcome, m.killed_by = m.outcome, ""
        again = [_mutant_job(m, profiles[m.tests], slower=2) for m in doubtful]
        _run_jobs(slots, again, _mutant_done(len(doubtful)))
    return cpu


def _doubtful(mutant: Mutant, listed: set[str]) -> bool:
    """Whether this verdict fails the gate: a survivor not on the allow-list, or a listed mutant killed."""
    if mutant.function == ISSUE or mutant.name not in listed:
        return mutant.outcome == "survived"
    return mutant.outcome in ("killed", "timeout")


def _mutant_job(mutant: Mutant, profile: Profile, slower: float = 1) -> Job:
    """The run of ``mutant``: only the tests that can notice it, the likeliest killers first."""
    keep = profile.tests_for(mutant)
    files = mutant.tests if keep is None else tuple(dict.fromkeys(t.split("::")[0] for t in keep))
    timeout = slower * (20 + 2 * profile.seconds(keep))  # the profile was traced: an untraced run is faster
    return Job(files, timeout, lambda slot: _Select(keep, profile.durations, slot.killer), mutant)


def _mutant_done(total: int) -> Callable[[Slot, Job, str], None]:
    count = 0

    def done(slot: Slot, job: Job, outcome: str) -> None:
        nonlocal count
        mutant = job.mutant
        assert mutant is not None
        mutant.outcome, mutant.cpu = outcome, slot.cpu
        if slot.killer.exists():
            mutant.killed_by = slot.killer.read_text()
        if outcome == "error":
            print((slot.dir / "pytest.log").read_text()[-2000:], file=sys.stderr)
            print(f"  error: {mutant.name}", flush=True)
        count += 1
        if count % 50 == 0:
            print(f"  {count}/{total} mutants tested", flush=True)

    return done


def read_allowlist(path: Path) -> dict[str, str]:
    """``name -> reason`` from the allow-list; blank lines and ``#`` comments are ignored.

    Every reason starts with one of ``REASON_KINDS`` and a colon, and says why in words a reviewer can check
    against the code."""
    entries: dict[str, str] = {}
    if path.exists():
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            if raw.strip() and not raw.lstrip().startswith("#"):
                name, _, reason = raw.rpartition(" ## ")
                kind, _, why = reason.partition(":")
                if not name or kind.strip() not in REASON_KINDS or not why.strip():
                    raise SystemExit(
                        f"{path}:{number}: every line needs '<mutant> ## <kind>: <why>', the kind one of "
                        f"{', '.join(REASON_KINDS)}: {raw}"
                    )
                if name.strip() in entries:
                    raise SystemExit(f"{path}:{number}: listed twice: {name.strip()}")
                entries[name.strip()] = reason.strip()
    return entries


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", default=[], help="targets whose module path contains this")
    # one more than the cores: a test run spends part of its time waiting on sockets and subprocesses
    p.add_argument("--jobs", type=int, default=(os.cpu_count() or 2) + 1, help="mutants tested at once")
    p.add_argument("--list", action="store_true", help="print the mutants and exit")
    p.add_argument("--issue-mutants", action="store_true", help="test the hand-written mutants of issue #15")
    p.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so ``run`` stops its children on the way out
    started = time.monotonic()
    targets = {m: t for m, t in TARGETS.items() if not args.only or any(o in m for o in args.only)}
    mutants = [m for m in issue_mutants() if m.module in targets]
    if not args.issue_mutants:
        mutants += [m for module, (funcs, tests) in targets.items() for m in generate(module, funcs, tests)]
    if args.list:
        print("\n".join(m.name for m in mutants))
        return 0
    allowed = read_allowlist(args.allowlist)
    listed = sum(m.name in allowed for m in mutants if m.function != ISSUE)
    print(f"{len(mutants)} mutants to run ({listed} of them allow-listed), {args.jobs} at a time")
    with tempfile.TemporaryDirectory(prefix="opentrain-mutation-") as tmp:
        for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ[var] = tempfile.mkdtemp(dir=tmp)
        cpu = run(mutants, max(1, args.jobs), Path(tmp), set(allowed)) + sum(m.cpu for m in mutants)
    return report(mutants, allowed, (time.monotonic() - started, cpu), args)


def report(
    mutants: list[Mutant], allowed: dict[str, str], times: tuple[float, float], args: argparse.Namespace
) -> int:
    """Print the figures and the failures; return the exit status of the gate."""
    required = [m for m in mutants if m.function == ISSUE]  # issue #15's hand-written mutants: all must die
    mutants = [m for m in mutants if m.function != ISSUE]
    killed = [m for m in mutants if m.outcome in ("killed", "timeout")]
    errors = [m for m in mutants if m.outcome == "error"]
    equivalent = [m for m in mutants if m.outcome == "survived" and m.name in allowed]
    new = [m for m in mutants if m.outcome == "survived" and m.name not in allowed]
    stale = [m for m in killed if m.name in allowed]  # listed, yet a test kills it: not equivalent
    judged = len(mutants) - len(equivalent)  # mutants that change behaviour, so a test must kill them
    rate = len(killed) / judged if judged else 1.0
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        json.dumps(
            [
                {
                    **{
                        k: getattr(m, k)
                        for k in ("module", "function", "before", "after", "outcome", "killed_by")
                    },
                    "name": m.name,
                    "listed": allowed.get(m.name),
                    "firstOutcome": m.first_outcome or None,
                    "cpuSeconds": round(m.cpu, 2),
                }
                for m in [*required, *mutants]
            ],
            indent=1,
        )
    )
    by_module: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_module.setdefault(m.module, []).append(m)
    for module, ms in by_module.items():
        k, e, st, n = (sum(m in group for m in ms) for group in (killed, equivalent, stale, new))
        print(f"  {module:28} {len(ms):4} mutants {k:4} killed {e:3} listed {st:2} stale {n:2} new survivors")
    kinds = {kind: sum(allowed[m.name].startswith(kind + ":") for m in equivalent) for kind in REASON_KINDS}
    print(
        f"{len(mutants)} mutants: {len(killed)} killed, {len(equivalent)} listed (equivalent), "
        f"{len(stale)} stale, {len(new)} new survivors, {len(errors)} errors; mutation score {rate:.1%}; "
        f"{times[0]:.0f} s wall clock, {times[1]:.0f} s CPU in the test runs"
    )
    print("listed, by reason: " + ", ".join(f"{kind} {n}" for kind, n in kinds.items() if n))
    missed = [m for m in required if m.outcome not in ("killed", "timeout")]
    print(f"issue #15's mutants: {len(required) - len(missed)} of {len(required)} killed")
    for m in [*required, *mutants]:
        if m.first_outcome and m.first_outcome != m.outcome:
            print(f"note: {m.first_outcome} on the first run, {m.outcome} on the second: {m.name}")
    for m in new:
        print(f"SURVIVED  {m.name}")
    for m in errors:
        print(f"ERROR     {m.name}")
    for m in missed:
        print(f"NOT KILLED ({m.outcome})  {m.name}")
    allowlist = args.allowlist.relative_to(ROOT) if args.allowlist.is_relative_to(ROOT) else args.allowlist
    for m in stale:
        print(f"STALE     {m.name}\n          killed by {m.killed_by or f'a {m.outcome}'}; delete its line")
    dead = [] if args.only or args.issue_mutants else sorted(set(allowed) - {m.name for m in mutants})
    for name in dead:
        print(f"STALE     {name}\n          names no mutant any more (the code changed); delete its line")
    if stale or dead:
        print(
            f"(a stale entry is deleted from {allowlist}; it hides nothing, but its figures would be wrong)"
        )
    if args.issue_mutants:
        return 1 if missed else 0
    if new or errors or missed or stale or dead or rate < THRESHOLD:
        print(
            f"FAIL: mutation score must be >= {THRESHOLD:.0%}, every survivor allow-listed, no allow-list entry "
            f"stale ({allowlist}) and every mutant of issue #15 killed"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
