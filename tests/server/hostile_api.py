"""A hostile fake OpenTrain API: its own small server on a loopback port, answering with whatever a test sets.

Unlike the sandbox it never behaves well by accident: every answer is scripted per (method, path), and every
request is logged so tests can count upstream POSTs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PREFIX = "/api/public/v1"
TOKEN = "ot_pat_hostile_test_secret_0123456789"

Answer = tuple[int, Any] | Callable[[Request], tuple[int, Any]]


@dataclass
class HostileApi:
    """Scripted answers keyed by (METHOD, path under /api/public/v1); unscripted paths answer 404."""

    base_url: str = ""
    answers: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, *answers: Answer) -> None:
        """Queue answers for a path; the last one repeats forever."""
        with self.lock:
            self.answers[(method, path)] = list(answers)

    def posts(self) -> int:
        return sum(1 for method, _ in self.log if method == "POST")

    def count(self, method: str, path: str) -> int:
        return self.log.count((method, path))

    def approval_url(self, approval_id: str) -> str:
        return f"{self.base_url}/approvals/{approval_id}"

    def approval(self, approval_id: str = "ap1", **fields: Any) -> dict[str, Any]:
        """A well-formed pending hire approval, with ``fields`` overriding it."""
        return {
            "id": approval_id,
            "type": "proposal_hire",
            "status": "pending",
            "contractId": None,
            "milestoneId": None,
            "jobId": "job1",
            "proposalId": "prop1",
            "approvalUrl": self.approval_url(approval_id),
            "expiresAt": "2099-01-04T10:00:00.000Z",
            "resolvedAt": None,
            "result": None,
            "createdAt": "2099-01-01T10:00:00.000Z",
            **fields,
        }

    async def handle(self, request: Request) -> Response:
        path = request.url.path.removeprefix(PREFIX)
        with self.lock:
            self.log.append((request.method, path))
            queue = self.answers.get((request.method, path))
            answer = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else None
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": "no token", "code": "UNAUTHORIZED", "requestId": "r-auth"}, 401)
        if answer is None:
            return JSONResponse({"error": "Not found", "code": "NOT_FOUND", "requestId": "r-404"}, 404)
        status, body = answer(request) if callable(answer) else answer
        if isinstance(body, str):
            return Response(body, status, media_type="text/plain")
        return JSONResponse(body, status)


@contextlib.contextmanager
def running_hostile_api() -> Iterator[HostileApi]:
    """Serve a fresh ``HostileApi`` on 127.0.0.1 (an ephemeral port) in a background thread."""
    api = HostileApi()
    app = Starlette(routes=[Route("/{path:path}", api.handle, methods=["GET", "POST", "DELETE"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("hostile API did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    api.base_url = f"http://127.0.0.1:{port}"
    try:
        yield api
    finally:
        server.should_exit = True
        thread.join(timeout=5)
