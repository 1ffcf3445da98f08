"""The human's pages: approval page content, confirm/decline forms, index, claim and billing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from opentrain_mcp.sandbox.state import hire_charge

from .conftest import hire_body


def candidate_of(api, approval) -> dict:
    return api.get(f"/proposals/{approval['proposalId']}").json()["proposal"]["candidate"]


def test_approval_page_shows_who_what_and_the_charge(web, api, hire):
    approval = hire(0)
    page = web.get(approval["approvalUrl"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "OpenTrain sandbox — no real money" in text
    assert candidate_of(api, approval)["displayName"] in text
    assert "Spanish Sentiment Labeling — Social Media Posts" in text
    assert "First labeling batch" in text and "Label the first 5,000 posts per the guidelines" in text
    assert "2026-07-01" in text
    for money in ("$300.00", "$30.00", "$9.95", "$339.95"):
        assert money in text
    assert "Expires" in text and "71 h 59 min" in text
    assert 'data-status="pending"' in text
    assert f'action="/approvals/{approval["id"]}/confirm"' in text
    assert f'formaction="/approvals/{approval["id"]}/decline"' in text
    assert "@" not in text.split("<footer")[0].split('<main class="container">')[1]  # no emails on the page


def test_approval_page_escapes_agent_text(web, hire):
    approval = hire(0, name="<script>alert(1)</script>", description='"quoted" & <b>bold</b>')
    text = web.get(approval["approvalUrl"]).text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>bold</b>" not in text


def test_confirm_via_the_form(web, api, hire):
    approval = hire(0)
    response = web.post(
        f"/approvals/{approval['id']}/confirm", data={"payment_source": "card"}, follow_redirects=True
    )
    assert response.history[0].status_code == 303
    assert response.url.path == f"/approvals/{approval['id']}"
    assert 'data-status="confirmed"' in response.text and "is hired" in response.text
    assert 'data-testid="confirm"' not in response.text
    confirmed = api.get(f"/approvals/{approval['id']}").json()["approval"]
    assert confirmed["status"] == "confirmed"
    assert confirmed["contractId"] in response.text
    contract = api.get(f"/contracts/{confirmed['contractId']}").json()["contract"]
    assert contract["milestones"][0]["status"] == "ACTIVE_FUNDED"


def test_confirm_form_with_edited_milestone(web, api, hire):
    approval = hire(0)
    form = {
        "payment_source": "card",
        "milestone_name": "Bigger batch",
        "milestone_description": "",
        "amount": "450.00",
        "due_date": "2026-08-15",
    }
    response = web.post(f"/approvals/{approval['id']}/confirm", data=form, follow_redirects=True)
    assert "$504.95" in response.text and "differ from what the agent requested" in response.text
    contract_id = api.get(f"/approvals/{approval['id']}").json()["approval"]["contractId"]
    (milestone,) = api.get(f"/contracts/{contract_id}").json()["contract"]["milestones"]
    assert (milestone["name"], milestone["description"], milestone["amountUsd"]) == (
        "Bigger batch",
        None,
        450,
    )
    assert milestone["dueDate"] == "2026-08-15T00:00:00.000Z"


def test_invalid_form_edit_rerenders_with_an_error(web, api, hire):
    approval = hire(0)
    response = web.post(f"/approvals/{approval['id']}/confirm", data={"amount": "abc", "milestone_name": "x"})
    assert response.status_code == 400
    assert "milestone.amount" in response.text and 'data-status="pending"' in response.text
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"


def test_unpayable_confirm_is_409_page(web, api, controls, hire):
    approval = hire(0)
    controls.post("/account", json={"paymentMethod": False})
    response = web.post(f"/approvals/{approval['id']}/confirm", data={})
    assert response.status_code == 409 and "does not cover the charge" in response.text
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"


def test_decline_via_the_form(web, api, hire):
    approval = hire(0)
    response = web.post(f"/approvals/{approval['id']}/decline", follow_redirects=True)
    assert 'data-status="declined"' in response.text and "Nothing ran" in response.text
    assert 'data-testid="confirm"' not in response.text
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "declined"


def test_resolving_twice_just_shows_the_state(web, hire):
    approval = hire(0)
    web.post(f"/approvals/{approval['id']}/decline")
    response = web.post(f"/approvals/{approval['id']}/confirm", follow_redirects=True)
    assert response.history[0].status_code == 303
    assert "already declined" in response.text and 'data-status="declined"' in response.text


def test_expired_and_superseded_pages(web, controls, hire):
    old = hire(0)
    hire(0, amount=301)
    assert "Replaced" in web.get(old["approvalUrl"]).text
    current = hire(1)
    controls.post("/clock", json={"advanceSeconds": 72 * 3600 + 5})
    text = web.get(current["approvalUrl"]).text
    assert 'data-status="expired"' in text and "nobody acted in time" in text
    assert 'data-testid="confirm"' not in text


def test_unknown_approval_page_is_404(web):
    response = web.get("/approvals/doesnotexist")
    assert response.status_code == 404 and "no real money" in response.text


def test_cross_origin_form_posts_are_refused(web, api, hire):
    approval = hire(0)
    response = web.post(f"/approvals/{approval['id']}/confirm", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert api.get(f"/approvals/{approval['id']}").json()["approval"]["status"] == "pending"
    same_origin = {"Origin": str(web.base_url).rstrip("/")}
    assert web.post(f"/approvals/{approval['id']}/confirm", headers=same_origin).status_code == 303


def test_index_lists_pending_approvals_without_secrets(web, api, sandbox, fx, hire):
    approval = hire(0)
    text = web.get("/").text
    assert f'href="/approvals/{approval["id"]}"' in text
    assert candidate_of(api, approval)["displayName"] in text
    assert sandbox.api_base_url in text
    for secret in (fx["token"], fx["limitedToken"], fx["foreignToken"], "ot_pat_"):
        assert secret not in text


def test_generic_approval_types_render_and_confirm(web, api, sandbox, fx):
    contract = api.get(f"/contracts/{fx['contracts']['alreadyHired']}").json()["contract"]
    milestone_id = contract["milestones"][0]["id"]
    approval = api.post(f"/milestones/{milestone_id}/approve").json()["approval"]
    text = web.get(f"/approvals/{approval['id']}").text
    assert "milestone_approve" in text and "Release a milestone payment" in text and "$250.00" in text
    web.post(f"/approvals/{approval['id']}/confirm")
    done = sandbox.state.approval_view(approval["id"])["approval"]
    assert done["status"] == "confirmed" and set(done["result"]) == {"invoiceId", "payoutTransactionId"}
    assert sandbox.state.approval_view(approval["id"])["milestone"]["status"] == "PAID"


def test_claim_and_billing_pages(web, api, controls, fx):
    assert "Claim" in web.get("/claim").text
    web.post("/claim", data={"action": "unclaim"})
    assert controls.get("/account").json()["claimed"] is False
    hire_url = f"/proposals/{fx['proposals']['hireable'][0]}/hire"
    assert api.post(hire_url, json=hire_body()).json()["details"]["reason"] == "account_claim_required"
    web.post("/claim", data={"action": "claim"})
    assert controls.get("/account").json()["claimed"] is True
    web.post("/billing", data={"action": "remove_card"})
    web.post("/billing", data={"action": "add_credits"})
    account = controls.get("/account").json()
    assert account["paymentMethod"] is False and account["creditsCents"] == 50_000
    assert "$500.00" in web.get("/billing").text


def test_stylesheet_is_served(web):
    response = web.get("/static/sandbox.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    ("amount", "fee", "total"),
    [(300, "30.00", "339.95"), (0.05, "0.01", "10.01"), (10.05, "1.01", "21.01"), (99.99, "10.00", "119.94")],
)
def test_fees_round_half_up(amount, fee, total):
    charge = hire_charge(amount)
    assert charge["marketplaceFee"] == Decimal(fee)
    assert charge["total"] == Decimal(total)
    assert charge["totalCents"] == int(Decimal(total) * 100)
