"""Schemas every model provider accepts, and results every framework can forward, over ``tools/list``.

The rules (issue #13): input schemas use only keywords that OpenAI strict mode, Gemini function declarations
and Anthropic tool schemas all accept; nested objects inlined; no ``null`` anywhere; optional means "not
required and an explicit default"; every tool has at least one parameter. Output schemas have no type lists
(``anyOf`` if ever needed) and declare the properties of nested objects. Text content is a short summary.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult

from opentrain_mcp.config import Settings
from opentrain_mcp.server.app import build_server
from opentrain_mcp.server.schema import OUTPUT_KEYWORDS, PORTABLE_INPUT_KEYWORDS
from tests.conftest import FAST_POLICY, Controls

pytestmark = pytest.mark.anyio
TERMS = {"name": "Batch P", "amount": 80, "dueDate": "2099-04-01"}
JSON_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool}
# Output fields that are free-form on OpenTrain's side (arbitrary keys), so no properties can be promised.
FREE_FORM_OUTPUTS = {
    "approval.result",
    "verification",
    "hireRequests[].milestone",
    "policy.capsUsed",
    "capsUsed",
}


@pytest.fixture(params=["legacy", "auto"])
async def client(request, settings: Settings, controls: Controls) -> AsyncIterator[Client]:
    server = build_server(settings, policy=FAST_POLICY, toolsets={"hiring", "contracts"})
    async with Client(server, mode=request.param) as c:
        yield c


def nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema with a readable path (``a.b``, ``a[]`` for array items, ``a|1`` for anyOf branches)."""
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from nodes(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        yield from nodes(schema["items"], f"{path}[]")
    for i, sub in enumerate(schema.get("anyOf", [])):
        yield from nodes(sub, f"{path}|{i}")


def matches(value: Any, schema: dict[str, Any]) -> bool:
    kind = JSON_TYPES[schema["type"]]
    ok = isinstance(value, kind) and not (schema["type"] != "boolean" and isinstance(value, bool))
    return ok and value in schema.get("enum", [value])


async def test_input_schemas_use_the_portable_subset(client):
    tools = (await client.list_tools()).tools
    assert len(tools) == 16, "every toolset"
    for tool in tools:
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["properties"], f"{tool.name}: needs a parameter"
        for path, node in nodes(schema):
            where = f"{tool.name}.{path}"
            assert set(node) <= PORTABLE_INPUT_KEYWORDS, f"{where}: {set(node) - PORTABLE_INPUT_KEYWORDS}"
            assert isinstance(node.get("type"), str) and node["type"] != "null", where
            assert None not in node.get("enum", []), where
            if node["type"] == "object":
                props, required = node.get("properties", {}), node.get("required", [])
                assert set(required) <= set(props), where
                for name, prop in props.items():
                    if name not in required:
                        assert "default" in prop and matches(prop["default"], prop), f"{where}.{name}"


async def test_output_schemas_have_no_type_lists_and_declare_nested_properties(client):
    for tool in (await client.list_tools()).tools:
        free_form = set()
        for path, node in nodes(tool.output_schema):
            where = f"{tool.name}.{path}"
            assert set(node) <= OUTPUT_KEYWORDS, f"{where}: {set(node) - OUTPUT_KEYWORDS}"
            assert not isinstance(node.get("type"), list), f"{where}: type list"
            if node.get("type") == "object" and "properties" not in node:
                free_form.add(path.split("|")[0])
        assert free_form <= FREE_FORM_OUTPUTS, f"{tool.name}: undeclared nested objects {free_form}"


async def test_a_strict_client_sending_every_default_gets_the_same_answers(client, controls, ids):
    """OpenAI strict mode makes every property required: the advertised defaults must mean "not given"."""
    job = ids["jobs"]["primary"]
    tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}

    def defaults(tool: str) -> dict[str, Any]:
        props = tools[tool]["properties"]
        return {name: p["default"] for name, p in props.items() if "default" in p}

    for tool, required in [
        ("list_jobs", {}),
        ("list_proposals", {"jobId": job}),
        ("list_contracts", {}),
        ("list_hire_requests", {}),
        ("check_hiring_readiness", {}),
        ("get_spend_status", {}),
    ]:
        bare = await client.call_tool(tool, required)
        full = await client.call_tool(tool, {**required, **defaults(tool)})
        assert not bare.is_error and not full.is_error, (tool, bare.content, full.content)
        assert full.structured_content == bare.structured_content, tool
    milestone = {**defaults("request_hire")}
    milestone_defaults = {
        name: p["default"]
        for name, p in tools["request_hire"]["properties"]["milestone"]["properties"].items()
        if "default" in p
    }
    r = await client.call_tool(
        "request_hire",
        {
            **milestone,
            "proposalId": ids["proposals"]["hireable"][0],
            "milestone": {**milestone_defaults, "name": "Only a name", "amount": 50},
        },
    )
    assert not r.is_error, r.content
    bodies = [e["body"] for e in controls.requests() if e["path"].endswith("/hire")]
    assert bodies[-1] == {"milestone": {"name": "Only a name", "amount": 50}}, "empty defaults are not sent"


