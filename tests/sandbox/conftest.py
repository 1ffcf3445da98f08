"""Fixtures for the sandbox tests: one sandbox per session over real loopback HTTP, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from opentrain_mcp.sandbox.runner import RunningSandbox, running_sandbox

MILESTONE = {
    "name": "First labeling batch",
    "description": "Label the first 5,000 posts per the guidelines",
    "amount": 300,
    "dueDate": "2026-07-01",
}


def hire_body(**changes: Any) -> dict[str, Any]:
    """A valid hire body; keyword arguments override milestone fields (``None`` removes one)."""
    milestone = dict(MILESTONE)
    for key, value in changes.items():
        if value is None:
            milestone.pop(key, None)
        else:
            milestone[key] = value
    return {"milestone": milestone}


def http_client(base_url: str, **kwargs: Any) -> httpx2.Client:
    """A plain-HTTP loopback client (``verify=False`` only skips loading CA certificates, ~50 ms each)."""
    return httpx2.Client(base_url=base_url, timeout=10, verify=False, **kwargs)


def client_for(sandbox: RunningSandbox, token: str | None) -> httpx2.Client:
    """An API client with ``token`` as bearer (no header when ``None``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http_client(sandbox.api_base_url, headers=headers)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    with running_sandbox(seed=0) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_state(sandbox: RunningSandbox) -> None:
    sandbox.state.reset()


@pytest.fixture
def fx(sandbox: RunningSandbox) -> dict[str, Any]:
    return sandbox.state.fixtures()


@pytest.fixture(scope="session")
def api(sandbox: RunningSandbox) -> Iterator[httpx2.Client]:
    with client_for(sandbox, sandbox.token) as client:
        yield client


@pytest.fixture(scope="session")
def controls(sandbox: RunningSandbox) -> Iterator[httpx2.Client]:
    with http_client(sandbox.base_url + "/__sandbox__") as client:
        yield client


@pytest.fixture(scope="session")
def web(sandbox: RunningSandbox) -> Iterator[httpx2.Client]:
    """A browser on the sandbox's pages: form posts carry the page's own ``Origin``, as browsers send it."""
    with http_client(sandbox.base_url, headers={"Origin": sandbox.base_url}) as client:
        yield client


@pytest.fixture
def hire(api: httpx2.Client, fx: dict[str, Any]) -> Any:
    """``hire(index_or_id=0, **milestone_changes)`` → the 202 approval JSON for a hireable proposal."""

    def do(proposal: int | str = 0, **changes: Any) -> dict[str, Any]:
        proposal_id = fx["proposals"]["hireable"][proposal] if isinstance(proposal, int) else proposal
        response = api.post(f"/proposals/{proposal_id}/hire", json=hire_body(**changes))
        assert response.status_code == 202, response.text
        return response.json()["approval"]

    return do
