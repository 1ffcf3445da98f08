"""The API client against the real sandbox over loopback HTTP: success, every typed error, retries."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest

from opentrain_mcp.api import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    MalformedResponseError,
    Milestone,
    NewMilestone,
    NotFoundError,
    OpenTrainClient,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    TransportError,
    normalize_base_url,
)
from opentrain_mcp.api.client import USER_AGENT, new_http_client
from opentrain_mcp.api.retry import shared_deadline
from tests.conftest import FAST_POLICY, Controls

pytestmark = pytest.mark.anyio
TERMS = Milestone(
    name="First labeling batch", description="Label 5,000 posts", amount=300, dueDate="2099-12-31"
)
NEW_BATCH = NewMilestone(
    name="Batch 2", description="Label 2,000 more posts", amountUsd=200, dueDate="2099-03-01"
)


def client_for(sandbox: Any, token: str | None = None, policy: RetryPolicy = FAST_POLICY) -> OpenTrainClient:
    return OpenTrainClient(token=token or sandbox.token, base_url=sandbox.base_url, policy=policy)


def hires(controls: Controls) -> list[dict[str, Any]]:
    return [r for r in controls.requests() if r["method"] == "POST" and r["path"].endswith("/hire")]


async def test_hire_returns_pending_approval_with_link(sandbox, controls, ids):
    proposal = ids["proposals"]["hireable"][0]
    async with client_for(sandbox) as ot:
        accepted = await ot.hire(proposal, TERMS)
        again = await ot.hire(proposal, TERMS)
        fetched = await ot.get_approval(accepted.approval.id)
    approval = accepted.approval
    assert approval.status == "pending" and approval.type == "proposal_hire"
    assert approval.proposalId == proposal and approval.contractId is None
    assert approval.approvalUrl == f"{sandbox.base_url}/approvals/{approval.id}"
    assert "human" in accepted.message
    assert again.approval.id == approval.id, "same terms must return the same approval"
    assert fetched.id == approval.id and fetched.status == "pending"
    sent = hires(controls)[0]
    assert sent["body"] == {"milestone": TERMS.to_wire()}, "confirmNotFitOverride is only sent when true"


async def test_user_agent_and_auth_header_are_sent(sandbox, controls, ids):
    async with client_for(sandbox) as ot:
        await ot.get_proposal(ids["proposals"]["hireable"][0])
    entry = controls.requests()[-1]
    assert entry["userAgent"] == USER_AGENT
    assert entry["authScheme"] == "Bearer" and "authorization" in entry["headerNames"]
    assert sandbox.token not in repr(entry), "the request log must never hold the token"


async def test_different_terms_supersede(sandbox, controls, ids):
    proposal = ids["proposals"]["hireable"][0]
    async with client_for(sandbox) as ot:
        first = await ot.hire(proposal, TERMS)
        second = await ot.hire(proposal, Milestone(**{**TERMS.model_dump(), "amount": 350}))
        old = await ot.get_approval(first.approval.id)
    assert second.approval.id != first.approval.id
    assert old.status != "pending"


async def test_typed_errors_carry_status_code_request_id_details(sandbox, controls, ids):
    async with client_for(sandbox) as ot:
        with pytest.raises(NotFoundError) as missing:
            await ot.get_approval("doesnotexist")
        with pytest.raises(ConflictError) as hired:
            await ot.hire(ids["proposals"]["alreadyHired"], TERMS)
        with pytest.raises(ConflictError) as not_fit:
            await ot.hire(ids["proposals"]["notFit"], TERMS)
        override = await ot.hire(ids["proposals"]["notFit"], TERMS, confirm_not_fit_override=True)
        with pytest.raises(PermissionDeniedError) as foreign:
            await ot.hire(ids["proposals"]["foreign"], TERMS)
    assert missing.value.status == 404 and missing.value.code == "NOT_FOUND" and missing.value.request_id
    assert missing.value.details.get("resource") == "approvals"
    assert hired.value.reason == "already_accepted"
    assert not_fit.value.reason == "not_fit_confirmation_required"
    assert override.approval.status == "pending"
    assert foreign.value.status == 403
    assert hires(controls)[-2]["body"]["confirmNotFitOverride"] is True


async def test_claim_payment_scope_and_auth_errors(sandbox, controls, ids):
    proposal = ids["proposals"]["hireable"][1]
    async with client_for(sandbox) as ot:
        controls.account(claimed=False)
        with pytest.raises(PermissionDeniedError) as claim:
            await ot.hire(proposal, TERMS)
        controls.account(claimed=True, paymentMethod=False, creditsCents=0)
        with pytest.raises(ConflictError) as billing:
            await ot.hire(proposal, TERMS)
    async with client_for(sandbox, token=ids["limitedToken"]) as limited:
        with pytest.raises(PermissionDeniedError) as scope:
            await limited.hire(proposal, TERMS)
    async with client_for(sandbox, token="ot_pat_nope_nope") as bad:
        with pytest.raises(AuthenticationError) as unauth:
            await bad.get_approval("abc")
    assert claim.value.reason == "account_claim_required" and claim.value.claim_url
    assert billing.value.reason == "payment_method_required" and billing.value.billing_url
    assert "proposals:write" in scope.value.required_scopes
    assert unauth.value.status == 401 and unauth.value.code == "UNAUTHORIZED"


async def test_local_validation_never_reaches_the_api(sandbox, controls):
    async with client_for(sandbox) as ot:
        for bad in ["", "a/b", "a?b", "a#b", "a%2Fb", "a b", "..", "a..b", "x" * 129]:
            with pytest.raises(ValueError):
                await ot.hire(bad, TERMS)
            with pytest.raises(ValueError):
                await ot.get_approval(bad)
    assert controls.requests() == []


def test_milestone_rules():
    ok = Milestone(description="only a description", amount=12.5, dueDate="2096-02-29")
    assert ok.to_wire() == {"description": "only a description", "amount": 12.5, "dueDate": "2096-02-29"}
    for bad in [
        {"amount": 10},
        {"name": "  ", "description": "", "amount": 10},
        {"name": "x", "amount": 0},
        {"name": "x", "amount": -1},
        {"name": "x", "amount": float("inf")},
        {"name": "x", "amount": "300"},
        {"name": "x", "amount": True},
        {"name": "x", "amount": 1.005},
        {"name": "x", "amount": 10, "dueDate": "2026-02-30"},
        {"name": "x", "amount": 10, "dueDate": "31/12/2026"},
        {"name": "x", "amount": 10, "extra": 1},
    ]:
        with pytest.raises(ValueError):
            Milestone.model_validate(bad)


def test_base_url_rules():
    assert normalize_base_url("https://app.opentrain.ai/") == "https://app.opentrain.ai"
    assert normalize_base_url("https://app.opentrain.ai/api/public/v1") == "https://app.opentrain.ai"
    assert normalize_base_url("http://127.0.0.1:8787") == "http://127.0.0.1:8787"
    assert normalize_base_url("http://localhost:3000") == "http://localhost:3000"
    for bad in [
        "http://app.opentrain.ai",
        "ftp://x",
        "https://x/other",
        "nope",
    ]:
        with pytest.raises(ConfigurationError):
            normalize_base_url(bad)


def test_base_url_with_credentials_a_query_or_a_fragment_is_refused_and_says_why():
    """Userinfo would travel with every request; a query or fragment would be dropped without a word."""
    for bad in [
        "https://u:p@app.opentrain.ai",
        "https://u@app.opentrain.ai",
        "https://:p@app.opentrain.ai",
        "https://app.opentrain.ai?token=ot_pat_x",
        "https://app.opentrain.ai/#frag",
    ]:
        with pytest.raises(ConfigurationError) as err:
            normalize_base_url(bad)
        assert err.value.message == f"base URL {bad!r} must not contain credentials, a query or a fragment"


async def test_no_token_is_a_configuration_error(sandbox, controls):
    async with OpenTrainClient(token=None, base_url=sandbox.base_url) as ot:
        with pytest.raises(ConfigurationError):
            await ot.get_approval("abc")
    assert controls.requests() == []


async def test_token_never_in_repr_or_errors(sandbox, controls):
    async with client_for(sandbox) as ot:
        assert sandbox.token not in repr(ot)
        with pytest.raises(NotFoundError) as err:
            await ot.get_approval("missing1")
    assert sandbox.token not in str(err.value) and sandbox.token not in repr(err.value)


# --- retries and budgets (the sandbox injects the faults) ------------------------------------------


async def test_retries_transient_failures_then_succeeds(sandbox, controls, ids):
    controls.fault(path="/hire", count=2, kind="status", status=503)
    async with client_for(sandbox) as ot:
        accepted = await ot.hire(ids["proposals"]["hireable"][0], TERMS)
    assert accepted.approval.status == "pending"
    assert [r["status"] for r in hires(controls)] == [503, 503, 202]


@pytest.mark.parametrize(
    ("status", "retried"), [(429, True), (502, True), (503, True), (504, True), (500, False)]
)
async def test_which_statuses_are_retried(sandbox, controls, ids, status, retried):
    kind = {"kind": "rate_limit", "retryAfter": 0} if status == 429 else {"kind": "status", "status": status}
    controls.fault(path="/proposals/", count=1, **kind)
    async with client_for(sandbox) as ot:
        if retried:
            await ot.get_proposal(ids["proposals"]["hireable"][0])
        else:
            with pytest.raises(ServerError):
                await ot.get_proposal(ids["proposals"]["hireable"][0])
    assert [r["status"] for r in controls.requests()] == ([status, 200] if retried else [status])


async def test_budget_ends_a_call_that_keeps_timing_out(sandbox, controls):
    controls.fault(path="/approvals/", count=20, kind="delay", delaySeconds=1.0)
    policy = RetryPolicy(
        request_timeout=0.4,
        connect_timeout=0.4,
        backoff_base=0.01,
        backoff_cap=0.01,
        budget=2.0,
        max_retries=10,
    )
    async with client_for(sandbox, policy=policy) as ot:
        with pytest.raises(TransportError):
            await ot.get_approval("abc123")
    assert 2 <= len(controls.requests()) <= 5, "tries stop when the 2 s budget is spent, not after 11"


async def test_lost_response_then_retry_yields_one_approval(sandbox, controls, ids):
    proposal = ids["proposals"]["hireable"][0]
    controls.fault(path="/hire", count=1, kind="drop", after=True)
    async with client_for(sandbox) as ot:
        accepted = await ot.hire(proposal, TERMS)
        again = await ot.hire(proposal, TERMS)
    assert accepted.approval.id == again.approval.id
    assert len(hires(controls)) == 3, "dropped + retried + repeat"


async def test_gives_up_after_two_retries(sandbox, controls, ids):
    controls.fault(path="/approvals/", count=5, kind="status", status=502)
    async with client_for(sandbox) as ot:
        with pytest.raises(ServerError) as err:
            await ot.get_approval("abc123")
    assert err.value.status == 502
    assert len(controls.requests()) == 3


async def test_rate_limit_honours_retry_after_within_budget(sandbox, controls, ids):
    controls.fault(path="/proposals/", count=1, kind="rate_limit", retryAfter=1)
    async with client_for(sandbox) as ot:
        await ot.get_proposal(ids["proposals"]["hireable"][0])
    statuses = [r["status"] for r in controls.requests()]
    assert statuses == [429, 200]


async def test_rate_limit_longer_than_budget_is_reported_not_slept(sandbox, controls):
    controls.fault(path="/approvals/", count=1, kind="rate_limit", retryAfter=120)
    async with client_for(sandbox) as ot:
        with pytest.raises(RateLimitError) as err:
            await ot.get_approval("abc123")
    assert err.value.retry_after == 120 and "the API asked to wait 120 s" in err.value.message
    assert len(controls.requests()) == 1


async def test_timeouts_are_retried_then_reported(sandbox, controls):
    controls.fault(path="/approvals/", count=5, kind="delay", delaySeconds=1.0)
    policy = RetryPolicy(
        request_timeout=0.3, connect_timeout=0.3, backoff_base=0.01, backoff_cap=0.02, budget=3
    )
    async with client_for(sandbox, policy=policy) as ot:
        with pytest.raises(TransportError) as err:
            await ot.get_approval("abc123")
    assert "timed out" in err.value.message
    assert err.value.may_have_reached_server, "a timed-out request may have been acted on"


async def test_lost_connection_may_have_reached_the_server(sandbox, controls, ids):
    controls.fault(path="/hire", count=5, kind="drop", after=True)
    async with client_for(sandbox) as ot:
        with pytest.raises(TransportError) as err:
            await ot.hire(ids["proposals"]["hireable"][0], TERMS)
    assert err.value.may_have_reached_server
    assert len(hires(controls)) == 3, "a lost answer is retried like a timeout, within max_retries"


async def test_refused_connection_never_reached_the_server():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with OpenTrainClient(
        token="ot_pat_x_y", base_url=f"http://127.0.0.1:{port}", policy=FAST_POLICY
    ) as ot:
        with pytest.raises(TransportError) as err:
            await ot.hire("prop1", TERMS)
    assert err.value.may_have_reached_server is False
    assert "connection failed" in err.value.message and "ot_pat_x_y" not in err.value.message


async def test_malformed_bodies_are_typed(sandbox, controls, ids):
    controls.fault(path="/approvals/", count=1, kind="malformed")
    async with client_for(sandbox) as ot:
        with pytest.raises(MalformedResponseError):
            await ot.get_approval("abc123")
        controls.fault(
            path="/hire", count=1, kind="malformed", status=202, body='{"message": "no approval here"}'
        )
        with pytest.raises(MalformedResponseError):
            await ot.hire(ids["proposals"]["hireable"][2], TERMS)


async def test_bad_request_issues_are_exposed(sandbox, controls, ids):
    async with client_for(sandbox) as ot:
        # bypass local validation to see the API's own 400 shape
        with pytest.raises(BadRequestError) as err:
            await ot._call(
                "POST",
                f"/proposals/{ids['proposals']['hireable'][0]}/hire",
                json={"milestone": {"name": "x"}},
                ok=(202,),
            )
    assert err.value.issues and any("amount" in str(i.get("path")) for i in err.value.issues)


async def test_an_error_status_without_an_error_body_keeps_its_type(sandbox, controls):
    controls.fault(path="/approvals/", count=1, kind="malformed", status=400, body="<html>Bad Request</html>")
    async with client_for(sandbox) as ot:
        with pytest.raises(BadRequestError) as err:
            await ot.get_approval("abc123")
    assert err.value.status == 400 and "without an OpenTrain error body" in err.value.message


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (300, "<html>choose</html>", "GET /approvals/abc123: unexpected redirect (HTTP 300); not followed"),
        (204, "", "GET /approvals/abc123: unexpected HTTP 204"),
        (302, '{"error": "Moved"}', "GET /approvals/abc123: unexpected HTTP 302"),
        (299, "", "GET /approvals/abc123: unexpected HTTP 299"),
        (399, "", "GET /approvals/abc123: unexpected redirect (HTTP 399); not followed"),
        (399, '{"error": "Moved"}', "GET /approvals/abc123: unexpected HTTP 399"),
    ],
)
async def test_answers_outside_the_contract_are_named(sandbox, controls, status, body, message):
    ctype = "application/json" if body.startswith("{") else "text/html"
    controls.fault(path="/approvals/", kind="malformed", status=status, body=body, contentType=ctype)
    async with client_for(sandbox) as ot:
        with pytest.raises(MalformedResponseError) as err:
            await ot.get_approval("abc123")
    assert err.value.message.startswith(message) and err.value.status == status


async def test_query_parameters_are_sent_only_when_given(sandbox, controls, ids):
    async with client_for(sandbox) as ot:
        hired = await ot.list_proposals(ids["jobs"]["primary"], status="HIRED", limit=5)
        everything = await ot.list_proposals(ids["jobs"]["primary"])
    assert [p["id"] for p in hired["proposals"]] == [ids["proposals"]["alreadyHired"]]
    assert len(everything["proposals"]) > 1
    assert [e["query"] for e in controls.requests()] == [{"status": "HIRED", "limit": "5"}, {}]


class _Recorded(http.server.BaseHTTPRequestHandler):
    """Answers every GET with ``self.server.answer``: (status, headers); records what arrived."""

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))  # type: ignore[attr-defined]
        status, headers = self.server.answer  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in {**headers, "Content-Length": "0"}.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def recording_server(status: int, headers: dict[str, str]) -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorded)
    server.seen, server.answer = [], (status, headers)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_redirects_are_never_followed():
    """A redirect could carry the token to another host: it is reported, and the other host sees nothing."""
    with recording_server(200, {}) as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.server_address[1]}/stolen"
        with recording_server(302, {"Location": target}) as api:
            base = f"http://127.0.0.1:{api.server_address[1]}"
            async with OpenTrainClient(token="ot_pat_x_y", base_url=base, policy=FAST_POLICY) as ot:
                with pytest.raises(MalformedResponseError) as err:
                    await ot.get_approval("abc123")
    assert err.value.message == "GET /approvals/abc123: unexpected redirect (HTTP 302); not followed"
    assert [path for path, _ in api.seen] == ["/api/public/v1/approvals/abc123"]
    assert elsewhere.seen == []


@pytest.mark.parametrize("status", [204, 302])
async def test_an_unexpected_answer_keeps_its_request_id(status):
    """The id is what OpenTrain support needs to trace the odd answer; the error text shows it."""
    with recording_server(status, {"x-request-id": "req_odd1"}) as api:
        base = f"http://127.0.0.1:{api.server_address[1]}"
        async with OpenTrainClient(token="ot_pat_x_y", base_url=base, policy=FAST_POLICY) as ot:
            with pytest.raises(MalformedResponseError) as err:
                await ot.get_approval("abc123")
    assert err.value.status == status and err.value.request_id == "req_odd1"


async def test_only_a_loopback_api_that_says_so_counts_as_the_sandbox(sandbox):
    """The approval card's "Sandbox: simulated OpenTrain, no real hire or money" note rests on this flag."""
    async with client_for(sandbox) as ot:
        assert not ot.sandbox_seen
        await ot.me()
        assert ot.sandbox_seen
    for headers in ({}, {"x-opentrain-sandbox": "0"}):
        with recording_server(404, headers) as api:
            base = f"http://127.0.0.1:{api.server_address[1]}"
            async with OpenTrainClient(token="ot_pat_x_y", base_url=base, policy=FAST_POLICY) as other:
                with pytest.raises(NotFoundError):
                    await other.get_approval("abc123")
        assert not other.sandbox_seen, headers


