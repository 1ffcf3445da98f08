"""The approval card (MCP Apps): advertised, served, linked, and the app -> URL elicitation -> text order."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import ElicitRequestURLParams

from opentrain_mcp.server import text
from opentrain_mcp.server.card import CARD_URI, DETAILS_KEY, card_html, display_text
from tests.server.test_human_loop import TERMS, elicitor, server
from tests.server.test_lifecycle import contract_of
from tests.server.test_lifecycle import server as contracts_server

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
LINKED_TOOLS = ("request_hire", "check_approval", "wait_for_approval")
COSIGNED_TOOLS = ("request_milestone_funding", "request_milestone_release", "end_contract")


def apps_client() -> list[Any]:
    return [advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("declared", [True, False])
async def test_card_is_served_and_linked(settings, mode, declared):
    async with Client(server(settings), mode=mode, extensions=apps_client() if declared else []) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        read = await c.read_resource(CARD_URI)
        listed = {str(r.uri): r for r in (await c.list_resources()).resources}
        if mode == "auto":
            assert EXTENSION_ID in (c.server_capabilities.extensions or {})
    for name in LINKED_TOOLS:
        assert tools[name].meta == {"ui": {"resourceUri": CARD_URI}}, name
    assert "ui" not in (tools["list_jobs"].meta or {})
    assert listed[CARD_URI].mime_type == APP_MIME_TYPE
    (content,) = read.contents
    assert content.mime_type == APP_MIME_TYPE
    assert content.meta["ui"]["csp"] == {
        "connectDomains": [],
        "resourceDomains": [],
        "frameDomains": [],
        "baseUriDomains": [],
    }
    html = content.text
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert policy, "the document carries its own CSP"
    directives = dict(d.strip().split(" ", 1) for d in policy.group(1).split(";"))
    assert directives["default-src"] == "'none'" and directives["connect-src"] == "'none'"
    assert directives["script-src"].startswith("'sha256-") and "unsafe" not in policy.group(1)
    assert not re.search(r"\b(src|href|action)\s*=", html), "nothing is loaded from anywhere"
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    assert "confirm on OpenTrain's own" in html


@pytest.mark.parametrize("mode", ERAS)
async def test_card_client_gets_details_and_no_elicitation(settings, ids, mode):
    seen: list[ElicitRequestURLParams] = []
    async with Client(
        server(settings), mode=mode, extensions=apps_client(), elicitation_callback=elicitor("accept", seen)
    ) as c:
        r = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    assert not r.is_error, r.content
    assert seen == [], "the card shows the link, so URL elicitation is not used"
    out = r.structured_content
    assert "linkShown" not in out
    details = r.meta[DETAILS_KEY]
    assert re.fullmatch(r"\S+ [A-Z]\.", details["candidate"]), "a masked name, e.g. 'Maria G.'"
    assert details["job"]
    assert details["milestone"] == TERMS
    assert r.content[0].text.endswith(text.CARD_NOTE)
    assert out["approval"]["approvalUrl"] in r.content[0].text, "the model still has the link"


@pytest.mark.parametrize("mode", ERAS)
async def test_without_the_extension_results_are_unchanged(settings, ids, mode):
    seen: list[ElicitRequestURLParams] = []
    async with Client(server(settings), mode=mode, elicitation_callback=elicitor("accept", seen)) as c:
        elicited = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
    async with Client(server(settings), mode=mode) as c:
        plain = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][1], "milestone": TERMS}
        )
        checked = await c.call_tool(
            "check_approval", {"approvalId": plain.structured_content["approval"]["id"]}
        )
    assert len(seen) == 1 and elicited.structured_content["linkShown"] == "accept"
    for r in (elicited, plain, checked):
        assert not r.is_error, r.content
        assert DETAILS_KEY not in (r.meta or {})
        assert text.CARD_NOTE not in r.content[0].text
    approval = plain.structured_content["approval"]
    charge = plain.structured_content["estimatedCharge"]["total"]
    expected = text.hire_text(approval["approvalUrl"], approval["expiresAt"], approval["id"], charge, True)
    caps = text.caps_line(plain.structured_content["capsUsed"])
    assert plain.content[0].text == f"{expected}\n{caps}"


async def test_check_approval_for_a_card_client_carries_no_extra_lookups(settings, controls, ids):
    async with Client(server(settings), extensions=apps_client()) as c:
        hired = await c.call_tool(
            "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
        )
        controls.clear_requests()
        checked = await c.call_tool(
            "check_approval", {"approvalId": hired.structured_content["approval"]["id"]}
        )
    assert checked.structured_content["approval"]["status"] == "pending"
    assert DETAILS_KEY not in (checked.meta or {})
    assert not [e for e in controls.requests() if "/proposals/" in e["path"]]


async def test_hostile_upstream_names_are_cleaned_and_capped(settings, controls, ids):
    proposal_id = ids["proposals"]["hireable"][0]
    hostile = {
        "proposal": {
            "id": proposal_id,
            "jobTitle": "<img src=x onerror=alert(1)>\u202e" + "J" * 500,
            "candidate": {"displayName": "Eve\x00\x1b[31m <script>fetch('//evil')</script>"},
        }
    }
    controls.fault(
        kind="malformed",
        method="GET",
        path=f"/proposals/{proposal_id}",
        status=200,
        body=json.dumps(hostile),
        contentType="application/json",
    )
    async with Client(server(settings), extensions=apps_client()) as c:
        r = await c.call_tool("request_hire", {"proposalId": proposal_id, "milestone": TERMS})
    assert not r.is_error, r.content
    details = r.meta[DETAILS_KEY]
    assert details["candidate"] == "Eve [31m <script>fetch('//evil')</script>", "text kept, controls removed"
    assert details["job"].startswith("<img src=x onerror=alert(1)> J") and len(details["job"]) == 200


async def test_a_failing_proposal_lookup_still_shows_the_card(settings, controls, ids):
    proposal_id = ids["proposals"]["hireable"][0]
    controls.fault(kind="status", method="GET", path=f"/proposals/{proposal_id}", status=404, count=5)
    async with Client(server(settings), extensions=apps_client()) as c:
        r = await c.call_tool("request_hire", {"proposalId": proposal_id, "milestone": TERMS})
    assert not r.is_error, r.content
    assert r.meta[DETAILS_KEY] == {"milestone": TERMS}


def test_display_text_shape_checks():
    assert display_text(None) is None and display_text(42) is None and display_text(" \n\t") is None
    assert display_text("a\u200bb\u2066c") == "a b c"
    assert display_text("x" * 201) == "x" * 199 + "…"


def test_card_recognises_withheld_links_by_the_servers_own_wording():
    marker = re.search(r'WITHHELD_MARKER = "([^"]+)"', card_html())
    assert marker and text.untrusted_link("approvalUrl", "why", "https://o", "ap1").startswith(
        marker.group(1)
    )


@pytest.mark.parametrize("mode", ERAS)
async def test_cosigned_tools_show_the_card_instead_of_elicitation(settings, sandbox, ids, mode):
    contract_id = ids["contracts"]["alreadyHired"]
    first = contract_of(sandbox, contract_id)["milestones"][0]["id"]
    seen: list[ElicitRequestURLParams] = []
    async with Client(
        contracts_server(settings),
        mode=mode,
        extensions=apps_client(),
        elicitation_callback=elicitor("accept", seen),
    ) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        r = await c.call_tool("request_milestone_release", {"milestoneId": first})
    for name in COSIGNED_TOOLS:
        assert tools[name].meta == {"ui": {"resourceUri": CARD_URI}}, name
    assert "ui" not in (tools["create_milestone"].meta or {}), "it asks no human, so it has no card"
    assert not r.is_error, r.content
    assert seen == [] and "linkShown" not in r.structured_content
    assert r.content[0].text.endswith(text.CARD_NOTE)
    assert r.structured_content["approval"]["approvalUrl"] in r.content[0].text
