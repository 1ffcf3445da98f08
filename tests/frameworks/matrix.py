"""The framework matrix: one pinned venv per agent framework, one driver each, a table in docs/compatibility.md.

Run it with ``bash scripts/framework-matrix.sh`` (creates missing venvs under ``.cache/frameworks``, runs
every driver, rewrites the doc). ``tests/e2e/test_frameworks.py`` runs the drivers whose venvs exist.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENVS = ROOT / ".cache" / "frameworks"
DOC = ROOT / "docs" / "compatibility.md"
DRIVER_TIMEOUT = 300
STAMP = ".requirements"
INSTALL_SECONDS = ".install-seconds"
NOTES = [
    "What reaches the model: PydanticAI gives it the structured content; ADK the whole result (text and "
    "structured content, hence text that is a short summary, never a copy); the others the text. fastmcp's "
    "`.data` is typed from the output schema.",
    "Google ADK renders our approval card (MCP Apps) as a UI widget keyed by the LLM's function-call id; the "
    "driver gives each call one, as a real turn does (without it ADK's `UiWidget` refuses the call).",
    "Google ADK's `StdioConnectionParams(timeout=5)` and PydanticAI's `init_timeout=5` defaults also bound the "
    "server's start; on a loaded 2-core machine a stdio start (with the in-process sandbox) took 3.5-7 s, so "
    "those two drivers set 30 s. The OpenAI "
    "Agents SDK driver keeps its 5 s default: every call, `request_hire` included, answers within it.",
    "Against the server before issue #13 the same drivers fail: LangChain's Gemini converter rejects the three "
    "tools with `null` in an enum and makes the milestone's optional fields required, the Agents SDK serves "
    "`list_jobs`/`check_hiring_readiness` non-strict, fastmcp's typed `.data` has no nested fields, and "
    "google-genai's adapter crashes on `request_hire`'s boolean `additionalProperties` "
    "(https://github.com/googleapis/python-genai/issues/2393, still open; our schemas carry no "
    "`additionalProperties`).",
]


@dataclass
class Framework:
    name: str
    requirements: str = field(repr=False)

    @property
    def venv(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def driver(self) -> Path:
        return HERE / self.name / "driver.py"

    def ready(self) -> bool:
        """The venv exists and was built from the current requirements file."""
        stamp = self.venv / STAMP
        return self.python.exists() and stamp.exists() and stamp.read_text() == self.requirements


def frameworks() -> list[Framework]:
    return [
        Framework(req.parent.name, req.read_text())
        for req in sorted(HERE.glob("*/requirements.txt"))
        if (req.parent / "driver.py").exists()
    ]


def install(fw: Framework) -> float:
    """(Re)create the framework's venv from its pinned requirements; returns (and records) the seconds it took."""
    started = time.monotonic()
    shutil.rmtree(fw.venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(fw.venv)], check=True)
    pip = subprocess.run(
        [str(fw.python), "-m", "pip", "install", "-q", "-r", str(HERE / fw.name / "requirements.txt")],
        capture_output=True,
        text=True,
    )
    if pip.returncode != 0:
        raise RuntimeError(f"{fw.name}: pip install failed:\n{pip.stdout[-2000:]}{pip.stderr[-2000:]}")
    (fw.venv / STAMP).write_text(fw.requirements)
    seconds = time.monotonic() - started
    (fw.venv / INSTALL_SECONDS).write_text(f"{seconds:.0f}")
    return seconds


def install_seconds(fw: Framework) -> str:
    recorded = fw.venv / INSTALL_SECONDS
    return recorded.read_text() if recorded.exists() else "?"


def server_command() -> str:
    """Our console script, next to the interpreter running the matrix (the project's venv)."""
    return str(Path(sys.executable).with_name("opentrain-mcp"))


def run_driver(fw: Framework, server: str | None = None) -> dict[str, Any]:
    """Run one driver in its venv; its JSON report, plus the seconds it took."""
    env = {**os.environ, "OPENTRAIN_MCP_SERVER": server or server_command(), "PYTHONWARNINGS": "ignore"}
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [str(fw.python), str(fw.driver)], capture_output=True, text=True, timeout=DRIVER_TIMEOUT, env=env
        )
    except subprocess.TimeoutExpired:
        return _broken(fw, f"driver did not finish in {DRIVER_TIMEOUT} s", time.monotonic() - started)
    seconds = time.monotonic() - started
    try:
        report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return _broken(fw, f"exit {proc.returncode}; stderr: {proc.stderr[-800:]}", seconds)
    report["seconds"] = round(seconds, 1)
    report["name"] = fw.name
    return report