async def test_a_wait_that_would_overrun_the_budget_is_reported_at_once(sandbox, controls):
    """Retry-After 3 s with 3 s of budget left: sleeping would end the call with nothing to show."""
    controls.fault(path="/approvals/", count=5, kind="rate_limit", retryAfter=3)
    policy = RetryPolicy(
        request_timeout=1.0, connect_timeout=1.0, backoff_base=0.05, backoff_cap=0.1, budget=3.0
    )
    async with client_for(sandbox, policy=policy) as ot:
        with pytest.raises(RateLimitError) as err:
            await ot.get_approval("abc123")
    assert "the API asked to wait 3 s" in err.value.message
    assert len(controls.requests()) == 1


async def test_library_conveniences(sandbox, controls, ids, caplog):
    """repr says whether a token is set; dict terms work; own connections close, shared ones stay open."""
    assert "token=set" in repr(client_for(sandbox)) and "token=missing" in repr(OpenTrainClient(token=None))
    shared = httpx2.AsyncClient()
    caplog.set_level(logging.INFO, logger="opentrain_mcp.api")
    async with (
        client_for(sandbox) as own,
        OpenTrainClient(
            token=sandbox.token, base_url=sandbox.base_url, http=shared, policy=FAST_POLICY
        ) as borrowing,
    ):
        accepted = await own.hire(ids["proposals"]["hireable"][0], TERMS.to_wire())
        contracts = await borrowing.list_contracts()
        with pytest.raises(ValueError):
            await borrowing.list_contracts(job_id="a/b")
    assert accepted.approval.status == "pending" and contracts["contracts"]
    assert own.http.is_closed and not shared.is_closed
    await shared.aclose()
    assert [e["path"] for e in controls.requests()][-1] == "/api/public/v1/contracts"
    assert re.search(r"POST /proposals/\w+/hire -> 202 \(\d+ ms, requestId=", caplog.text), caplog.text


