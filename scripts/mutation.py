"""Mutation testing of the money and safety code, as a CI gate.

Mutants come from cosmic-ray's operators (pinned in requirements-mutation.txt); each mutant is run with only
the test files that cover its module (``TARGETS``), in a forked child whose ``sys.path`` and ``PYTHONPATH``
put a private copy of ``src/`` first, so in-process tests and the subprocesses they start both see it.

A mutant is named by what it changes, not by a number that shifts when code moves:
``<module> :: <function> :: <original line> => <mutated line>``. A survivor fails the gate unless that name
is in the allow-list (``tests/mutation-allowlist.txt``, one ``<name> ## <why it is equivalent>`` per line).

    .venv/bin/python scripts/mutation.py                 # every target; exit 1 below 95 % or on a new survivor
    .venv/bin/python scripts/mutation.py --only links    # targets whose module path contains "links"
    .venv/bin/python scripts/mutation.py --issue-mutants # the hand-written mutants of issue #15 must be killed
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PKG = "src/opentrain_mcp/"
ALLOWLIST = ROOT / "tests" / "mutation-allowlist.txt"
REPORT = ROOT / "test-artifacts" / "mutation.json"
THRESHOLD = 0.95

# module (under src/opentrain_mcp/) -> (functions to mutate, or None for all; test files that cover it)
TARGETS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]] = {
    "server/links.py": (None, ("tests/server/test_links.py",)),
    "server/tools/hire.py": (None, ("tests/server/test_hire_tool.py",)),
    "policy.py": (("hire_charge", "cents"), ("tests/server/test_hire_tool.py",)),
    "server/tools/_common.py": (None, ("tests/server/test_hire_tool.py",)),
    "api/retry.py": (None, ("tests/api/test_retry.py", "tests/api/test_client.py")),
    "api/client.py": (None, ("tests/api/test_client.py",)),
    "server/http.py": (None, ("tests/server/test_http_auth.py",)),
    "logs.py": (None, ("tests/test_logs.py", "tests/test_zz_secrets.py")),
    "cli.py": (("_parser", "main", "_server_options"), ("tests/test_cli_flags.py",)),
    "server/app.py": (
        ("ServerOptions.wanted",),
        ("tests/server/test_human_loop.py::test_read_only_and_tool_subset", "tests/test_cli_flags.py"),
    ),
    "ledger.py": (None, ("tests/test_ledger.py",)),
    "server/watcher.py": (None, ("tests/server/test_watcher.py",)),
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
    outcome: str = ""
    cpu: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.module} :: {self.function} :: {self.before} => {self.after}"


def _skipped_spans(tree: ast.Module) -> list[tuple[int, int, int, int]]:
    """Source spans whose mutants change nothing observable: annotations, docstrings, logging calls."""
    spans: list[ast.AST] = []
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


def generate(module: str, functions: tuple[str, ...] | None, tests: tuple[str, ...]) -> list[Mutant]:
    """Every mutant of ``module`` under ``OPERATORS``, minus those in ``_skipped_spans``."""
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    source = (SRC / "opentrain_mcp" / module).read_text()
    tree = ast.parse(source)
    skipped, defs = _skipped_spans(tree), _functions(tree)
    original = source.split("\n")
    parso_tree = get_ast(source)
    mutants: dict[str, Mutant] = {}
    for name in OPERATORS:
        operator = get_operator(name)()
        positions = [p for node in ast_nodes(parso_tree) for p in operator.mutation_positions(node)]
        for occurrence, (start, _end) in enumerate(positions):
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
            before, after = _changed_line(original, mutated.split("\n"), start[0])
            m = Mutant(module, function, before, after, mutated, tests)
            mutants.setdefault(m.name, m)
    return list(mutants.values())


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
        out.append(Mutant(module, "(issue #15)", old, new, source.replace(old, new), tests))
    return out


class Slot:
    """A private copy of ``src/`` in which one mutant at a time is written and tested by a forked child."""

    def __init__(self, base: Path, index: int) -> None:
        self.dir = base / f"slot{index}"
        self.src = self.dir / "src"
        shutil.copytree(SRC, self.src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        # Tests start servers as ``sys.executable -m opentrain_mcp`` with a bare environment: this interpreter
        # wrapper puts the slot's code first for them too.
        self.python = self.dir / "python"
        self.python.write_text(f'#!/bin/sh\nPYTHONPATH="{self.src}" exec "{sys.executable}" "$@"\n')
        self.python.chmod(0o755)
        self.pid = 0
        self.cpu = 0.0
        self.mutant: Mutant | None = None
        self.started = 0.0
        self.timeout = 0.0

    def start(self, mutant: Mutant | None, tests: tuple[str, ...], timeout: float) -> None:
        if mutant is not None:
            (self.src / "opentrain_mcp" / mutant.module).write_text(mutant.source)
        self.mutant, self.started, self.timeout = mutant, time.monotonic(), timeout
        self.pid = os.fork()
        if self.pid == 0:
            self._child(tests)

    def _child(self, tests: tuple[str, ...]) -> None:
        os.setsid()
        code = 3
        try:
            log = os.open(self.dir / "pytest.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(ROOT)
            os.environ["PYTHONPATH"] = str(self.src)
            os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
            sys.dont_write_bytecode = True
            sys.path.insert(0, str(self.src))
            sys.executable = str(self.python)
            import pytest

            args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
            code = int(pytest.main([*args, "--basetemp", str(self.dir / "tmp"), "-o", "addopts="]))
        finally:
            os._exit(code)

    def poll(self) -> str | None:
        """The outcome once the child has finished (or was killed for running too long), else None."""
        pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            if time.monotonic() - self.started < self.timeout:
                return None
            os.killpg(self.pid, signal.SIGKILL)
            _, _, usage = os.wait4(self.pid, 0)
            outcome = "timeout"
        else:
            code = os.waitstatus_to_exitcode(status)
            outcome = "survived" if code == 0 else "error" if code in (3, 4, 5) else "killed"
        self.cpu = usage.ru_utime + usage.ru_stime
        if self.mutant is not None:
            shutil.copyfile(
                SRC / "opentrain_mcp" / self.mutant.module, self.src / "opentrain_mcp" / self.mutant.module
            )
        self.pid = 0
        return outcome


def run(mutants: list[Mutant], jobs: int, base: Path) -> float:
    """Test every mutant (after a clean run of each test set, which must pass), ``jobs`` at a time.

    Returns the CPU seconds of the clean runs."""
    slots = [Slot(base, i) for i in range(jobs)]
    baselines: dict[tuple[str, ...], float] = {}
    clean_cpu = 0.0
    for tests in dict.fromkeys(m.tests for m in mutants):
        slots[0].start(None, tests, 600)
        while (outcome := slots[0].poll()) is None:
            time.sleep(0.05)
        if outcome != "survived":
            log_text = (slots[0].dir / "pytest.log").read_text()[-3000:]
            raise SystemExit(f"the unmutated code fails {' '.join(tests)} ({outcome}):\n{log_text}")
        baselines[tests] = time.monotonic() - slots[0].started
        clean_cpu += slots[0].cpu
        print(
            f"  clean run {baselines[tests]:5.1f} s ({slots[0].cpu:.1f} s CPU): {' '.join(tests)}", flush=True
        )
    try:
        _run_queue(mutants, slots, baselines)
    finally:
        for slot in slots:
            if slot.pid:
                os.killpg(slot.pid, signal.SIGKILL)
    return clean_cpu


def _run_queue(mutants: list[Mutant], slots: list[Slot], baselines: dict[tuple[str, ...], float]) -> None:
    queue = list(mutants)
    done = 0
    while queue or any(s.pid for s in slots):
        for slot in slots:
            if slot.pid:
                outcome = slot.poll()
                if outcome is None:
                    continue
                assert slot.mutant is not None
                slot.mutant.outcome, slot.mutant.cpu = outcome, slot.cpu
                if outcome == "error":
                    print((slot.dir / "pytest.log").read_text()[-2000:], file=sys.stderr)
                if outcome in ("survived", "error"):
                    print(f"  {outcome}: {slot.mutant.name}", flush=True)
                done += 1
                if done % 25 == 0:
                    print(f"  {done}/{len(mutants)} mutants tested", flush=True)
            if not slot.pid and queue:
                mutant = queue.pop(0)
                slot.start(mutant, mutant.tests, max(20.0, 4 * baselines[mutant.tests]))
        time.sleep(0.02)


def read_allowlist(path: Path) -> dict[str, str]:
    """``name -> reason`` from the allow-list; blank lines and ``#`` comments are ignored."""
    entries: dict[str, str] = {}
    if path.exists():
        for raw in path.read_text().splitlines():
            if raw.strip() and not raw.lstrip().startswith("#"):
                name, _, reason = raw.rpartition(" ## ")
                if not name or not reason.strip():
                    raise SystemExit(f"{path}: every line needs '<mutant> ## <why it is equivalent>': {raw}")
                entries[name.strip()] = reason.strip()
    return entries


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", default=[], help="targets whose module path contains this")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    p.add_argument("--list", action="store_true", help="print the mutants and exit")
    p.add_argument("--issue-mutants", action="store_true", help="test the hand-written mutants of issue #15")
    p.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so ``run`` stops its children on the way out
    started = time.monotonic()
    if args.issue_mutants:
        mutants = issue_mutants()
    else:
        targets = {m: t for m, t in TARGETS.items() if not args.only or any(o in m for o in args.only)}
        mutants = [m for module, (funcs, tests) in targets.items() for m in generate(module, funcs, tests)]
    if args.list:
        print("\n".join(m.name for m in mutants))
        return 0
    print(f"{len(mutants)} mutants, {args.jobs} at a time", flush=True)
    for module in ("pytest", "anyio", "httpx2", "pydantic", "mcp", "mcp.server", "starlette", "uvicorn"):
        __import__(module)  # imported once here, so each forked child starts warm
    with tempfile.TemporaryDirectory(prefix="opentrain-mutation-") as tmp:
        for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ[var] = tempfile.mkdtemp(dir=tmp)
        cpu = run(mutants, max(1, args.jobs), Path(tmp)) + sum(m.cpu for m in mutants)
    return report(mutants, read_allowlist(args.allowlist), (time.monotonic() - started, cpu), args)


