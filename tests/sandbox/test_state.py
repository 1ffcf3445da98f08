"""SandboxState: determinism, ids, persistence across restarts, controls, thread safety."""

from __future__ import annotations

import concurrent.futures
import json
import re

import pytest

from opentrain_mcp.sandbox.runner import running_sandbox
from opentrain_mcp.sandbox.state import SandboxState

from .conftest import client_for, hire_body, http_client

ID = re.compile(r"^[a-z0-9]{25}$")
TOKEN = re.compile(r"^ot_pat_[a-z0-9]+_[A-Za-z0-9]+$")


def _stable(fixtures: dict) -> dict:
    return {k: v for k, v in fixtures.items() if k not in ("baseUrl", "apiBaseUrl")}


def test_same_seed_same_world_different_seed_different_world():
    a, b, c = SandboxState(seed=7), SandboxState(seed=7), SandboxState(seed=8)
    assert _stable(a.fixtures()) == _stable(b.fixtures())
    assert a.token == b.token and a.limited_token == b.limited_token
    assert a.token != c.token
    assert a.fixtures()["proposals"]["hireable"] != c.fixtures()["proposals"]["hireable"]
    # runtime ids are deterministic too
    ids = []
    for state in (a, b):
        token = state.authenticate(f"Bearer {state.token}")
        ids.append(
            state.hire(token, state.fixtures()["proposals"]["hireable"][0], json.dumps(hire_body()).encode())
        )
    assert ids[0]["approval"]["id"] == ids[1]["approval"]["id"]


def test_id_and_token_formats():
    fx = SandboxState(seed=3).fixtures()
    for token in (fx["token"], fx["limitedToken"], fx["foreignToken"]):
        assert TOKEN.match(token)
    ids = [fx["accountId"], *fx["jobs"].values(), *fx["proposals"]["hireable"], fx["proposals"]["notFit"]]
    assert all(ID.match(i) for i in ids)
    assert len(fx["proposals"]["hireable"]) >= 3


def test_base_url_is_settable_and_used_in_urls():
    state = SandboxState()
    state.base_url = "http://127.0.0.1:9999/"
    assert state.api_base_url == "http://127.0.0.1:9999/api/public/v1"
    token = state.authenticate(f"Bearer {state.token}")
    approval = state.hire(
        token, state.fixtures()["proposals"]["hireable"][0], json.dumps(hire_body()).encode()
    )
    assert approval["approval"]["approvalUrl"].startswith("http://127.0.0.1:9999/approvals/")


def test_state_file_survives_a_restart(tmp_path):
    path = tmp_path / "sandbox.json"
    with running_sandbox(state_file=path, seed=5) as first:
        fx = first.state.fixtures()
        with client_for(first, first.token) as api, http_client(first.base_url) as web:
            pending = api.post(f"/proposals/{fx['proposals']['hireable'][0]}/hire", json=hire_body()).json()[
                "approval"
            ]
            hired = api.post(f"/proposals/{fx['proposals']['hireable'][1]}/hire", json=hire_body()).json()[
                "approval"
            ]
            web.post(f"/__sandbox__/approvals/{hired['id']}/confirm")
            web.post("/__sandbox__/clock", json={"advanceSeconds": 3600})
            web.post("/__sandbox__/account", json={"creditsCents": 777})
            last_event = api.get("/updates", params={"limit": 200}).json()["nextCursor"]
    assert json.loads(path.read_text())["seed"] == 5
    with running_sandbox(state_file=path, seed=0) as second:  # the file wins over the seed argument
        assert second.token == first.token and second.base_url != first.base_url
        with client_for(second, second.token) as api:
            reread = api.get(f"/approvals/{pending['id']}").json()["approval"]
            assert reread["status"] == "pending"
            assert reread["approvalUrl"] == f"{second.base_url}/approvals/{pending['id']}"
            confirmed = api.get(f"/approvals/{hired['id']}").json()["approval"]
            assert confirmed["status"] == "confirmed"
            assert api.get(f"/contracts/{confirmed['contractId']}").status_code == 200
            assert api.get("/updates", params={"cursor": last_event}).json()["events"] == []
            new = api.post(f"/proposals/{fx['proposals']['hireable'][2]}/hire", json=hire_body()).json()[
                "approval"
            ]
            assert new["id"] not in (pending["id"], hired["id"])
        assert second.state.clock_info()["offsetSeconds"] == 3600
        assert second.state.account_info()["creditsCents"] == 777


def test_unreadable_state_file_is_an_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot load sandbox state file"):
        SandboxState(state_file=path)


def test_reset_control_reseeds(api, controls, hire, fx):
    approval = hire(0)
    controls.post("/clock", json={"advanceSeconds": 10})
    controls.post("/faults", json={"kind": "status"})
    reset = controls.post("/reset")
    assert reset.status_code == 200 and reset.json() == fx
    assert api.get(f"/approvals/{approval['id']}").status_code == 404
    assert controls.get("/clock").json()["offsetSeconds"] == 0
    assert controls.get("/faults").json() == []


def test_fixtures_control(controls, fx, sandbox):
    body = controls.get("/fixtures").json()
    assert body == fx
    assert body["apiBaseUrl"] == sandbox.api_base_url and body["token"] == sandbox.token
    assert set(body["proposals"]) >= {"hireable", "notFit", "alreadyHired", "foreign"}


def test_clock_control(controls):
    before = controls.get("/clock").json()
    after = controls.post("/clock", json={"advanceSeconds": 90}).json()
    assert after["offsetSeconds"] == 90 and after["now"] > before["now"]
    for bad in ({"advanceSeconds": -1}, {"advanceSeconds": "1"}, {}, None):
        assert controls.post("/clock", json=bad).status_code == 400


@pytest.mark.parametrize(
    "body", [{"claimed": "yes"}, {"creditsCents": -1}, {"features": {"nope": True}}, {"bogus": 1}, [1]]
)
def test_account_control_validation(controls, body):
    assert controls.post("/account", json=body).status_code == 400


def test_concurrent_identical_hires_yield_one_approval(sandbox, fx):
    url = f"/proposals/{fx['proposals']['hireable'][0]}/hire"

    def post(_: int) -> str:
        with client_for(sandbox, sandbox.token) as client:
            return client.post(url, json=hire_body()).json()["approval"]["id"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(post, range(16)))
    assert len(ids) == 1
    assert len(sandbox.state.approvals_overview()["pending"]) == 1