async def test_a_hire_answer_about_another_proposal_is_refused(sandbox, controls, ids):
    proposal, other = ids["proposals"]["hireable"][0], ids["proposals"]["hireable"][1]
    approval = {"id": "apr1", "type": "proposal_hire", "status": "pending", "proposalId": other}
    body = json.dumps({"message": "A human must confirm.", "approval": approval})
    controls.fault(path="/hire", kind="malformed", status=202, body=body, contentType="application/json")
    async with client_for(sandbox) as ot:
        with pytest.raises(MalformedResponseError) as err:
            await ot.hire(proposal, TERMS)
    assert "different proposal" in err.value.message and proposal in err.value.message


async def test_a_shared_deadline_bounds_every_call_inside_and_nesting_never_extends_it(
    sandbox, controls, ids
):
    """A tool call's budget holds for every request in it, even when an inner step opens its own, longer one."""
    proposal = ids["proposals"]["hireable"][0]
    async with client_for(sandbox) as ot:
        with shared_deadline(30):
            assert (await ot.get_proposal(proposal))["proposal"]["id"] == proposal
        controls.fault(path="/proposals/", count=1, kind="delay", delaySeconds=2.0)
        with shared_deadline(0.5), shared_deadline(30), pytest.raises(TransportError) as err:
            await ot.get_proposal(proposal)
    assert "timed out" in err.value.message