def report(
    mutants: list[Mutant], allowed: dict[str, str], times: tuple[float, float], args: argparse.Namespace
) -> int:
    """Print the figures and the failures; return the exit status of the gate."""
    killed = [m for m in mutants if m.outcome in ("killed", "timeout")]
    survivors = [m for m in mutants if m.outcome == "survived"]
    errors = [m for m in mutants if m.outcome == "error"]
    equivalent = [m for m in survivors if m.name in allowed]
    new = [m for m in survivors if m.name not in allowed]
    judged = len(mutants) - len(equivalent)  # mutants that change behaviour, so a test must kill them
    rate = len(killed) / judged if judged else 1.0
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        json.dumps(
            [
                {
                    **{k: getattr(m, k) for k in ("module", "function", "before", "after", "outcome")},
                    "name": m.name,
                }
                for m in mutants
            ],
            indent=1,
        )
    )
    by_module: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_module.setdefault(m.module, []).append(m)
    for module, ms in by_module.items():
        k = sum(m.outcome in ("killed", "timeout") for m in ms)
        print(
            f"  {module:28} {len(ms):4} mutants  {k:4} killed  {sum(m.name in allowed for m in ms if m.outcome == 'survived'):3} equivalent"
        )
    print(
        f"{len(mutants)} mutants: {len(killed)} killed, {len(equivalent)} equivalent (allow-listed), "
        f"{len(new)} new survivors, {len(errors)} errors; mutation score {rate:.1%}; "
        f"{times[0]:.0f} s wall clock, {times[1]:.0f} s CPU in the test runs"
    )
    for m in new:
        print(f"SURVIVED  {m.name}")
    for m in errors:
        print(f"ERROR     {m.name}")
    if args.issue_mutants:
        return 1 if survivors or errors else 0
    if not args.only:
        names = {m.name for m in mutants}
        for stale in sorted(set(allowed) - names):
            print(f"note: allow-list entry matches no mutant any more (remove it): {stale}")
    if new or errors or rate < THRESHOLD:
        print(
            f"FAIL: mutation score must be >= {THRESHOLD:.0%} and every survivor allow-listed ({ALLOWLIST.relative_to(ROOT)})"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
