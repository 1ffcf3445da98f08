"""Time the README's test command and CI's steps; write the figures into docs/benchmarks.md.

Usage (from the repository root; standard library only, so the system ``python3`` runs it):

    bash scripts/suite-timing.sh            # the README test command from the warm .venv, 20 slowest tests
    bash scripts/suite-timing.sh --repeat 5 # ... and its pytest step 5 times in a row (flakiness check)
    bash scripts/suite-timing.sh --ci       # ... and `.ci/run` in a fresh clone of HEAD, step by step

Each step's wall time comes from the clock, its CPU time (user + system, every process it waited for) from the
kernel's accounting, and the machine's load average is read before and after it: on a shared machine the load
explains the spread. No test asserts a duration; this is where durations are recorded.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
START = "<!-- suite-timing:start -->"
END = "<!-- suite-timing:end -->"
README_STEPS = [
    ("python3 -m venv .venv", ["python3", "-m", "venv", ".venv"]),
    (".venv/bin/pip install -e '.[test]'", [".venv/bin/pip", "install", "-e", ".[test]"]),
]
PYTEST = ".venv/bin/python -m pytest"
SLOWEST = 20
MIN_CI_STEP = 1.0  # seconds; shorter `.ci/run` commands (cd, export, set) are summed into "other"


@dataclass
class Step:
    name: str
    wall: float
    cpu: float
    load_before: str
    load_after: str
    code: int = 0
    note: str = ""


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    ci_steps: list[Step] = field(default_factory=list)
    slowest: list[tuple[str, float]] = field(default_factory=list)
    repeats: list[Step] = field(default_factory=list)


def load() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_step(name: str, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Step:
    print(f"[{time.strftime('%H:%M:%S')}] {name} (load {load()})", file=sys.stderr, flush=True)
    before, cpu0, wall0 = load(), children_cpu(), time.monotonic()
    code = subprocess.run(argv, cwd=cwd, env=env).returncode
    step = Step(name, time.monotonic() - wall0, children_cpu() - cpu0, before, load(), code)
    print(f"  {step.wall:.0f} s wall, {step.cpu:.0f} s CPU, exit {code}", file=sys.stderr, flush=True)
    return step


def pytest_counts(junit: Path) -> str:
    """``"N passed, M skipped"`` (and failures or errors, if any) from a JUnit XML report."""
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    total, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
    failed, errors = int(suite.get("failures", 0)), int(suite.get("errors", 0))
    parts = [f"{total - skipped - failed - errors} passed", f"{skipped} skipped"]
    parts += [f"{failed} failed"] * bool(failed) + [f"{errors} errors"] * bool(errors)
    return ", ".join(parts)


def slowest_tests(junit: Path, count: int) -> list[tuple[str, float]]:
    """The ``count`` slowest tests (setup + call + teardown) in a JUnit XML report."""
    times = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        times.append((f"{module}.py::{case.get('name')}", float(case.get("time", 0))))
    return sorted(times, key=lambda t: -t[1])[:count]


def readme_command(report: Report, repeat: int) -> None:
    """The README's test command in this checkout: venv and install (warm), then pytest (``repeat`` times)."""
    for name, argv in README_STEPS:
        report.steps.append(run_step(name, argv, ROOT))
    with tempfile.TemporaryDirectory(prefix="suite-timing-") as tmp:
        for n in range(max(repeat, 1)):
            junit = Path(tmp) / f"junit-{n}.xml"
            step = run_step(PYTEST, [*PYTEST.split(), f"--junitxml={junit}"], ROOT)
            step.note = pytest_counts(junit) if junit.exists() else "no report"
            if n == 0:
                report.steps.append(step)
                report.slowest = slowest_tests(junit, SLOWEST) if junit.exists() else []
            report.repeats.append(step)


class CiTracer:
    """Runs ``bash -x .ci/run`` and times each top-level command from its trace line.

    Bash writes a trace line just before it runs a command; at that moment the commands before it have
    finished and bash has collected their CPU time (``/proc/PID/stat``: cutime, cstime).
    """

    def __init__(self, clone: Path) -> None:
        self.clone = clone
        self.marks: list[tuple[str, float, float, str]] = []  # (command, monotonic, bash CPU so far, load)

    def bash_cpu(self, pid: int) -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime

    def run(self) -> tuple[list[Step], int]:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "BASH_XTRACEFD": str(write_fd), "PS4": "+ ", "CI": "true"}
        started, load0 = time.monotonic(), load()
        proc = subprocess.Popen(
            ["bash", "-x", ".ci/run"], cwd=self.clone, env=env, pass_fds=(write_fd,), stdin=subprocess.DEVNULL
        )
        os.close(write_fd)
        reader = threading.Thread(target=self._read, args=(read_fd, proc.pid), daemon=True)
        reader.start()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join(10)
        ended = time.monotonic()
        total_cpu = usage.ru_utime + usage.ru_stime
        steps: list[Step] = []
        other = Step("other (set, cd, export)", 0.0, 0.0, load0, load())
        bounds = [*self.marks, ("", ended, total_cpu, load())]
        for (command, at, cpu, before), (_, next_at, next_cpu, after) in itertools.pairwise(bounds):
            step = Step(command, next_at - at, next_cpu - cpu, before, after)
            if step.wall < MIN_CI_STEP:
                other.wall += step.wall
                other.cpu += step.cpu
            else:
                steps.append(step)
        steps.append(other)
        steps.append(Step("**.ci/run total**", ended - started, total_cpu, load0, load(), proc.returncode))
        return steps, proc.returncode

    def _read(self, fd: int, pid: int) -> None:
        with os.fdopen(fd, errors="replace") as trace:
            for line in trace:
                if line.startswith("+ ") and not line.startswith("++"):  # top level only
                    try:
                        cpu = self.bash_cpu(pid)
                    except (OSError, IndexError):
                        continue
                    self.marks.append((line[2:].strip(), time.monotonic(), cpu, load()))


