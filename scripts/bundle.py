"""Build the MCP Bundle (``.mcpb``, one-click install in Claude Desktop) from a built wheel; ``scripts/release.sh``
runs it. Also writes ``server.json`` for the MCP Registry with the bundle's SHA-256.

The bundle is ``packaging/mcpb`` (manifest and entry point) plus the wheel and its dependencies installed into
``server/lib`` by this Python. Some dependencies are compiled (pydantic-core, cryptography, rpds, cffi), so a
bundle runs on the platform and Python minor version it was built on; the manifest's ``compatibility`` says
which, so a host refuses it elsewhere. The manifest's tool list is read from the server itself.

    python scripts/bundle.py --wheel dist/opentrain_mcp-0.1.0-py3-none-any.whl --out dist --mcpb 'npx @anthropic-ai/mcpb'
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "packaging" / "mcpb"
SERVER_JSON = ROOT / "server.json"


def bundle_name(version: str) -> str:
    return f"opentrain-mcp-{version}.mcpb"


async def default_tools() -> list[dict[str, str]]:
    """The tools a client lists from a server started with no options (what the bundle starts), in order."""
    from mcp import Client

    from opentrain_mcp.config import Settings
    from opentrain_mcp.server.app import build_server

    async with Client(build_server(Settings(), ledger_path=None)) as client:
        listed = (await client.list_tools()).tools
    return [{"name": t.name, "description": t.description or t.title or t.name} for t in listed]


def manifest(template: dict[str, Any], tools: list[dict[str, str]]) -> dict[str, Any]:
    """The template with the tool list and the platform and Python this bundle's compiled packages are for."""
    major, minor = sys.version_info[:2]
    return {
        **template,
        "tools": tools,
        "compatibility": {
            "platforms": [sys.platform],
            "runtimes": {"python": f">={major}.{minor} <{major}.{minor + 1}"},
        },
    }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def registry_entry(version: str, bundle: Path) -> dict[str, Any]:
    """``server.json`` for this release: the repository's, with the bundle's SHA-256 filled in."""
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    for package in server["packages"]:
        if package["registryType"] == "mcpb":
            package["fileSha256"] = sha256(bundle)
    return server


def build(wheel: Path, out: Path, mcpb: list[str]) -> Path:
    import anyio

    from opentrain_mcp import __version__

    template = json.loads((TEMPLATE / "manifest.json").read_text(encoding="utf-8"))
    if template["version"] != __version__:
        raise SystemExit(
            f"packaging/mcpb/manifest.json says {template['version']}, the package {__version__}"
        )
    with tempfile.TemporaryDirectory(prefix="opentrain-mcpb-") as tmp:
        stage = Path(tmp) / "opentrain-mcp"
        shutil.copytree(TEMPLATE, stage)
        lib = stage / "server" / "lib"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--target",
                str(lib),
                str(wheel),
            ],
            check=True,
        )
        shutil.rmtree(lib / "bin", ignore_errors=True)  # console scripts with this machine's paths in them
        written = manifest(template, anyio.run(default_tools))
        (stage / "manifest.json").write_text(json.dumps(written, indent=2) + "\n", encoding="utf-8")
        subprocess.run([*mcpb, "validate", str(stage / "manifest.json")], check=True)
        bundle = out / bundle_name(__version__)
        subprocess.run([*mcpb, "pack", str(stage), str(bundle)], check=True, stdout=subprocess.DEVNULL)
    entry = registry_entry(__version__, bundle)
    (out / "server.json").write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")
    return bundle


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wheel", type=Path, required=True, help="the wheel to bundle")
    parser.add_argument("--out", type=Path, required=True, help="folder for the .mcpb and server.json")
    parser.add_argument("--mcpb", default="mcpb", help="how to run the mcpb CLI (default: mcpb on PATH)")
    args = parser.parse_args()
    print(build(args.wheel.resolve(), args.out.resolve(), shlex.split(args.mcpb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
