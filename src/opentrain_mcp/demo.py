"""``opentrain-mcp demo``: the whole hire flow and the engagement after it (release, a new milestone, funding,
release, end) against the sandbox, through a real MCP client over stdio."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TERMS = {
    "name": "Pilot labeling batch",
    "description": "Label 1,000 support tickets by intent, following the guidelines",
    "amount": 300,
}
NEXT_MILESTONE = {
    "name": "Second labeling batch",
    "description": "Label 4,000 more support tickets by intent",
    "amountUsd": 1200,
}


MAX_WAIT_SECONDS = 50  # wait_for_approval's own limit
INTRO = """\
An agent hires an AI trainer on a local sandbox: a simulated OpenTrain, no token, no real money.
The demo plays both parts: the agent (a real MCP client calling the tools) and the human, who opens each
approval link and clicks Confirm. To click Confirm yourself in a browser: opentrain-mcp demo --interactive"""
INTERACTIVE_INTRO = """\
An agent hires an AI trainer on a local sandbox: a simulated OpenTrain, no token, no real money.
The demo plays the agent (a real MCP client calling the tools); you play the human: open each approval
link it prints and click Confirm (or Decline, to see what the agent is told)."""


class DemoStopped(RuntimeError):
    """The flow ended early for a reason the person running the demo should read (decline, timeout)."""


def _root_cause(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups from task groups."""
    while inner := getattr(exc, "exceptions", None):  # BaseExceptionGroup (Python 3.11+, or the backport)
        exc = inner[0]
    return exc


def _say(step: str, detail: str = "") -> None:
    print(f"\n== {step}" + (f"\n{detail}" if detail else ""), flush=True)


def _check(result: Any, what: str) -> dict[str, Any]:
    if result.is_error:
        text = "\n".join(getattr(c, "text", "") for c in result.content)
        raise DemoStopped(f"{what} failed: {text}")
    return dict(result.structured_content or {})


async def run(interactive: bool, timeout: float) -> None:
    import datetime as dt

    from mcp import Client, StdioServerParameters

    args = ["-m", "opentrain_mcp", "--sandbox", "--toolsets", "hiring,contracts"]
    server = StdioServerParameters(command=sys.executable, args=args)
    started = time.monotonic()
    deadline = started + timeout
    print(INTERACTIVE_INTRO if interactive else INTRO, flush=True)
    async with Client(server, mode="legacy") as client:
        _say("1. Started `opentrain-mcp --sandbox` over stdio", f"   protocol {client.protocol_version}")
        tools = (await client.list_tools()).tools
        _say("2. Tools the agent sees", "\n".join(f"   - {t.name}: {t.title}" for t in tools))

        jobs = _check(await client.call_tool("list_jobs", {}), "list_jobs")["jobs"]
        job = jobs[0]
        proposals = _check(await client.call_tool("list_proposals", {"jobId": job["id"]}), "list_proposals")
        candidates = [
            p for p in proposals["proposals"] if p.get("status") in ("UNREVIEWED", "SHORTLISTED", "MAYBE")
        ]
        pick = max(candidates, key=lambda p: p.get("interviewScore") or 0)
        _say(
            "3. Picked a proposal",
            f"   job {job['title']!r}: {pick['candidate']} (AI-interview score {pick.get('interviewScore')}), "
            f"proposal {pick['id']}",
        )

        due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
        terms = {**DEFAULT_TERMS, "dueDate": due}
        hire = _check(
            await client.call_tool("request_hire", {"proposalId": pick["id"], "milestone": terms}),
            "request_hire",
        )
        approval = hire["approval"]
        charge = hire["estimatedCharge"]
        _say(
            "4. request_hire -> pending approval (nobody is hired yet)",
            f"   approval {approval['id']}, status {approval['status']}, expires {approval['expiresAt']}\n"
            f"   estimated charge ${charge['total']:.2f} = ${charge['amount']:.2f} + ${charge['marketplaceFee']:.2f} "
            f"fee + ${charge['contractFee']:.2f} contract fee",
        )
        _say("5. The link the agent gives its human", f"   {approval['approvalUrl']}")

        checked = await _human_decides(client, approval, interactive, deadline, timeout, ("6.", "7."))
        contract_id = checked["approval"]["contractId"]
        contract = _check(await client.call_tool("get_contract", {"contractId": contract_id}), "get_contract")
        lines = [
            f"   contract {contract['id']} ({contract['status']}): {contract['title']} with {contract['freelancer']}"
        ]
        lines += [
            f"   milestone {m['name']!r}: {m['status']} ${m['amountUsd']:,.2f}"
            for m in contract["milestones"]
        ]
        _say("8. The contract", "\n".join(lines))

        pilot = contract["milestones"][0]["id"]
        release = {"milestoneId": pilot}
        await _cosigned(client, "9.", "request_milestone_release", release, interactive, deadline, timeout)
        added = _check(
            await client.call_tool(
                "create_milestone", {"contractId": contract_id, "milestone": NEXT_MILESTONE}
            ),
            "create_milestone",
        )["milestone"]
        _say("10. create_milestone -> runs at once, nothing funded", f"   {added['id']}: {added['status']}")
        batch = {"milestoneId": added["id"]}
        await _cosigned(client, "11.", "request_milestone_funding", batch, interactive, deadline, timeout)
        await _cosigned(client, "12.", "request_milestone_release", batch, interactive, deadline, timeout)
        end = _check(await client.call_tool("end_contract", {"contractId": contract_id}), "end_contract")
        _say("13. end_contract", f"   {end['asks']}")
        if not end["ended"]:
            await _human_decides(client, end["approval"], interactive, deadline, timeout, ("13b.", "13c."))
        contract = _check(await client.call_tool("get_contract", {"contractId": contract_id}), "get_contract")
        lines = [f"   contract {contract['id']}: {contract['status']}"]
        lines += [
            f"   milestone {m['name']!r}: {m['status']} ${m['amountUsd']:,.2f} ({m.get('escrow', '?')})"
            for m in contract["milestones"]
        ]
        _say("14. The contract at the end", "\n".join(lines))
    print(
        f"\nDemo complete in {time.monotonic() - started:.1f} s: every step worked (sandbox, no real money)."
    )
    print(next_step(), flush=True)