def _broken(fw: Framework, detail: str, seconds: float) -> dict[str, Any]:
    check = {"name": "driver produced a report", "ok": False, "detail": detail}
    return {
        "name": fw.name,
        "framework": fw.name,
        "versions": {},
        "ok": False,
        "checks": [check],
        "seconds": seconds,
    }


def _cell(report: dict[str, Any], prefix: str) -> str:
    found = [c for c in report["checks"] if c["name"].startswith(prefix)]
    if not found:
        return "—"
    mark = "✅" if all(c["ok"] for c in found) else "❌"
    names = [c["name"].removeprefix(prefix).strip() for c in found]
    return mark + " " + "; ".join(n[1:-1] if n.startswith("(") and n.endswith(")") else n for n in names)


def render(reports: list[dict[str, Any]]) -> str:
    lines = [
        "# Compatibility: agent frameworks",
        "",
        "Generated by `bash scripts/framework-matrix.sh` (see `tests/frameworks/`). Each framework runs in its own",
        "venv with the pins in `tests/frameworks/<name>/requirements.txt`, with no model and no network: its MCP",
        "client layer starts `opentrain-mcp --sandbox` over stdio, lists the tools, converts every tool with the",
        "framework's own converter (strict where it has one), runs list_jobs → list_proposals → request_hire →",
        "check_approval through the framework's tool objects, and checks that a tool error reaches the framework",
        "as an error.",
        "",
        "| Framework | Versions | Conversion | Hire flow | Tool error | Result |",
        "|---|---|---|---|---|---|",
    ]
    for r in reports:
        versions = ", ".join(f"{k} {v}" for k, v in r["versions"].items()) or "—"
        flow = [
            c
            for c in r["checks"]
            if c["name"] in ("list_jobs", "list_proposals", "request_hire", "check_approval")
        ]
        flow_cell = ("✅" if len(flow) == 4 and all(c["ok"] for c in flow) else "❌") + " 4 steps"
        result = (
            "pass" if r["ok"] else "**FAIL**: " + "; ".join(c["name"] for c in r["checks"] if not c["ok"])
        )
        lines.append(
            f"| {r['framework']} | {versions} | {_cell(r, 'every tool converts')} | {flow_cell} | "
            f"{_cell(r, 'tool error as')} | {result} |"
        )
    lines += [
        "",
        "Seconds on the CI machine size (2 cores, shared); install = last creation of the venv, no pip cache:",
        "",
        "| Driver | venv install | run |",
        "|---|---|---|",
    ]
    by_name = {fw.name: fw for fw in frameworks()}
    for r in reports:
        lines.append(f"| {r['name']} | {install_seconds(by_name[r['name']])} | {r['seconds']:.1f} |")
    extra = [c for r in reports for c in r["checks"] if c["name"].startswith("Gemini")]
    if extra:
        lines += [
            "",
            "Further checks: "
            + "; ".join(f"{c['name']} ({'ok' if c['ok'] else 'FAIL'})" for c in extra)
            + ".",
        ]
    lines += ["", "Notes:", "", *(f"- {note}" for note in NOTES)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", help="run only this framework (repeatable)")
    parser.add_argument(
        "--no-install", action="store_true", help="skip frameworks whose venv is missing or stale"
    )
    parser.add_argument("--install-only", action="store_true", help="create missing or stale venvs only")
    parser.add_argument("--jobs", type=int, default=1, help="venvs created at once")
    parser.add_argument("--no-doc", action="store_true", help=f"do not rewrite {DOC.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    chosen = [fw for fw in frameworks() if not args.only or fw.name in args.only]
    stale = [fw for fw in chosen if not fw.ready()]
    if stale and args.no_install:
        print(f"skipped, venv missing or stale: {', '.join(fw.name for fw in stale)}", file=sys.stderr)
        chosen = [fw for fw in chosen if fw.ready()]
    elif stale:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for fw, seconds in zip(stale, pool.map(install, stale), strict=True):
                print(f"{fw.name}: installed in {seconds:.0f} s", file=sys.stderr)
        print(f"venvs ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.install_only:
        return 0
    reports = []
    for fw in chosen:
        report = run_driver(fw)
        reports.append(report)
        print(
            f"{fw.name}: {'pass' if report['ok'] else 'FAIL'} in {report['seconds']:.1f} s", file=sys.stderr
        )
        for check in report["checks"]:
            if not check["ok"]:
                print(f"  FAILED {check['name']}: {check['detail']}", file=sys.stderr)
    if not args.no_doc and reports:
        DOC.write_text(render(reports))
    return 0 if reports and all(r["ok"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