async def test_filters_still_filter(client, ids):
    job = ids["jobs"]["primary"]
    everything = (await client.call_tool("list_proposals", {"jobId": job, "limit": 100})).structured_content
    statuses = {p["status"] for p in everything["proposals"]}
    some = sorted(statuses)[0]
    only = await client.call_tool("list_proposals", {"jobId": job, "status": some, "limit": 100})
    assert {p["status"] for p in only.structured_content["proposals"]} == {some}
    jobs = (await client.call_tool("list_jobs", {})).structured_content["jobs"]
    word = jobs[0]["title"].split()[0].lower()
    found = (await client.call_tool("list_jobs", {"titleContains": word})).structured_content["jobs"]
    assert [j["id"] for j in found] == [j["id"] for j in jobs if word in j["title"].lower()]
    assert (
        await client.call_tool("list_jobs", {"titleContains": "no such job title"})
    ).structured_content == {"jobs": []}


async def test_readiness_compares_funds_with_the_planned_charge(client, controls):
    controls.account(creditsCents=10_000)
    low = await client.call_tool("check_hiring_readiness", {"amount": 300})
    funds = {c["name"]: c for c in low.structured_content["checks"]}["funds"]
    assert funds["status"] == "unknown" and "$339.95" in funds["detail"]
    high = await client.call_tool("check_hiring_readiness", {"amount": 50})
    assert {c["name"]: c for c in high.structured_content["checks"]}["funds"]["status"] == "ready"


async def test_text_is_a_short_summary_never_a_copy_of_the_data(client, ids):
    job = ids["jobs"]["primary"]
    hired = await client.call_tool(
        "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
    )
    approval = hired.structured_content["approval"]["id"]
    calls = [
        ("list_jobs", {}),
        ("list_proposals", {"jobId": job}),
        ("get_proposal", {"proposalId": ids["proposals"]["hireable"][0]}),
        ("list_contracts", {}),
        ("check_hiring_readiness", {}),
        ("check_approval", {"approvalId": approval}),
        ("list_hire_requests", {}),
    ]
    contracts = (await client.call_tool("list_contracts", {})).structured_content["contracts"]
    calls.append(("get_contract", {"contractId": contracts[0]["id"]}))
    for tool, args in calls:
        r = await client.call_tool(tool, args)
        assert not r.is_error, (tool, r.content)
        text = "\n".join(block.text for block in r.content)
        data = json.dumps(r.structured_content, separators=(",", ":"), ensure_ascii=False)
        assert not text.lstrip().startswith(("{", "[")), f"{tool}: text is JSON"
        assert len(text) < len(data) or len(text) < 400, f"{tool}: text is not shorter than the data"
        assert "\\u" not in text, f"{tool}: non-ASCII escaped"
    jobs_text = (await client.call_tool("list_jobs", {})).content[0].text
    assert "—" in jobs_text, "non-ASCII job titles are kept as is"


async def test_request_hire_never_waits_on_an_unanswered_link_prompt(settings, controls, ids):
    """A human who never answers the URL elicitation must not hold the result (legacy era pushes it)."""
    never = anyio.Event()

    async def ignore_the_prompt(_ctx: Any, _params: Any) -> ElicitResult:
        await never.wait()
        return ElicitResult(action="cancel")

    async with Client(
        build_server(settings, policy=FAST_POLICY), mode="legacy", elicitation_callback=ignore_the_prompt
    ) as c:
        with anyio.fail_after(10):
            r = await c.call_tool(
                "request_hire", {"proposalId": ids["proposals"]["hireable"][0], "milestone": TERMS}
            )
        never.set()
    assert not r.is_error, r.content
    assert r.structured_content["linkShown"] == "unanswered"
    assert r.structured_content["approval"]["approvalUrl"] in r.content[0].text
