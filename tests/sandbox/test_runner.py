"""The runner: `opentrain-mcp sandbox` (main), stdout hygiene, import hygiene, 500 envelope."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import httpx2
import pytest

from opentrain_mcp.sandbox.runner import is_loopback, main, running_sandbox

from .conftest import client_for, http_client
from .test_hire import assert_envelope


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("10.0.0.5", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_main_refuses_non_loopback_hosts(capsys):
    assert main(["--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_main_reports_a_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert main(["--port", str(busy.getsockname()[1])]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_main_serves_until_ctrl_c():
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from opentrain_mcp.sandbox.runner import main; sys.exit(main(sys.argv[1:]))",
         "--port", "0", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        api_base = next(line.split()[-1] for line in lines if "API base URL" in line)
        token = next(line.split()[-1] for line in lines if line.strip().startswith("Token:"))
        assert token.startswith("ot_pat_")
        assert (
            f"OPENTRAIN_API_BASE_URL={api_base.removesuffix('/api/public/v1')} OT_API_TOKEN={token} opentrain-mcp"
            in output
        )
        response = httpx2.get(f"{api_base}/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_running_sandbox_never_writes_to_stdout(capfd):
    with running_sandbox(seed=1) as sandbox:
        with http_client(sandbox.api_base_url) as client:
            client.get("/auth/me")
            client.get("/nope", headers={"Authorization": f"Bearer {sandbox.token}"})
        with http_client(sandbox.base_url) as web:
            web.post("/__sandbox__/faults", json={"kind": "drop"})
            with pytest.raises(httpx2.TransportError):
                web.get("/api/public/v1/auth/me")
            web.get("/")

        def boom(token):
            raise RuntimeError("sandbox test: simulated crash")

        sandbox.state.auth_me = boom  # type: ignore[method-assign]
        with client_for(sandbox, sandbox.token) as c:
            assert_envelope(c.get("/auth/me"), 500, "INTERNAL_ERROR")
    captured = capfd.readouterr()
    assert captured.out == ""
    assert "simulated crash" in captured.err


def test_imports_stay_light_and_independent():
    code = textwrap.dedent(
        """
        import sys
        import opentrain_mcp.sandbox
        assert "starlette" not in sys.modules and "uvicorn" not in sys.modules, "heavy import in __init__"
        import opentrain_mcp.sandbox.app, opentrain_mcp.sandbox.runner, opentrain_mcp.sandbox.state
        bad = [m for m in sys.modules if m == "mcp" or m.startswith(("mcp.", "opentrain_mcp.api", "opentrain_mcp.server"))]
        assert not bad, bad
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
