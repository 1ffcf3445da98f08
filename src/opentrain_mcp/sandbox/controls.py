"""Test controls under `/__sandbox__/` (assumption A17): JSON in and out, no auth, sandbox only."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .errors import SandboxError
from .state import SandboxState

CONTROL_PREFIX = "/__sandbox__"


async def _json_body(request: Request, *, required: bool) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise SandboxError(400, "A JSON body is required.")
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SandboxError(400, "The body is not valid JSON.") from None


def _checked(func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except ValueError as exc:
        raise SandboxError(400, str(exc)) from None


def control_routes(state: SandboxState) -> list[Route]:
    """Clock, faults, account and contract toggles, request log, human confirm/decline, fixtures and reset."""

    async def get_clock(request: Request) -> JSONResponse:
        return JSONResponse(state.clock_info())

    async def post_clock(request: Request) -> JSONResponse:
        body = await _json_body(request, required=True)
        if not isinstance(body, dict) or "advanceSeconds" not in body:
            raise SandboxError(400, 'Send {"advanceSeconds": N}.')
        return JSONResponse(_checked(state.advance_clock, body["advanceSeconds"]))

    async def get_faults(request: Request) -> JSONResponse:
        return JSONResponse(state.list_faults())

    async def post_fault(request: Request) -> JSONResponse:
        return JSONResponse(
            _checked(state.add_fault, await _json_body(request, required=True)), status_code=201
        )

    async def delete_faults(request: Request) -> JSONResponse:
        return JSONResponse({"cleared": state.clear_faults()})

    async def get_account(request: Request) -> JSONResponse:
        return JSONResponse(state.account_info())

    async def post_account(request: Request) -> JSONResponse:
        return JSONResponse(_checked(state.update_account, await _json_body(request, required=True)))

    async def post_contract(request: Request) -> JSONResponse:
        body = await _json_body(request, required=True)
        return JSONResponse(_checked(state.update_contract, request.path_params["contract_id"], body))

    async def get_requests(request: Request) -> JSONResponse:
        return JSONResponse(state.request_log())

    async def delete_requests(request: Request) -> JSONResponse:
        return JSONResponse({"cleared": state.clear_request_log()})

    async def confirm(request: Request) -> JSONResponse:
        body = await _json_body(request, required=False)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a JSON object.")
        source = body.get("paymentSource")
        approval = state.confirm_approval(request.path_params["approval_id"], body.get("milestone"), source)
        return JSONResponse({"approval": approval})

    async def decline(request: Request) -> JSONResponse:
        return JSONResponse({"approval": state.decline_approval(request.path_params["approval_id"])})

    async def fixtures(request: Request) -> JSONResponse:
        return JSONResponse(state.fixtures())

    async def reset(request: Request) -> JSONResponse:
        state.reset()
        return JSONResponse(state.fixtures())

    return [
        Route("/clock", get_clock, methods=["GET"]),
        Route("/clock", post_clock, methods=["POST"]),
        Route("/faults", get_faults, methods=["GET"]),
        Route("/faults", post_fault, methods=["POST"]),
        Route("/faults", delete_faults, methods=["DELETE"]),
        Route("/account", get_account, methods=["GET"]),
        Route("/account", post_account, methods=["POST"]),
        Route("/contracts/{contract_id}", post_contract, methods=["POST"]),
        Route("/requests", get_requests, methods=["GET"]),
        Route("/requests", delete_requests, methods=["DELETE"]),
        Route("/approvals/{approval_id}/confirm", confirm, methods=["POST"]),
        Route("/approvals/{approval_id}/decline", decline, methods=["POST"]),
        Route("/fixtures", fixtures, methods=["GET"]),
        Route("/reset", reset, methods=["POST"]),
    ]
