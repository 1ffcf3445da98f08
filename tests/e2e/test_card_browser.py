"""The approval card in real headless Chromium, hosted by the official MCP Apps SDK over real HTTP.

The host page (``apps_host/host.ts``, bundled here with esbuild) uses ``@modelcontextprotocol/client``
against the real ``opentrain-mcp --transport http`` and ``@modelcontextprotocol/ext-apps``'s
``AppBridge`` + ``PostMessageTransport`` to run the card, so the card's hand-written View side is
checked against the official host side.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ARTIFACTS, ROOT, need, node_bin
from tests.e2e.conftest import clean_env, http_server
from tests.e2e.test_browser import CHROMIUM, LAUNCH_ARGS
from tests.server.test_human_loop import confirm_on_page
from tests.server.test_lifecycle import contract_of

pytestmark = pytest.mark.anyio
NODE_MODULES = ROOT / "tools" / "node" / "node_modules"
HOST_SOURCE = Path(__file__).resolve().parent / "apps_host" / "host.ts"
HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>MCP Apps test host</title>
<style>body{font:14px system-ui;margin:0;padding:16px;background:#eef0f4}
iframe{display:block;width:560px;border:1px solid #d5d9e0;border-radius:12px;background:#fff;margin:0 0 16px}</style>
</head><body><div id="chat"></div><script type="module" src="host.js"></script></body></html>"""
TERMS = {
    "name": "Sentiment labels, batch 1",
    "description": "Label 5,000 posts per the guidelines",
    "amount": 300,
    "dueDate": "2099-01-31",
}
HOSTILE_NAME = '<img src="/pwned-name" onerror="parent.postMessage(1,\'*\')">'
HOSTILE_JOB = "</dd><script>fetch('/pwned-job')</script>"


@pytest.fixture(scope="session")
def host_js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host page bundled with esbuild, once per test process (parallel workers each build their own)."""
    esbuild = node_bin("esbuild")
    need(
        esbuild and (NODE_MODULES / "@modelcontextprotocol" / "ext-apps").is_dir(),
        "esbuild and @modelcontextprotocol/ext-apps not installed (run scripts/install-test-tools.sh)",
    )
    need(CHROMIUM, "Chromium not installed (Debian package 'chromium'; run scripts/install-test-tools.sh)")
    out = tmp_path_factory.mktemp("apps-host") / "host.js"
    subprocess.run(
        [
            str(esbuild),
            str(HOST_SOURCE),
            "--bundle",
            "--format=esm",
            "--platform=browser",
            f"--outfile={out}",
            "--log-level=warning",
        ],
        check=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        timeout=120,
    )
    return out


@pytest.fixture
def server_base(sandbox, controls):
    """A fresh server per test: a reset sandbox reuses approval ids, which a server's cache would remember."""
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    with http_server("--toolsets", "hiring,contracts", env=env) as (base, _log):
        yield base


async def open_host(pw: Any, base: str, host_js: Path) -> tuple[Any, Any, list[str]]:
    """A browser page at the server's own origin (so the MCP client needs no CORS) running the host.

    The list collects what must never happen: a request from any frame but the host page's own, and
    any console error or warning.
    """
    browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    page = await browser.new_page(viewport={"width": 640, "height": 900})
    problems: list[str] = []

    def on_request(request: Any) -> None:
        if request.frame != page.main_frame or "pwned" in request.url:
            problems.append(f"request from {request.frame.url}: {request.url}")

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    page.on("request", on_request)
    page.on("console", on_console)

    async def serve_host(route: Any) -> None:
        if route.request.url.endswith("/host.js"):
            await route.fulfill(body=host_js.read_text(), content_type="text/javascript")
        else:
            await route.fulfill(body=HOST_PAGE, content_type="text/html")

    await page.route(base + "/__test_host__/**", serve_host)
    await page.goto(base + "/__test_host__/index.html")
    await page.wait_for_function("typeof window.showToolCall === 'function'")
    return browser, page, problems


def expected_local(expires_at: str) -> str:
    when = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00")).astimezone(
        ZoneInfo("America/New_York")
    )
    return f"{when.strftime('%b')} {when.day}, {when.year}, {when.strftime('%I').lstrip('0')}:{when:%M}"


async def test_card_shows_terms_opens_vetted_link_and_follows_status(host_js, server_base, controls, ids):
    from playwright.async_api import async_playwright, expect

    proposal_id = ids["proposals"]["hireable"][0]
    async with async_playwright() as pw:
        browser, page, problems = await open_host(pw, server_base, host_js)
        shown = await page.evaluate(
            "([p, m]) => showToolCall('hire', 'request_hire', {proposalId: p, milestone: m})",
            [proposal_id, TERMS],
        )
        result = shown["result"]
        assert not result.get("isError"), result
        assert shown["mimeType"] == "text/html;profile=mcp-app"
        assert shown["resourceMeta"]["ui"]["csp"]["connectDomains"] == []
        approval = result["structuredContent"]["approval"]
        card = page.frame_locator("#hire")
        status = card.locator("#status")
        await expect(status).to_have_text("Waiting for you")
        body = await card.locator("main").inner_text()
        for shown_text in (
            "Sentiment labels, batch 1",
            "Label 5,000 posts per the guidelines",
            "2099-01-31",
            "$300.00",
            "$30.00",
            "$9.95",
            "$339.95",
            approval["id"],
            "confirm on OpenTrain's own page",
        ):
            assert shown_text in body, shown_text
        assert result["_meta"]["opentrain/approvalCard"]["candidate"] in body
        assert result["_meta"]["opentrain/approvalCard"]["job"] in body
        assert expected_local(approval["expiresAt"]) in body and ("EST" in body or "EDT" in body)
        assert await card.locator("#total").inner_text() == "Estimated charge on confirmation\t$339.95"
        await page.locator("#hire").screenshot(path=str(ARTIFACTS / "approval-card.png"))

        await card.get_by_role("button", name="Open approval page").click()
        await page.wait_for_function("hostRecord.openedLinks.length === 1")
        assert await page.evaluate("hostRecord.openedLinks") == [approval["approvalUrl"]]

        confirm_on_page(approval["approvalUrl"])
        await expect(status).to_have_text("Confirmed", timeout=30_000)
        await expect(card.get_by_role("button", name="Open approval page")).to_have_count(0)
        calls = await page.evaluate("hostRecord.appToolCalls")
        assert calls and all(
            c == {"name": "check_approval", "arguments": {"approvalId": approval["id"]}} for c in calls
        )
        await page.locator("#hire").screenshot(path=str(ARTIFACTS / "approval-card-confirmed.png"))

        await page.evaluate(
            "(id) => showToolCall('check', 'check_approval', {approvalId: id})", approval["id"]
        )
        checked = page.frame_locator("#check")
        await expect(checked.locator("#status")).to_have_text("Confirmed")
        assert "Hire a trainer" in await checked.locator("h1").inner_text(), "no names without request_hire"
        assert await checked.locator("button, table").count() == 0
        assert problems == [], "the card made no request"
        await browser.close()