async def test_a_spent_shared_budget_sends_nothing_more(sandbox, controls, ids):
    """Once a tool call's budget is spent (here by a slow first request), its next request is not even sent."""
    proposal = ids["proposals"]["hireable"][0]
    controls.fault(path="/proposals/", count=1, kind="delay", delaySeconds=4.0)
    async with client_for(sandbox) as ot:
        with shared_deadline(1.0):
            with pytest.raises(TransportError):
                await ot.get_proposal(proposal)
            with pytest.raises(TransportError) as err:
                await ot.get_approval("abc123")
    assert err.value.message.startswith("GET /approvals/abc123: no answer within the")
    assert err.value.message.endswith("budget after 0 tries")
    for _ in range(100):  # a busy machine's sandbox thread may log the first request's arrival late
        if controls.requests():
            break
        await anyio.sleep(0.1)
    assert [r["path"] for r in controls.requests()] == [f"/api/public/v1/proposals/{proposal}"]


# --- answers the contract allows, and the ones it does not ------------------------------------------


def _approval(kind: str, **target: str) -> dict[str, Any]:
    return {
        "message": "A human must confirm.",
        "approval": {"id": "apr1", "type": kind, "status": "pending", **target},
    }


@pytest.mark.parametrize("status", [200, 201, 202])
@pytest.mark.parametrize("action", ["hire", "fund", "approve"])
async def test_every_success_status_the_contract_allows_is_accepted(sandbox, controls, ids, action, status):
    """OpenTrain may answer a request for approval with 200, 201 or 202; each yields the pending approval."""
    proposal, milestone = ids["proposals"]["hireable"][0], "ms1"
    body = {
        "hire": _approval("proposal_hire", proposalId=proposal),
        "fund": _approval("milestone_fund", milestoneId=milestone),
        "approve": _approval("milestone_approve", milestoneId=milestone),
    }[action]
    controls.fault(
        path=f"/{action}",
        kind="malformed",
        status=status,
        body=json.dumps(body),
        contentType="application/json",
    )
    async with client_for(sandbox) as ot:
        call = {
            "hire": lambda: ot.hire(proposal, TERMS),
            "fund": lambda: ot.fund_milestone(milestone),
            "approve": lambda: ot.approve_milestone(milestone),
        }[action]
        accepted = await call()
    assert accepted.approval.id == "apr1" and accepted.approval.status == "pending"


