"""Fault injection under `/api/public/v1` and the request log."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from .conftest import hire_body
from .test_hire import assert_envelope


def pending_count(sandbox) -> int:
    return len(sandbox.state.approvals_overview()["pending"])


def hire_url(fx) -> str:
    return f"/proposals/{fx['proposals']['hireable'][0]}/hire"


def test_status_fault_applies_before_processing(sandbox, api, controls, fx):
    fault = controls.post(
        "/faults", json={"path": "/hire", "method": "POST", "kind": "status", "status": 503}
    )
    assert fault.status_code == 201 and fault.json()["kind"] == "status"
    assert_envelope(api.post(hire_url(fx), json=hire_body()), 503, "INTERNAL_ERROR")
    assert pending_count(sandbox) == 0
    assert api.post(hire_url(fx), json=hire_body()).status_code == 202  # count 1 → consumed
    assert pending_count(sandbox) == 1


@pytest.mark.parametrize(
    ("status", "code"), [(500, "INTERNAL_ERROR"), (502, "INTERNAL_ERROR"), (409, "CONFLICT")]
)
def test_status_fault_codes(api, controls, status, code):
    controls.post("/faults", json={"kind": "status", "status": status})
    assert_envelope(api.get("/auth/me"), status, code)


def test_fault_matching_by_method_path_and_count(api, controls, fx):
    controls.post("/faults", json={"path": "/auth/me", "method": "POST", "kind": "status", "status": 500})
    assert api.get("/auth/me").status_code == 200  # method does not match
    controls.post(
        "/faults", json={"path": "/auth/me", "method": "get", "kind": "status", "status": 502, "count": 2}
    )
    assert api.get("/credits").status_code == 200  # path does not match
    assert [api.get("/auth/me").status_code for _ in range(3)] == [502, 502, 200]
    remaining = controls.get("/faults").json()
    assert [f["method"] for f in remaining] == ["POST"]
    assert controls.delete("/faults").json() == {"cleared": 1}
    assert controls.get("/faults").json() == []


def test_rate_limit_fault(api, controls):
    controls.post("/faults", json={"kind": "rate_limit", "retryAfter": 2})
    response = api.get("/auth/me")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert response.headers["Retry-After"] == "2"


def test_delay_fault_then_normal_processing(api, controls):
    controls.post("/faults", json={"kind": "delay", "delaySeconds": 0.3})
    started = time.monotonic()
    response = api.get("/auth/me")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.json()["actor"]


def test_malformed_fault(api, controls):
    controls.post("/faults", json={"kind": "malformed"})
    response = api.get("/auth/me")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    controls.post(
        "/faults",
        json={"kind": "malformed", "status": 502, "body": "upstream oops", "contentType": "text/plain"},
    )
    response = api.get("/auth/me")
    assert (response.status_code, response.text, response.headers["content-type"]) == (
        502,
        "upstream oops",
        "text/plain",
    )


def test_drop_fault_closes_the_connection_without_a_response(sandbox, api, controls, fx):
    controls.post("/faults", json={"path": "/hire", "kind": "drop"})
    with pytest.raises(httpx2.RemoteProtocolError):
        api.post(hire_url(fx), json=hire_body())
    assert pending_count(sandbox) == 0  # dropped before processing
    assert api.get("/auth/me").status_code == 200  # the client recovers on a new connection
    entry = next(e for e in controls.get("/requests").json() if e["path"].endswith("/hire"))
    assert entry["status"] is None and entry["fault"] == {
        "id": entry["fault"]["id"],
        "kind": "drop",
        "after": False,
    }


def test_drop_after_processing_then_retry_does_not_duplicate(sandbox, api, controls, fx):
    controls.post("/faults", json={"path": "/hire", "kind": "drop", "after": True})
    with pytest.raises(httpx2.RemoteProtocolError):
        api.post(hire_url(fx), json=hire_body())
    (pending,) = sandbox.state.approvals_overview()["pending"]  # the request took effect
    retry = api.post(hire_url(fx), json=hire_body())
    assert retry.status_code == 202
    assert retry.json()["approval"]["id"] == pending["approval"]["id"]
    assert pending_count(sandbox) == 1
    log = [e for e in controls.get("/requests").json() if e["path"].endswith("/hire")]
    assert log[0]["fault"]["processedStatus"] == 202 and log[0]["status"] is None
    assert log[1]["status"] == 202 and log[1]["fault"] is None


@pytest.mark.parametrize("kind", ["status", "malformed"])
def test_status_and_malformed_after_processing(sandbox, api, controls, fx, kind):
    controls.post("/faults", json={"path": "/hire", "kind": kind, "status": 500, "after": True})
    response = api.post(hire_url(fx), json=hire_body())
    assert response.status_code == 500
    assert pending_count(sandbox) == 1
    first = sandbox.state.approvals_overview()["pending"][0]["approval"]["id"]
    assert api.post(hire_url(fx), json=hire_body()).json()["approval"]["id"] == first


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "bogus"},
        {},
        {"kind": "status", "status": 200},
        {"kind": "status", "count": 0},
        {"kind": "rate_limit", "after": True},
        {"kind": "delay", "delaySeconds": -1},
        {"kind": "status", "method": 5},
        ["not", "an", "object"],
    ],
)
def test_invalid_fault_specs_are_400(controls, spec):
    response = controls.post("/faults", json=spec)
    assert response.status_code == 400 and response.json()["error"]


def test_faults_only_hit_the_api(controls, web):
    controls.post("/faults", json={"kind": "status", "status": 500})
    assert web.get("/").status_code == 200
    assert controls.get("/fixtures").status_code == 200
    assert controls.get("/faults").json()[0]["count"] == 1


def test_request_log(sandbox, api, controls, fx):
    api.post(hire_url(fx), json=hire_body())
    api.get(f"/jobs/{fx['jobs']['primary']}/proposals", params={"status": "HIRED", "limit": "5"})
    api.get("/approvals/nope")
    api.post(hire_url(fx), content=b"x" * 5000, headers={"Content-Type": "application/json"})
    controls.get("/fixtures")
    log = controls.get("/requests").json()
    assert [(e["method"], e["status"]) for e in log] == [
        ("POST", 202),
        ("GET", 200),
        ("GET", 404),
        ("POST", 400),
    ]
    hire_entry, list_entry, missing, big = log
    assert hire_entry["body"] == hire_body() and hire_entry["query"] == {} and hire_entry["requestId"] is None
    assert list_entry["query"] == {"status": "HIRED", "limit": "5"} and list_entry["body"] is None
    assert missing["requestId"] and len(missing["requestId"]) == 36
    assert big["body"] == "x" * 4096
    assert set(hire_entry) == {
        *("method", "path", "query", "body", "status", "at", "fault", "requestId"),
        *("headerNames", "userAgent", "authScheme"),
    }
    assert hire_entry["authScheme"] == "Bearer" and "authorization" in hire_entry["headerNames"]
    assert sandbox.token not in json.dumps(log), "the log keeps the Authorization scheme, never the token"
    assert controls.delete("/requests").json() == {"cleared": 4}
    assert controls.get("/requests").json() == []
