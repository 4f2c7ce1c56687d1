"""A suspended network's answer on every portal page and API (ten3): the clear page, or the same problem+json
every service gives (yui_common.networks). The state comes through the gate's cache, which a NOTIFY on the
networks channel empties when the projection changes (gate_cache.py)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from yui_common import networks
from yui_common.problems import problem_response
from yui_common.web import render

from portal.operations.gate_cache import read_through
from portal.session import single_statement_session


async def is_suspended(request: Request, tenant: str) -> bool:
    async def load() -> bool:
        async with single_statement_session(request.app) as session:
            return await networks.is_suspended(session, tenant)

    return await read_through(request.app, ("network-suspended", tenant), load)


def suspended_response(request: Request, *, html: bool) -> Response:
    if html:
        return render(request, "public/network_suspended.html", {}, status_code=403)
    problem = networks.network_suspended()
    return problem_response(request, problem.status, problem.slug, problem.title, problem.detail)
