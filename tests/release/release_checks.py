"""Checks of the built release artifacts, run by ``.ci/run`` right after ``scripts/release.sh`` (too slow for the
test command: a wheel build, a fresh venv, a bundle of every dependency):

    bash scripts/release.sh dist && OPENTRAIN_MCP_RELEASE_DIR=dist .venv/bin/python -m pytest tests/release/release_checks.py

The README's set-up demo command works in a copy of the repository; its install-from-the-artifacts command
installs the wheel into a fresh venv and ``opentrain-mcp demo`` runs from it; the bundle, unpacked, passes
``mcpb validate``, starts with its manifest's command and lists the manifest's tools over stdio; the release's
``server.json`` is valid for the registry and carries the bundle's SHA-256; ``SHA256SUMS`` matches every file.
The file name does not start with ``test_``, so the test command does not collect it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from opentrain_mcp import __version__
from tests.conftest import ROOT, need, node_bin
from tests.e2e.conftest import clean_env
from tests.test_readme import DEMO_COMMAND, readme_command
from tests.test_release import load, registry_problems

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def dist() -> Path:
    folder = os.environ.get("OPENTRAIN_MCP_RELEASE_DIR")
    need(folder, "OPENTRAIN_MCP_RELEASE_DIR is not set: build the artifacts with scripts/release.sh first")
    return Path(str(folder)).resolve()


def one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {dist}, found {found}"
    return found[0]


def test_the_sums_match_every_artifact(dist):
    listed = {}
    for line in (dist / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.strip()] = digest
    assert set(listed) == {p.name for p in dist.iterdir() if p.name != "SHA256SUMS"}
    for name, digest in listed.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name


def test_the_sdist_holds_the_source_and_the_wheel_the_package(dist):
    with tarfile.open(one(dist, "opentrain_mcp-*.tar.gz")) as sdist:
        names = sdist.getnames()
    root = f"opentrain_mcp-{__version__}"
    assert {f"{root}/pyproject.toml", f"{root}/README.md", f"{root}/src/opentrain_mcp/cli.py"} <= set(names)
    with zipfile.ZipFile(one(dist, f"opentrain_mcp-{__version__}-py3-none-any.whl")) as wheel:
        files = set(wheel.namelist())
    assert {
        "opentrain_mcp/sandbox/pages/approval_hire.html",
        "opentrain_mcp/server/ui/approval-card.html",
    } <= files


def test_the_readmes_wheel_command_installs_and_runs_the_demo(dist, tmp_path):
    """The README's install-from-the-artifacts command as written (a scratch HOME), then the demo from it."""
    assert dist.name == "dist", "the README's command installs from dist/"
    command = readme_command(r"^python3 -m venv ~/")
    home = tmp_path / "home"
    home.mkdir()
    env = clean_env(HOME=str(home))
    subprocess.run(["bash", "-c", command], check=True, timeout=600, cwd=dist.parent, env=env)
    script = home / ".opentrain-mcp" / "bin" / "opentrain-mcp"
    demo = subprocess.run([str(script), "demo"], capture_output=True, text=True, timeout=300, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Demo complete" in demo.stdout and f"{script} --sandbox" in demo.stdout


def test_the_readmes_demo_command_runs_in_a_fresh_copy(tmp_path):
    """The README's first set-up command as written, in a copy of the repository's tracked files (what a
    fresh clone holds), with only Python and pip."""
    copy = tmp_path / "opentrain-mcp"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    demo = subprocess.run(
        ["bash", "-c", DEMO_COMMAND], cwd=copy, capture_output=True, text=True, timeout=900, env=clean_env()
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "Demo complete" in demo.stdout


def unpacked(dist: Path, into: Path) -> tuple[Path, dict[str, Any]]:
    with zipfile.ZipFile(one(dist, "*.mcpb")) as bundle:
        bundle.extractall(into)
    return into, load(into / "manifest.json")


def test_the_bundle_validates_and_holds_this_version(dist, tmp_path):
    mcpb = node_bin("mcpb")
    need(mcpb, "the mcpb CLI is missing: run scripts/install-test-tools.sh")
    root, manifest = unpacked(dist, tmp_path)
    proc = subprocess.run(
        [str(mcpb), "validate", str(root / "manifest.json")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert manifest["version"] == __version__
    assert list((root / "server" / "lib").glob(f"opentrain_mcp-{__version__}.dist-info"))
    assert not (root / "server" / "lib" / "bin").exists(), "no console scripts with the build machine's paths"


async def test_the_unpacked_bundle_starts_with_the_manifests_command_and_lists_its_tools(dist, tmp_path):
    root, manifest = unpacked(dist, tmp_path)
    config = manifest["server"]["mcp_config"]
    config = {**config, **config.get("platform_overrides", {}).get(sys.platform, {})}
    command = shutil.which(config["command"])
    assert command, f"{config['command']} is not on PATH"
    wanted = manifest["compatibility"]["runtimes"]["python"]
    version = subprocess.run(
        [command, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    assert wanted.startswith(f">={version} "), f"{command} is Python {version}; the bundle needs {wanted}"
    values = {"${user_config.sandbox}": "true", "${user_config.opentrain_token}": ""}
    env = {k: values.get(v, v).replace("${__dirname}", str(root)) for k, v in config["env"].items()}
    args = [a.replace("${__dirname}", str(root)) for a in config["args"]]
    server = StdioServerParameters(command=command, args=args, env=clean_env(**env), cwd=str(tmp_path))
    async with Client(server, mode="legacy") as c:
        tools = [t.name for t in (await c.list_tools()).tools]
        hire = await c.call_tool("list_jobs", {})
    assert tools == [t["name"] for t in manifest["tools"]]
    assert not hire.is_error and hire.structured_content["jobs"], (
        "the bundled server answers from its sandbox"
    )


def test_the_releases_server_json_is_valid_and_pins_the_bundle(dist):
    server = load(dist / "server.json")
    assert registry_problems(server) == []
    bundle = one(dist, "*.mcpb")
    entry = next(p for p in server["packages"] if p["registryType"] == "mcpb")
    assert entry["identifier"].endswith("/" + bundle.name)
    assert entry["fileSha256"] == hashlib.sha256(bundle.read_bytes()).hexdigest()