@pytest.mark.parametrize("status", [200, 201])
async def test_a_created_milestone_is_accepted_with_200_or_201(sandbox, controls, ids, status):
    body = {"milestone": {"id": "ms9", "status": "NOT_FUNDED", "amountUsd": 200}}
    controls.fault(
        path="/milestones",
        method="POST",
        kind="malformed",
        status=status,
        body=json.dumps(body),
        contentType="application/json",
    )
    async with client_for(sandbox) as ot:
        created = await ot.create_milestone(ids["contracts"]["alreadyHired"], NEW_BATCH)
    assert created.id == "ms9" and created.status == "NOT_FUNDED"


@pytest.mark.parametrize("body", [{}, {"ok": False}, {"ok": True, "contractId": "someOtherContract"}])
async def test_an_end_contract_answer_that_does_not_say_ended_is_refused(sandbox, controls, ids, body):
    """Reporting a contract as ended needs the API to say so, for this contract."""
    contract = ids["contracts"]["alreadyHired"]
    controls.fault(
        path="/end", kind="malformed", status=200, body=json.dumps(body), contentType="application/json"
    )
    async with client_for(sandbox) as ot:
        with pytest.raises(MalformedResponseError) as err:
            await ot.end_contract(contract)
    assert "neither an approval nor ok" in err.value.message