def ci_run(report: Report) -> None:
    """`.ci/run` in a fresh clone of HEAD (pip and npm caches as they are: warm on a developer's machine)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory(prefix="suite-timing-ci-") as tmp:
        clone = Path(tmp) / "opentrain-mcp"
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", head.stdout.strip()], cwd=clone, check=True)
        print(
            f"[{time.strftime('%H:%M:%S')}] .ci/run in {clone} (load {load()})", file=sys.stderr, flush=True
        )
        report.ci_steps, code = CiTracer(clone).run()
        artifacts = clone / "test-artifacts"
        if code and artifacts.exists():
            kept = ROOT / "test-artifacts" / "suite-timing-ci"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(artifacts, kept)
            print(f"  .ci/run failed (exit {code}); its test-artifacts copied to {kept}", file=sys.stderr)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s" if seconds >= 60 else f"{seconds:.1f} s"


def _table(steps: list[Step]) -> list[str]:
    lines = ["| Step | Wall | CPU (user+sys) | Load before → after | Result |", "|---|---|---|---|---|"]
    for s in steps:
        result = ("ok" if s.code == 0 else f"**exit {s.code}**") + (f": {s.note}" if s.note else "")
        name = s.name if s.name.startswith("**") else f"`{s.name[:90]}`"
        lines.append(
            f"| {name} | {_minutes(s.wall)} | {_minutes(s.cpu)} | {s.load_before} → {s.load_after} | {result} |"
        )
    return lines


def render(report: Report) -> str:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    lines = [
        START,
        "## 7. Test suite and CI timing",
        "",
        f"Generated by `bash scripts/suite-timing.sh{' --ci' if report.ci_steps else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores ({cpu}), Python "
        f"{platform.python_version()}. Targets (issue #25): the README test command at most 5 min from a warm "
        "venv, `.ci/run` at most 30 min with warm pip and npm caches. Load is the 1/5/15-minute load average; "
        "on a shared machine it explains most of the spread.",
        "",
        "### README test command (warm venv)",
        "",
        *_table(report.steps),
        f"| **total** | {_minutes(sum(s.wall for s in report.steps))} | "
        f"{_minutes(sum(s.cpu for s in report.steps))} | | |",
    ]
    if len(report.repeats) > 1:
        passed = sum(s.code == 0 for s in report.repeats)
        lines += [
            "",
            f"### The pytest step {len(report.repeats)} times in a row: {passed} of {len(report.repeats)} passed",
            "",
            *_table(
                [
                    Step(f"run {n}", s.wall, s.cpu, s.load_before, s.load_after, s.code, s.note)
                    for n, s in enumerate(report.repeats, 1)
                ]
            ),
        ]
    if report.slowest:
        lines += [
            "",
            f"### The {SLOWEST} slowest tests (setup + call + teardown, first run)",
            "",
            "| Test | Seconds |",
            "|---|---|",
        ]
        lines += [f"| `{name}` | {seconds:.1f} |" for name, seconds in report.slowest]
    if report.ci_steps:
        lines += ["", "### `.ci/run` in a fresh clone, step by step", "", *_table(report.ci_steps)]
    lines.append(END)
    return "\n".join(lines) + "\n"


SECTION = re.compile(re.escape(START) + ".*?" + re.escape(END) + "\n?", re.S)


def recorded_section(text: str) -> str:
    """This script's section of a benchmarks document ("" if none), for bench/run.py to keep when it rewrites."""
    found = SECTION.search(text)
    return found.group(0) if found else ""


def write_doc(section: str) -> None:
    text = DOC.read_text()
    text = (
        SECTION.sub(lambda _: section, text) if SECTION.search(text) else text.rstrip("\n") + "\n\n" + section
    )
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=1, help="run the pytest step this many times in a row")
    parser.add_argument("--ci", action="store_true", help="also time .ci/run in a fresh clone of HEAD")
    parser.add_argument("--no-doc", action="store_true", help=f"print the section; leave {DOC.name} alone")
    args = parser.parse_args(argv)
    report = Report()
    readme_command(report, args.repeat)
    if args.ci:
        ci_run(report)
    section = render(report)
    print(section)
    if not args.no_doc:
        write_doc(section)
        print(f"written to {DOC.relative_to(ROOT)}", file=sys.stderr)
    failed = [s for s in [*report.steps, *report.repeats, *report.ci_steps] if s.code]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
