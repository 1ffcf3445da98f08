"""The human's pages resist DNS rebinding, framing and forged form posts (issue 10, item 15)."""

from __future__ import annotations

import re

import pytest

from .conftest import http_client


@pytest.fixture
def bare(sandbox):
    """An HTTP client that sends no ``Origin`` (curl, a script, some privacy settings)."""
    with http_client(sandbox.base_url) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/__sandbox__/fixtures"),
        ("POST", "/__sandbox__/reset"),
        ("GET", "/api/public/v1/jobs/mine"),
    ],
)
def test_a_rebound_host_is_refused(bare, method, path):
    response = bare.request(method, path, headers={"Host": "attacker.example:8787"})
    assert response.status_code == 421


def test_rebound_host_cannot_confirm(bare, api, hire, sandbox):
    approval = hire(0)
    port = sandbox.base_url.rsplit(":", 1)[1]
    response = bare.post(
        f"/approvals/{approval['id']}/confirm",
        headers={"Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"},
    )
    assert response.status_code == 421
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_loopback_names_on_the_same_port_are_served(bare, sandbox, name):
    port = sandbox.base_url.rsplit(":", 1)[1]
    assert bare.get("/", headers={"Host": f"{name}:{port}"}).status_code == 200


def test_pages_cannot_be_framed(web, hire):
    for path in ("/", hire(0)["approvalUrl"]):
        response = web.get(path)
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("action", ["confirm", "decline"])
def test_a_post_without_origin_needs_the_pages_token(bare, api, hire, action):
    approval = hire(0)
    refused = bare.post(f"/approvals/{approval['id']}/{action}", data={"payment_source": "card"})
    assert refused.status_code == 403 and "approval page" in refused.text
    forged = bare.post(f"/approvals/{approval['id']}/{action}", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"
    page = bare.get(approval["approvalUrl"]).text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert token, "the approval page embeds its form token"
    done = bare.post(
        f"/approvals/{approval['id']}/{action}", data={"csrf_token": token.group(1), "payment_source": "card"}
    )
    assert done.status_code == 303
    expected = "confirmed" if action == "confirm" else "declined"
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == expected


def test_another_pages_token_does_not_fit(bare, api, hire):
    first, second = hire(0), hire(1)
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', bare.get(first["approvalUrl"]).text)
    assert token
    response = bare.post(f"/approvals/{second['id']}/confirm", data={"csrf_token": token.group(1)})
    assert response.status_code == 403