async def _human_decides(
    client: Any,
    approval: dict[str, Any],
    interactive: bool,
    deadline: float,
    timeout: float,
    steps: tuple[str, str],
) -> dict[str, Any]:
    """The human confirms the approval (you, in --interactive mode); the agent waits and checks the outcome."""
    import httpx2

    if interactive:
        print("   Open it in a browser and click Confirm (or Decline). Waiting...", flush=True)
    else:
        page_origin = approval["approvalUrl"].split("/approvals/")[0]  # a browser sends its page's Origin
        response = httpx2.post(
            approval["approvalUrl"] + "/confirm",
            headers={"Origin": page_origin},
            follow_redirects=True,
            timeout=10,
        )
        response.raise_for_status()
        _say(
            f"{steps[0]} The demo, standing in for the human, clicked Confirm on the approval page",
            f"   POST {approval['approvalUrl']}/confirm",
        )
    status = approval["status"]
    while status == "pending" and (left := deadline - time.monotonic()) > 0:
        wait = max(1, min(MAX_WAIT_SECONDS, math.ceil(left)))
        waited = _check(
            await client.call_tool(
                "wait_for_approval", {"approvalId": approval["id"], "timeoutSeconds": wait}
            ),
            "wait_for_approval",
        )
        status = waited["approval"]["status"]
    checked = _check(
        await client.call_tool("check_approval", {"approvalId": approval["id"]}), "check_approval"
    )
    status = checked["approval"]["status"]
    _say(f"{steps[1]} check_approval", f"   {status}: {checked['meaning']}")
    if status == "pending":
        raise DemoStopped(f"nobody confirmed the approval within {timeout:g} s (it is still pending)")
    if status != "confirmed":
        raise DemoStopped(f"the approval ended {status!r}, not confirmed: nothing ran")
    return checked


async def _cosigned(
    client: Any,
    step: str,
    tool: str,
    args: dict[str, Any],
    interactive: bool,
    deadline: float,
    timeout: float,
) -> None:
    """A co-signed request after the hire: the pending approval, what the human approves, their decision."""
    out = _check(await client.call_tool(tool, args), tool)
    approval = out["approval"]
    _say(
        f"{step} {tool} -> pending approval (nothing moves yet)",
        f"   {out['asks']}\n   {approval['approvalUrl']}",
    )
    steps = (f"{step[:-1]}b.", f"{step[:-1]}c.")
    await _human_decides(client, approval, interactive, deadline, timeout, steps)


def server_command() -> str:
    """How to start this installation's server: the ``opentrain-mcp`` script beside this Python, else ``-m``."""
    script = Path(sys.executable).with_name("opentrain-mcp.exe" if os.name == "nt" else "opentrain-mcp")
    return str(script) if script.is_file() else f"{sys.executable} -m opentrain_mcp"


def next_step() -> str:
    return (
        'Next: give your MCP client the same sandbox (README, "Add it to your MCP client"): the command\n'
        f"   {server_command()} --sandbox\n"
        "then, with a real token, `opentrain-mcp check` says whether your account is ready to hire."
    )


def main(
    argv: list[str] | None = None, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser
) -> int:
    parser = parser_class(
        prog="opentrain-mcp demo",
        description="Walk the hire flow and the engagement after it against a local sandbox through a real MCP "
        "client (no token, no money).",
    )
    parser.add_argument(
        "--interactive",
        action="store_true",
        help="you play the human: open each approval link in a browser and click Confirm",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait in --interactive mode")
    args = parser.parse_args(argv)
    import anyio

    try:
        anyio.run(run, args.interactive, args.timeout if args.interactive else 30)
    except Exception as exc:
        cause = _root_cause(exc)
        if isinstance(cause, DemoStopped):
            print(f"\nDemo stopped: {cause}", file=sys.stderr)
        else:
            print(f"\nDemo FAILED: {cause}", file=sys.stderr)
        return 1
    return 0
