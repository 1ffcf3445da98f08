"""The release metadata, checked in every test run (the built artifacts themselves are checked by
``tests/release/release_checks.py`` after ``scripts/release.sh``, a step of ``.ci/run``): server.json against the
MCP Registry's published schema, the bundle manifest with the mcpb CLI, versions that agree, and the bundle's
entry point starting the server with the manifest's settings."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from mcp import Client, StdioServerParameters

from opentrain_mcp import __version__
from opentrain_mcp.server.app import ServerOptions
from tests.conftest import ROOT, need, node_bin
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio
SCHEMA = ROOT / "tests" / "release" / "server.schema.2025-12-11.json"
MANIFEST = ROOT / "packaging" / "mcpb" / "manifest.json"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def bundle_module() -> Any:
    spec = importlib.util.spec_from_file_location("bundle", ROOT / "scripts" / "bundle.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def registry_problems(server: dict[str, Any]) -> list[str]:
    """Every way ``server`` breaks the registry's published 2025-12-11 schema."""
    schema = load(SCHEMA)
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(server)]


def test_server_json_is_valid_for_the_registry_and_lists_the_pypi_package_and_the_bundle():
    server = load(ROOT / "server.json")
    assert registry_problems(server) == []
    assert server["$schema"] == load(SCHEMA)["$id"]
    assert server["version"] == __version__
    by_type = {p["registryType"]: p for p in server["packages"]}
    assert set(by_type) == {"pypi", "mcpb"}
    assert (by_type["pypi"]["identifier"], by_type["pypi"]["version"]) == ("opentrain-mcp", __version__)
    assert by_type["mcpb"]["identifier"].endswith(
        f"/v{__version__}/{bundle_module().bundle_name(__version__)}"
    )
    secret = {v["name"]: v["isSecret"] for v in by_type["pypi"]["environmentVariables"]}
    assert secret["OT_API_TOKEN"] is True


def test_the_schema_check_can_fail():
    server = load(ROOT / "server.json")
    server["description"] = "x" * 101
    server["packages"][1]["fileSha256"] = "not-a-hash"
    problems = registry_problems(server)
    assert any(p.startswith("description:") for p in problems)
    assert any(p.startswith("packages/1/fileSha256:") for p in problems)


def test_readme_carries_the_registry_name_and_claims_no_published_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    names = re.findall(r"mcp-name: (\S+)", readme)
    assert names == [load(ROOT / "server.json")["name"]], "the registry verifies a PyPI package by this line"
    for line in readme.splitlines():
        if re.search(r"(pip install|uvx) opentrain-mcp\b", line):
            assert "once" in line and "published" in line, f"claims a published package: {line}"


def test_the_manifest_asks_for_the_token_as_a_secret_and_offers_the_sandbox_and_the_policy():
    manifest = load(MANIFEST)
    assert manifest["version"] == __version__
    config = manifest["user_config"]
    token = config["opentrain_token"]
    assert (token["type"], token["sensitive"], token.get("required", False)) == ("string", True, False)
    assert config["sandbox"]["type"] == "boolean" and config["policy_file"]["type"] == "file"
    env = manifest["server"]["mcp_config"]["env"]
    assert env == {
        "OT_API_TOKEN": "${user_config.opentrain_token}",
        "OPENTRAIN_MCP_SANDBOX": "${user_config.sandbox}",
        "OPENTRAIN_MCP_POLICY": "${user_config.policy_file}",
    }


def test_mcpb_validates_the_manifest_as_checked_in_and_as_built(tmp_path):
    mcpb = node_bin("mcpb")
    need(mcpb, "the mcpb CLI is missing: run scripts/install-test-tools.sh")
    bundle = bundle_module()
    tools = [{"name": name, "description": name} for name in sorted(ServerOptions().wanted())]
    built = bundle.manifest(load(MANIFEST), tools)
    (tmp_path / "manifest.json").write_text(json.dumps(built))
    for path in (MANIFEST, tmp_path / "manifest.json"):
        proc = subprocess.run([str(mcpb), "validate", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    major, minor = sys.version_info[:2]
    assert built["compatibility"] == {
        "platforms": [sys.platform],
        "runtimes": {"python": f">={major}.{minor} <{major}.{minor + 1}"},
    }
    built["user_config"]["opentrain_token"]["type"] = "password"
    (tmp_path / "manifest.json").write_text(json.dumps(built))
    proc = subprocess.run(
        [str(mcpb), "validate", str(tmp_path / "manifest.json")], capture_output=True, timeout=60
    )
    assert proc.returncode != 0, "the validator rejects a broken manifest"


async def test_the_bundle_entry_point_starts_the_server_with_the_manifests_settings():
    """As a host runs it: the manifest's args and env, the sandbox switched on, the optional token and policy
    file left empty (one passed as "", one unreplaced); the packages come from this environment here."""
    config = load(MANIFEST)["server"]["mcp_config"]
    here = str(ROOT / "packaging" / "mcpb")
    args = [a.replace("${__dirname}", here) for a in config["args"]]
    values = {"${user_config.sandbox}": "true", "${user_config.opentrain_token}": ""}
    env = {name: values.get(value, value) for name, value in config["env"].items()}
    assert env["OPENTRAIN_MCP_POLICY"] == "${user_config.policy_file}"
    server = StdioServerParameters(command=sys.executable, args=args, env=clean_env(**env))
    async with Client(server, mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
        ready = (await c.call_tool("check_hiring_readiness", {})).structured_content
    assert names == ServerOptions().wanted()
    assert ready["checks"][0] == {
        "name": "token",
        "status": "ready",
        "detail": "Token accepted (from sandbox).",
    }