async def test_a_rate_limited_milestone_creation_is_retried_once_it_certainly_did_not_run(
    sandbox, controls, ids
):
    """429 means the request was not acted on: safe to retry even though a repeat would add a second milestone."""
    controls.fault(path="/milestones", method="POST", count=1, kind="rate_limit", retryAfter=0)
    async with client_for(sandbox) as ot:
        created = await ot.create_milestone(ids["contracts"]["alreadyHired"], NEW_BATCH)
    assert created.status == "NOT_FUNDED"
    assert [r["status"] for r in controls.requests() if r["method"] == "POST"] == [429, 201]


def test_a_base_url_with_an_invalid_port_is_refused_and_says_why():
    for bad in ["https://app.opentrain.ai:99999", "https://app.opentrain.ai:http"]:
        with pytest.raises(ConfigurationError) as err:
            normalize_base_url(bad)
        assert err.value.message == f"base URL {bad!r} has an invalid port"


@pytest.mark.parametrize("body", ['{"error": 42}', '{"error": {"text": "no"}}', '{"error": ""}'])
async def test_an_error_field_that_is_not_text_is_not_shown_as_the_message(sandbox, controls, body):
    controls.fault(
        path="/approvals/", kind="malformed", status=400, body=body, contentType="application/json"
    )
    async with client_for(sandbox) as ot:
        with pytest.raises(BadRequestError) as err:
            await ot.get_approval("abc123")
    assert err.value.message == "HTTP 400 without an OpenTrain error body"


