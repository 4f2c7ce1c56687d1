"""/healthz (alive), /readyz (dependencies answer) and /metrics (Prometheus) for every service.

They are for the platform (probes, Prometheus) on the service's internal address. The gateway does not route
/metrics at all; should a request from outside still arrive (it carries the gateway's header), /metrics
answers 404 and /readyz says only ready or not, without naming the dependencies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from yui_common.audit_seal import refresh_audit_gauges
from yui_common.auth import GATEWAY_SECRET_HEADER
from yui_common.bus.topology import dead_letter_depths
from yui_common.metrics import DLQ_DEPTH, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE
from yui_common.outbox import outbox_backlog
from yui_common.problems import MEDIA_TYPE, not_found

router = APIRouter(tags=["health"])
Check = Callable[[Request], Awaitable[bool]]


def from_outside(request: Request) -> bool:
    """Sent through the gateway, i.e. by someone outside the platform (any value of its header counts: this
    only ever takes something away)."""
    return GATEWAY_SECRET_HEADER in request.headers


async def database_ready(request: Request) -> bool:
    async with request.app.state.sessionmaker() as session:
        await session.execute(text("SELECT 1"))
    return True


async def broker_ready(request: Request) -> bool:
    connection = request.app.state.amqp
    return connection is not None and not connection.is_closed


async def storage_ready(request: Request) -> bool:
    return bool(await request.app.state.object_store.ready())


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The service can reach its database, broker and (where used) object storage",
    responses={503: {"description": "A dependency is not reachable", "content": {MEDIA_TYPE: {}}}},
)
async def readyz(request: Request) -> Response:
    checks: dict[str, Check] = request.app.state.readiness_checks
    results: dict[str, str] = {}

    async def run(name: str, check: Check) -> None:
        try:
            ok = await asyncio.wait_for(check(request), timeout=3.0)
        except Exception:
            ok = False
        results[name] = "ok" if ok else "unavailable"

    await asyncio.gather(*(run(name, check) for name, check in checks.items()))
    detailed = not from_outside(request)
    if all(v == "ok" for v in results.values()):
        return JSONResponse({"status": "ready", "checks": results} if detailed else {"status": "ready"})
    body: dict[str, Any] = {
        "type": "urn:yui:problem:unavailable",
        "title": "Not ready",
        "status": 503,
        "detail": "A dependency is not reachable.",
    }
    if detailed:
        body["checks"] = results
    return JSONResponse(body, status_code=503, media_type=MEDIA_TYPE)


async def refresh_bus_gauges(app_state: Any) -> None:
    """Outbox backlog and the unsealed audit backlog from the database; DLQ depth of this service's queues from the broker."""
    try:
        async with app_state.sessionmaker() as session:
            backlog, oldest = await outbox_backlog(session)
        OUTBOX_BACKLOG.set(backlog)
        OUTBOX_OLDEST_AGE.set(oldest)
        await refresh_audit_gauges(app_state.sessionmaker)
    except Exception:  # noqa: S110 - a scrape must still answer when the database is down
        pass
    connection = getattr(app_state, "amqp", None)
    queues = getattr(app_state, "consumer_queues", [])
    if connection is not None and not connection.is_closed and queues:
        try:
            for queue, depth in (await dead_letter_depths(connection, queues)).items():
                DLQ_DEPTH.labels(queue).set(depth)
        except Exception:  # noqa: S110
            pass


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    if from_outside(request):
        raise not_found()
    await refresh_bus_gauges(request.app.state)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