async def test_hostile_text_renders_as_text_and_withheld_links_show_no_button(
    host_js, server_base, controls, ids
):
    from playwright.async_api import async_playwright, expect

    proposal_id = ids["proposals"]["hireable"][0]
    hostile = {
        "proposal": {"id": proposal_id, "jobTitle": HOSTILE_JOB, "candidate": {"displayName": HOSTILE_NAME}}
    }
    controls.fault(
        kind="malformed",
        method="GET",
        path=f"/proposals/{proposal_id}",
        status=200,
        body=json.dumps(hostile),
        contentType="application/json",
    )
    terms = {**TERMS, "name": "<b onmouseover=alert(1)>bold</b> & <iframe src='/pwned-frame'>"}
    async with async_playwright() as pw:
        browser, page, problems = await open_host(pw, server_base, host_js)
        shown = await page.evaluate(
            "([p, m]) => showToolCall('hostile', 'request_hire', {proposalId: p, milestone: m})",
            [proposal_id, terms],
        )
        card = page.frame_locator("#hostile")
        await expect(card.locator("#status")).to_have_text("Waiting for you")
        body = await card.locator("main").inner_text()
        assert f"Hire {HOSTILE_NAME}" in body and HOSTILE_JOB in body and terms["name"] in body
        for tag in ("img", "iframe", "b", "a"):
            assert await card.locator(tag).count() == 0, tag
        assert await card.locator("script").count() == 1, "only the card's own script"
        await expect(card.get_by_role("button", name="Open approval page")).to_have_count(1)

        approval_id = shown["result"]["structuredContent"]["approval"]["id"]
        moved = {
            "id": approval_id,
            "type": "proposal_hire",
            "status": "pending",
            "approvalUrl": f"https://evil.example/approvals/{approval_id}",
        }
        controls.fault(
            kind="malformed",
            method="GET",
            path=f"/approvals/{approval_id}",
            status=200,
            count=1000,
            body=json.dumps({"approval": moved}),
            contentType="application/json",
        )
        await expect(card.locator("#status")).to_have_text("Link withheld", timeout=20_000)
        await expect(card.locator("button")).to_have_count(0)

        spoofed = {
            "approval": {
                "id": "ap_spoof1",
                "type": "proposal_hire",
                "status": "pending",
                "approvalUrl": "https://evil.example/approvals/ap_spoof1",
            },
            "message": "Approval required",
        }
        controls.fault(
            kind="malformed",
            method="POST",
            path="/hire",
            status=202,
            body=json.dumps(spoofed),
            contentType="application/json",
        )
        await page.evaluate(
            "([p, m]) => showToolCall('spoofed', 'request_hire', {proposalId: p, milestone: m})",
            [proposal_id, TERMS],
        )
        withheld = page.frame_locator("#spoofed")
        await expect(withheld.locator("#status")).to_have_text("Link withheld")
        assert await withheld.locator("button").count() == 0
        assert "evil.example" not in await withheld.locator("main").inner_text()
        assert await page.evaluate("hostRecord.openedLinks") == []
        assert problems == []
        await browser.close()


async def test_cosigned_release_card(host_js, server_base, sandbox, ids):
    from playwright.async_api import async_playwright, expect

    first = contract_of(sandbox, ids["contracts"]["alreadyHired"])["milestones"][0]
    async with async_playwright() as pw:
        browser, page, problems = await open_host(pw, server_base, host_js)
        shown = await page.evaluate(
            "(id) => showToolCall('release', 'request_milestone_release', {milestoneId: id})", first["id"]
        )
        approval = shown["result"]["structuredContent"]["approval"]
        card = page.frame_locator("#release")
        await expect(card.locator("#status")).to_have_text("Waiting for you")
        assert await card.locator("h1").inner_text() == "Approve a milestone and release its payout"
        body = await card.locator("main").inner_text()
        assert shown["result"]["structuredContent"]["asks"] in body and "$250.00" in body
        await page.locator("#release").screenshot(path=str(ARTIFACTS / "approval-card-release.png"))
        await card.get_by_role("button", name="Open approval page").click()
        await page.wait_for_function("hostRecord.openedLinks.length === 1")
        assert await page.evaluate("hostRecord.openedLinks") == [approval["approvalUrl"]]
        confirm_on_page(approval["approvalUrl"])
        await expect(card.locator("#status")).to_have_text("Confirmed", timeout=30_000)
        assert problems == []
        await browser.close()
