"""create_service_app(): the FastAPI application every service builds on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp, Receive, Scope, Send

from yui_common import auth
from yui_common.auth import JwksKeySet, TokenVerifier, gateway_secret_from_environment
from yui_common.db import create_engine, create_sessionmaker
from yui_common.health import broker_ready, database_ready, storage_ready
from yui_common.health import router as health_router
from yui_common.metrics import HTTP_DURATION, HTTP_ERRORS, HTTP_REQUESTS
from yui_common.problems import document_problems, install_database_problem_handlers, install_problem_handlers
from yui_common.request_log import RequestLogMiddleware
from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore
from yui_common.telemetry import setup_logging, setup_tracing, tracing_enabled

log = logging.getLogger(__name__)
Hook = Callable[[FastAPI], Awaitable[None]]


class ForwardedPrefixMiddleware:
    """Behind the gateway a service lives under /api/<svc>; make that its ASGI root_path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"x-forwarded-prefix":
                    prefix = value.decode("latin-1").rstrip("/")
                    if prefix.startswith("/") and not scope["path"].startswith(prefix + "/"):
                        scope = {**scope, "root_path": prefix, "path": prefix + scope["path"]}
                    break
        await self.app(scope, receive, send)


class RedMetricsMiddleware:
    """Rate, errors and duration per route template (never the raw path: it may carry ids)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            status = status_holder["status"]
            HTTP_REQUESTS.labels(template, method, str(status)).inc()
            HTTP_DURATION.labels(template, method).observe(time.perf_counter() - started)
            if status >= 500:
                HTTP_ERRORS.labels(template, method).inc()


def _needs_a_token(dependant: Dependant) -> bool:
    """Whether a route's dependencies read the caller's token: any of yui_common.auth's (CurrentPrincipal,
    or the bare signature check a hot read folds its revocation check into), however deep."""
    return any(
        getattr(sub.call, "__module__", None) == auth.__name__ or _needs_a_token(sub)
        for sub in dependant.dependencies
    )


def _token_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every documented operation that needs a token. FastAPI's own route walk, which sees
    through included routers as the document's generator does."""
    return {
        (str(route.path_format), method.lower())
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        and route.include_in_schema
        and _needs_a_token(route.dependant)
        for method in route.methods or ()
    }


def _document_problems_in_openapi(app: FastAPI) -> None:
    """The app's OpenAPI document lists the problem+json errors its routes answer (yui_common.problems).
    FastAPI builds the document lazily and again when routes change; each new build is completed once."""
    build = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = build()
        if not any(document is done for done in completed):
            document_problems(document, authenticated=_token_operations(app))
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# Probes and scrapes are not worth a trace.
_UNTRACED_PATHS = ("/healthz", "/readyz", "/metrics")


def _untraced(scope: Any) -> bool:
    """Which requests FastAPI's own OpenTelemetry support leaves alone: all of them while no exporter would
    receive a span (a span was otherwise created, timed and dropped per request), and the probes. Asked per
    request, because an exporter can be added to the running process (the tracing tests add one)."""
    return not tracing_enabled() or str(scope.get("path", "")).endswith(_UNTRACED_PATHS)


# FastAPI's native telemetry (0.165) makes the server span, named after the route template, with the
# caller's W3C context as parent. Only that span: no spans per dependency or endpoint (the handler's outbox
# rows then carry the request span as their parent, which the traces through the bus are built on); no
# OpenTelemetry metrics (the RED metrics are Prometheus, RedMetricsMiddleware); no OpenTelemetry logs (they
# would carry validation failures' input values, which may be a patient's data).
_TELEMETRY: TelemetryConfig = {
    "exclude": _untraced,
    "operation_spans": False,
    "metrics": False,
    "logs": False,
}


async def _connect_broker_in_background(app: FastAPI, url: str) -> None:
    """The API starts even when RabbitMQ is down; /readyz says so until the connection is made."""
    while True:
        try:
            app.state.amqp = await aio_pika.connect_robust(
                url, client_properties={"connection_name": app.title}
            )
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            await asyncio.sleep(2)


def create_service_app(
    *,
    settings: CommonSettings,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    consumer_queues: Sequence[str] = (),
    uses_object_storage: bool = False,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    version: str = "0.1.0",
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(settings)
        setup_tracing(settings)
        engine = create_engine(settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.amqp = None
        app.state.consumer_queues = list(consumer_queues)
        app.state.token_verifier = TokenVerifier(
            JwksKeySet(settings.jwks_url), issuer=settings.token_issuer, audience=settings.token_audience
        )
        checks: dict[str, Any] = {"database": database_ready, "broker": broker_ready}
        if uses_object_storage:
            app.state.object_store = ObjectStore(settings)
            checks["object_storage"] = storage_ready
            with contextlib.suppress(Exception):
                await app.state.object_store.ensure_bucket()
        app.state.readiness_checks = checks
        broker_task = asyncio.create_task(_connect_broker_in_background(app, settings.amqp_url))
        for hook in on_startup:
            await hook(app)
        try:
            yield
        finally:
            for hook in on_shutdown:
                with contextlib.suppress(Exception):
                    await hook(app)
            broker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await broker_task
            if app.state.amqp is not None:
                with contextlib.suppress(Exception):
                    await app.state.amqp.close()
            await engine.dispose()

    app = FastAPI(
        title=title, description=description, version=version, lifespan=lifespan, telemetry=_TELEMETRY
    )
    # Read once, at construction: which requests came through the gateway (yui_common.auth).
    app.state.gateway_secret = gateway_secret_from_environment()
    install_problem_handlers(app)
    install_database_problem_handlers(app)
    _document_problems_in_openapi(app)
    app.include_router(health_router)
    for router in routers:
        app.include_router(router)
    app.add_middleware(RedMetricsMiddleware)
    # One JSON line per request; every line written while it is handled carries its trace id.
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(ForwardedPrefixMiddleware)
    return app
