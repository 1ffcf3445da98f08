"""Environment proxies: never for a loopback base URL (the token would go to the proxy), honoured for https."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import httpx2
import pytest

from opentrain_mcp.api import OpenTrainClient, RetryPolicy, TransportError
from tests.conftest import FAST_POLICY

pytestmark = pytest.mark.anyio


class RecordingProxy(socketserver.ThreadingTCPServer):
    """A proxy that records each request line and refuses it (502)."""

    daemon_threads = True
    lines: list[str]


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.server.lines.append(self.rfile.readline().decode("latin-1").strip())  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    server = RecordingProxy(("127.0.0.1", 0), _Handler)
    server.lines = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.shutdown()
    server.server_close()


async def test_loopback_base_url_never_uses_an_environment_proxy(sandbox, proxy):
    async with httpx2.AsyncClient() as plain:  # the variables are live: an ordinary client obeys them
        await plain.get(sandbox.base_url + "/api/public/v1/jobs/mine")
    assert len(proxy.lines) == 1
    async with OpenTrainClient(token=sandbox.token, base_url=sandbox.base_url, policy=FAST_POLICY) as client:
        assert "jobs" in await client.list_jobs()
    assert len(proxy.lines) == 1, "the bearer token went straight to the loopback API, not the proxy"


async def test_remote_https_still_honours_the_proxy_variables(proxy):
    # The proxy refuses at once; the timeouts only need room for a busy machine to schedule its thread.
    policy = RetryPolicy(request_timeout=20.0, connect_timeout=10.0, max_retries=0, budget=30.0)
    async with OpenTrainClient(
        token="ot_pat_x", base_url="https://api.opentrain.invalid", policy=policy
    ) as client:
        with pytest.raises(TransportError):
            await client.list_jobs()
    assert proxy.lines == ["CONNECT api.opentrain.invalid:443 HTTP/1.1"]
