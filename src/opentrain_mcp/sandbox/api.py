"""Routes of the simulated Public API, mounted under `/api/public/v1`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .records import Token
from .state import SandboxState


def api_routes(state: SandboxState) -> list[Route]:
    """The documented endpoints the MCP server uses; every handler authenticates first (401 before anything)."""

    def token(request: Request) -> Token:
        return state.authenticate(request.headers.get("authorization"))

    async def hire(request: Request) -> JSONResponse:
        caller = token(request)
        body = await request.body()
        return JSONResponse(state.hire(caller, request.path_params["proposal_id"], body), status_code=202)

    async def create_milestone(request: Request) -> JSONResponse:
        caller = token(request)
        body = await request.body()
        created = state.create_milestone(caller, request.path_params["contract_id"], body)
        return JSONResponse(created, status_code=201)

    async def fund_milestone(request: Request) -> JSONResponse:
        return JSONResponse(
            state.fund_milestone(token(request), request.path_params["milestone_id"]), status_code=202
        )

    async def approve_milestone(request: Request) -> JSONResponse:
        return JSONResponse(
            state.approve_milestone(token(request), request.path_params["milestone_id"]), status_code=202
        )

    async def end_contract(request: Request) -> JSONResponse:
        status, body = state.end_contract(token(request), request.path_params["contract_id"])
        return JSONResponse(body, status_code=status)

    async def get_approval(request: Request) -> JSONResponse:
        return JSONResponse(state.get_approval(token(request), request.path_params["approval_id"]))

    async def updates(request: Request) -> JSONResponse:
        query = request.query_params
        return JSONResponse(state.updates(token(request), query.get("cursor"), query.get("limit")))

    async def job_proposals(request: Request) -> JSONResponse:
        query = request.query_params
        return JSONResponse(
            state.list_proposals(
                token(request),
                request.path_params["job_id"],
                query.get("status"),
                query.get("cursor"),
                query.get("limit"),
            )
        )

    async def get_proposal(request: Request) -> JSONResponse:
        return JSONResponse(state.get_proposal(token(request), request.path_params["proposal_id"]))

    async def jobs_mine(request: Request) -> JSONResponse:
        query = request.query_params
        return JSONResponse(
            state.list_jobs(token(request), query.get("status"), query.get("cursor"), query.get("limit"))
        )

    async def contracts(request: Request) -> JSONResponse:
        query = request.query_params
        return JSONResponse(state.list_contracts(token(request), query.get("jobId"), query.get("status")))

    async def get_contract(request: Request) -> JSONResponse:
        return JSONResponse(state.get_contract(token(request), request.path_params["contract_id"]))

    async def auth_me(request: Request) -> JSONResponse:
        return JSONResponse(state.auth_me(token(request)))

    async def capabilities(request: Request) -> JSONResponse:
        return JSONResponse(state.capabilities(token(request)))

    async def credits(request: Request) -> JSONResponse:
        return JSONResponse(state.credits(token(request)))

    return [
        Route("/proposals/{proposal_id}/hire", hire, methods=["POST"]),
        Route("/proposals/{proposal_id}", get_proposal, methods=["GET"]),
        Route("/approvals/{approval_id}", get_approval, methods=["GET"]),
        Route("/updates", updates, methods=["GET"]),
        Route("/jobs/mine", jobs_mine, methods=["GET"]),
        Route("/jobs/{job_id}/proposals", job_proposals, methods=["GET"]),
        Route("/contracts", contracts, methods=["GET"]),
        Route("/contracts/{contract_id}", get_contract, methods=["GET"]),
        Route("/contracts/{contract_id}/milestones", create_milestone, methods=["POST"]),
        Route("/contracts/{contract_id}/end", end_contract, methods=["POST"]),
        Route("/milestones/{milestone_id}/fund", fund_milestone, methods=["POST"]),
        Route("/milestones/{milestone_id}/approve", approve_milestone, methods=["POST"]),
        Route("/auth/me", auth_me, methods=["GET"]),
        Route("/job-drafts/capabilities", capabilities, methods=["GET"]),
        Route("/credits", credits, methods=["GET"]),
    ]
