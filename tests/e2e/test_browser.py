"""A human in a real browser: open the link request_hire returned, click Confirm, see it confirmed."""

from __future__ import annotations

import re
import shutil

import pytest
from mcp import Client

from opentrain_mcp.server.app import build_server
from tests.conftest import ARTIFACTS, FAST_POLICY, need

pytestmark = pytest.mark.anyio
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_human_confirms_in_browser(settings, controls, ids):
    need(CHROMIUM, "Chromium not installed (Debian package 'chromium'; run scripts/install-test-tools.sh)")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with Client(build_server(settings, policy=FAST_POLICY), mode="legacy") as mcp:
        terms = {
            "name": "Sentiment labels, batch 1",
            "description": "Label 5,000 posts per the guidelines",
            "amount": 300,
            "dueDate": "2099-01-31",
        }
        r = await mcp.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": terms}
        )
        approval = r.structured_content["approval"]

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(approval["approvalUrl"])
            body = await page.inner_text("body")
            assert "$339.95" in body and "$30.00" in body and "$9.95" in body
            assert "Sentiment labels, batch 1" in body
            await page.screenshot(path=str(ARTIFACTS / "approval-page.png"), full_page=True)
            await page.get_by_role("button", name=re.compile("confirm", re.I)).click()
            await page.wait_for_load_state()
            assert re.search("confirmed", await page.inner_text("body"), re.I)
            await page.screenshot(path=str(ARTIFACTS / "approval-confirmed.png"), full_page=True)
            await browser.close()

        r = await mcp.call_tool("check_approval", {"approvalId": approval["id"]})
        assert r.structured_content["approval"]["status"] == "confirmed"
        assert r.structured_content["approval"]["result"]["contractId"]


@pytest.mark.parametrize("action", ["confirm", "decline"])
async def test_each_contract_approval_page_confirms_and_declines_in_browser(
    settings, sandbox, controls, ids, action
):
    """Funding, release and end: each page states its amount; the human's click is what the tools then report."""
    need(CHROMIUM, "Chromium not installed (Debian package 'chromium'; run scripts/install-test-tools.sh)")
    from playwright.async_api import async_playwright

    contract_id = ids["contracts"]["alreadyHired"]
    state = sandbox.state
    first = state.get_contract(state.authenticate(f"Bearer {state.token}"), contract_id)["contract"][
        "milestones"
    ][0]
    server = build_server(settings, policy=FAST_POLICY, toolsets={"hiring", "contracts"})
    async with Client(server, mode="legacy") as mcp:
        created = await mcp.call_tool(
            "create_milestone",
            {
                "contractId": contract_id,
                "milestone": {"description": "Label 2,000 more posts", "amountUsd": 200},
            },
        )
        steps = [
            (
                "request_milestone_funding",
                {"milestoneId": created.structured_content["milestone"]["id"]},
                "$220.00",
            ),
            ("request_milestone_release", {"milestoneId": first["id"]}, "$250.00"),
            ("end_contract", {"contractId": contract_id}, "$200.00" if action == "confirm" else "$250.00"),
        ]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            for tool, args, amount in steps:
                r = await mcp.call_tool(tool, args)
                approval = r.structured_content["approval"]
                await page.goto(approval["approvalUrl"])
                assert amount in await page.inner_text("[data-testid=total]")
                await page.get_by_role("button", name=re.compile(action, re.I)).click()
                await page.wait_for_load_state()
                status = await page.get_attribute("[data-testid=approval]", "data-status")
                assert status == ("confirmed" if action == "confirm" else "declined"), tool
                r = await mcp.call_tool("check_approval", {"approvalId": approval["id"]})
                assert r.structured_content["approval"]["status"] == status
            await browser.close()
    ended = state.get_contract(state.authenticate(f"Bearer {state.token}"), contract_id)["contract"]["status"]
    assert ended == ("ended" if action == "confirm" else "active")
