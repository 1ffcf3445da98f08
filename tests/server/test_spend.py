"""The spend policy through real MCP clients (both eras) against the sandbox: caps, release, preview, status."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from opentrain_mcp.policy import PolicyError, SpendPolicy
from opentrain_mcp.server.app import build_server
from tests.conftest import FAST_POLICY, Controls
from tests.e2e.conftest import clean_env

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]
OWNER = "Only the human who runs this server can change it."


def terms(amount: float, name: str = "Policy batch") -> dict[str, Any]:
    return {"name": name, "amount": amount, "dueDate": "2099-03-01"}


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def posts(controls: Controls) -> int:
    return sum(r["method"] == "POST" for r in controls.requests())


@pytest.fixture(params=ERAS)
def era(request) -> str:
    return request.param


@pytest.fixture
def served(settings, tmp_path: Path, era: str):
    """``async with served(**policy) as client``: a server with its own ledger file and this policy."""

    @asynccontextmanager
    async def open_client(ledger: Path | None = None, **policy: Any) -> AsyncIterator[Client]:
        server = build_server(
            settings,
            policy=FAST_POLICY,
            ledger_path=str(ledger or tmp_path / "ledger.sqlite3"),
            watch_interval=60,
            spend_policy=SpendPolicy(**policy),
        )
        async with Client(server, mode=era) as client:
            yield client

    return open_client


async def hire(client: Client, proposal: str, amount: float = 300, **extra: Any) -> Any:
    return await client.call_tool(
        "request_hire", {"proposalId": proposal, "milestone": terms(amount), **extra}
    )


def assert_refused(result: Any, limit: str, *figures: str) -> None:
    message = text_of(result)
    assert result.is_error, message
    assert limit in message and OWNER in message and "Nothing was sent to OpenTrain" in message, message
    for figure in figures:
        assert figure in message, (figure, message)


async def test_max_hire_usd_refuses_one_cent_over_with_fees(served, controls, ids):
    hireable = ids["proposals"]["hireable"]
    async with served(max_hire_usd="339.95") as c:
        ok = await hire(c, hireable[0], 300)  # 300 + 30 + 9.95 = 339.95, exactly the cap
        assert not ok.is_error, text_of(ok)
        assert ok.structured_content["capsUsed"]["max_hire_usd"] == "339.95/339.95"
        before = posts(controls)
        over = await hire(c, hireable[1], 300.01)  # 300.01 + 30.00 + 9.95 = 339.96
        assert_refused(over, "max_hire_usd", "$339.96", "$339.95")
        assert posts(controls) == before


@pytest.mark.parametrize("key", ["max_daily_usd", "max_monthly_usd"])
async def test_money_caps_count_pending_requests_cent_exact(served, controls, ids, key):
    hireable = ids["proposals"]["hireable"]
    async with served(**{key: "689.86"}) as c:
        for proposal in hireable[:2]:
            assert not (await hire(c, proposal)).is_error  # 2 × 339.95 = 679.90
        before = posts(controls)
        over = await hire(c, hireable[2], 0.02)  # 0.02 + 0.00 + 9.95 = 9.97 → 689.87
        assert_refused(over, key, "$679.90", "$9.97", "$689.87", "$689.86")
        assert posts(controls) == before
        exact = await hire(c, hireable[2], 0.01)  # 9.96 → 689.86, exactly the cap
        assert not exact.is_error, text_of(exact)
        assert exact.structured_content["capsUsed"][key] == "689.86/689.86"


async def test_declining_on_the_sandbox_releases_pending_and_money(served, controls, ids):
    hireable = ids["proposals"]["hireable"]
    async with served(max_pending=2, max_daily_usd="679.90") as c:
        first = await hire(c, hireable[0])
        assert not (await hire(c, hireable[1])).is_error
        before = posts(controls)
        assert_refused(await hire(c, hireable[2]), "max_pending", "limit is 2")
        assert posts(controls) == before
        controls.decline(first.structured_content["approval"]["id"])  # the human declines on OpenTrain
        third = await hire(c, hireable[2])
        assert not third.is_error, text_of(third)
        assert third.structured_content["capsUsed"]["max_pending"] == "2/2"


async def test_identical_retries_count_once(served, controls, ids):
    hireable = ids["proposals"]["hireable"]
    async with served(max_requests_per_hour=2) as c:
        first = await hire(c, hireable[0])
        for _ in range(3):
            again = await hire(c, hireable[0])
            assert again.structured_content["approval"]["id"] == first.structured_content["approval"]["id"]
            assert again.structured_content["capsUsed"]["max_requests_per_hour"] == "1/2"
        second = await hire(c, hireable[1])
        assert second.structured_content["capsUsed"]["max_requests_per_hour"] == "2/2"
        controls.decline(second.structured_content["approval"]["id"])
        before = posts(controls)
        assert_refused(await hire(c, hireable[2]), "max_requests_per_hour", "2 hire requests", "limit is 2")
        assert posts(controls) == before, "declined requests still count as requests this hour"


async def test_new_terms_replace_the_pending_request_instead_of_adding_one(served, controls, ids):
    proposal = ids["proposals"]["hireable"][0]
    async with served(max_pending=1, max_daily_usd="400") as c:
        assert not (await hire(c, proposal, 300)).is_error
        replaced = await hire(c, proposal, 350)  # 339.95 is replaced, not added: 394.95 ≤ 400
        assert not replaced.is_error, text_of(replaced)
        assert replaced.structured_content["capsUsed"]["max_daily_usd"] == "394.95/400.00"


async def test_a_refused_upstream_post_releases_and_an_uncertain_one_holds(served, controls, ids):
    hireable = ids["proposals"]["hireable"]
    async with served(max_pending=1) as c:
        not_fit = await hire(c, ids["proposals"]["notFit"])  # 409: OpenTrain recorded nothing
        assert not_fit.is_error and "not_fit_confirmation_required" in text_of(not_fit)
        controls.fault(path="/hire", kind="status", status=500, after=True, count=10)
        maybe = await hire(c, hireable[0])  # processed, then a 500: the approval may exist
        assert maybe.is_error
        controls.clear_faults()
        assert_refused(await hire(c, hireable[1]), "max_pending")
        retry = await hire(c, hireable[0])  # the same terms: the same approval, counted once
        assert not retry.is_error, text_of(retry)
        assert retry.structured_content["capsUsed"]["max_pending"] == "1/1"


async def test_allowed_job_ids(served, controls, ids):
    primary, secondary = ids["proposals"]["hireable"][0], ids["proposals"]["hireable"][-1]
    async with served(allowed_job_ids=[ids["jobs"]["primary"]]) as c:
        assert not (await hire(c, primary)).is_error
        before = posts(controls)
        assert_refused(await hire(c, secondary), "allowed_job_ids", ids["jobs"]["secondary"])
        assert posts(controls) == before


async def test_preview_hire_sends_nothing_and_reports_charge_policy_readiness_and_warnings(
    served, controls, ids
):
    proposals = ids["proposals"]
    async with served(max_hire_usd="339.95") as c:
        controls.clear_requests()
        r = await c.call_tool(
            "preview_hire", {"proposalId": proposals["hireable"][0], "milestone": terms(300)}
        )
        out = r.structured_content
        assert not r.is_error and out["estimatedCharge"]["total"] == 339.95
        assert (
            out["policy"]["allowed"] is True and out["policy"]["capsUsed"]["max_hire_usd"] == "339.95/339.95"
        )
        assert {check["name"] for check in out["readiness"]["checks"]} == {
            "token",
            "scopes",
            "hiring_feature",
            "account_claimed",
            "funds",
        }
        assert {check["status"] for check in out["readiness"]["checks"]} <= {"ready", "not_ready", "unknown"}
        assert out["proposal"]["jobId"] == ids["jobs"]["primary"] and out["warnings"] == []
        over = await c.call_tool(
            "preview_hire", {"proposalId": proposals["hireable"][0], "milestone": terms(301)}
        )
        assert over.structured_content["policy"]["allowed"] is False
        assert over.structured_content["policy"]["limit"] == "max_hire_usd" and "$341.05" in text_of(over)
        for role, marker in (
            ("notFit", "Not a fit"),
            ("declined", "declined"),
            ("alreadyHired", "already hired"),
        ):
            proposal = proposals[role] if isinstance(proposals[role], str) else proposals[role][0]
            warned = await c.call_tool("preview_hire", {"proposalId": proposal, "milestone": terms(10)})
            assert any(marker in w for w in warned.structured_content["warnings"]), (
                role,
                warned.structured_content,
            )
        assert posts(controls) == 0
        await hire(c, proposals["hireable"][0])
        repeat = await c.call_tool(
            "preview_hire", {"proposalId": proposals["hireable"][0], "milestone": terms(300)}
        )
        assert "identical request is pending" in repeat.structured_content["policy"]["detail"]
        replacing = await c.call_tool(
            "preview_hire", {"proposalId": proposals["hireable"][0], "milestone": terms(5)}
        )
        assert any("would replace pending approval" in w for w in replacing.structured_content["warnings"])


async def test_get_spend_status_shows_limits_usage_and_what_is_left(served, controls, ids):
    async with served(max_daily_usd="1000", max_hire_usd="500") as c:
        empty = (await c.call_tool("get_spend_status", {})).structured_content
        assert empty["used"] == {"todayUsd": 0, "monthUsd": 0, "pending": 0, "requestsThisHour": 0}
        hired = await hire(c, ids["proposals"]["hireable"][0])
        r = await c.call_tool("get_spend_status", {})
        out = r.structured_content
        assert out["limits"]["max_daily_usd"] == 1000 and "max_monthly_usd" not in out["limits"]
        assert out["used"] == {"todayUsd": 339.95, "monthUsd": 339.95, "pending": 1, "requestsThisHour": 1}
        assert out["remaining"] == {"todayUsd": 660.05, "pending": 9, "requestsThisHour": 19}
        assert out["persistent"] is True and "$339.95 of $1,000.00" in text_of(r)
        controls.confirm(hired.structured_content["approval"]["id"])
        after = (await c.call_tool("get_spend_status", {})).structured_content
        assert after["used"] == {"todayUsd": 339.95, "monthUsd": 339.95, "pending": 0, "requestsThisHour": 1}


async def test_read_only_keeps_preview_and_status(settings):
    async with Client(build_server(settings, read_only=True), mode="legacy") as c:
        names = {t.name for t in (await c.list_tools()).tools}
    assert {"preview_hire", "get_spend_status"} <= names and "request_hire" not in names


async def test_with_the_ledger_off_defaults_count_in_memory_and_history_caps_refuse(settings, controls, ids):
    with pytest.raises(PolicyError, match="max_daily_usd"):
        build_server(settings, spend_policy=SpendPolicy(max_daily_usd="10"))
    async with Client(
        build_server(settings, policy=FAST_POLICY, spend_policy=SpendPolicy(max_hire_usd="400"))
    ) as c:
        r = await hire(c, ids["proposals"]["hireable"][0])
        assert r.structured_content["capsUsed"] == {
            "max_hire_usd": "339.95/400.00",
            "max_pending": "1/10",
            "max_requests_per_hour": "1/20",
        }
        status = await c.call_tool("get_spend_status", {})
        assert status.structured_content["persistent"] is False and "this server process only" in text_of(
            status
        )


async def test_two_server_processes_race_for_the_last_slot(sandbox, controls, ids, tmp_path: Path):
    """Two stdio servers (what two desktop clients of one person start) share one ledger file."""
    ledger = str(tmp_path / "shared.sqlite3")
    env = clean_env(OT_API_TOKEN=sandbox.token, OPENTRAIN_API_BASE_URL=sandbox.base_url)
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "opentrain_mcp", "--ledger", ledger, "--max-pending", "1"],
        env=env,
    )
    results: dict[int, Any] = {}
    async with Client(server, mode="legacy") as first, Client(server, mode="legacy") as second:
        await first.list_tools()
        await second.list_tools()

        async def race(n: int, client: Client) -> None:
            results[n] = await hire(client, ids["proposals"]["hireable"][n])

        async with anyio.create_task_group() as tg:
            tg.start_soon(race, 0, first)
            tg.start_soon(race, 1, second)
    outcomes = sorted(r.is_error for r in results.values())
    assert outcomes == [False, True], [text_of(r) for r in results.values()]
    loser = next(r for r in results.values() if r.is_error)
    assert_refused(loser, "max_pending")
    assert posts(controls) == 1


async def test_a_payout_release_or_contract_end_is_held_to_max_pending_only(
    settings, sandbox, controls, ids, tmp_path
):
    """Releasing a payout or ending a contract charges nothing on confirmation: no money cap or hourly cap
    refuses it, but each waits for the human, so ``max_pending`` does."""
    contract_id = ids["contracts"]["alreadyHired"]
    state = sandbox.state
    contract = state.get_contract(state.authenticate(f"Bearer {state.token}"), contract_id)["contract"]
    policy = SpendPolicy(max_hire_usd="0.01", max_daily_usd="0.01", max_pending=1, max_requests_per_hour=1)
    server = build_server(
        settings,
        policy=FAST_POLICY,
        ledger_path=str(tmp_path / "ledger.sqlite3"),
        watch_interval=60,
        spend_policy=policy,
        toolsets={"hiring", "contracts"},
    )
    async with Client(server) as c:
        release = await c.call_tool(
            "request_milestone_release", {"milestoneId": contract["milestones"][0]["id"]}
        )
        assert not release.is_error, text_of(release)
        assert release.structured_content["capsUsed"]["max_pending"] == "1/1"
        before = posts(controls)
        end = await c.call_tool("end_contract", {"contractId": contract_id})
        assert_refused(end, "max_pending: 1 requests already await the human; the limit is 1")
        assert "refused this contract end request" in text_of(end)
        assert posts(controls) == before