async def test_a_wait_that_fits_the_budget_with_half_a_second_to_spare_is_made(sandbox, controls):
    """Retry-After 2 s with 3.5 s of budget: the retry still has time, so the call waits and succeeds."""
    controls.fault(path="/approvals/", count=1, kind="rate_limit", retryAfter=2)
    policy = RetryPolicy(
        request_timeout=1.0, connect_timeout=1.0, backoff_base=0.05, backoff_cap=0.1, budget=3.5
    )
    async with client_for(sandbox, policy=policy) as ot:
        with pytest.raises(NotFoundError):
            await ot.get_approval("abc123")
    assert [r["status"] for r in controls.requests()] == [429, 404]


async def test_the_shared_http_client_follows_the_policy():
    """new_http_client is the documented way to share connections; its timeouts are the policy's."""
    async with (
        new_http_client() as default,
        new_http_client(RetryPolicy(request_timeout=7, connect_timeout=2)) as own,
    ):
        assert default.timeout == httpx2.Timeout(15.0, connect=5.0)
        assert own.timeout == httpx2.Timeout(7.0, connect=2.0)
        assert not own.follow_redirects and own.headers["User-Agent"] == USER_AGENT


async def test_a_malformed_answer_names_at_most_five_bad_fields(sandbox, controls, ids):
    """The error text names what is wrong, but a garbage answer cannot flood the model's context."""
    bad = {"id": 1, "type": 2, "status": 3, "contractId": 4, "milestoneId": 5, "jobId": 6, "proposalId": 7}
    controls.fault(
        path="/hire",
        kind="malformed",
        status=202,
        body=json.dumps({"approval": bad}),
        contentType="application/json",
    )
    async with client_for(sandbox) as ot:
        with pytest.raises(MalformedResponseError) as err:
            await ot.hire(ids["proposals"]["hireable"][0], TERMS)
    assert err.value.message == (
        "hire response is missing or has invalid fields: "
        "approval.id, approval.type, approval.status, approval.contractId, approval.milestoneId"
    )
