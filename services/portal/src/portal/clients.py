"""HTTP clients for the services the portal fronts (identity, consent, timeline, notify); calls as staff.

The portal is a backend-for-frontend: its pages call the other services' JSON APIs directly (not through
the gateway), so it forwards what the gateway told it about the browser's client certificate — a token
bound to a certificate is only accepted with the same certificate presented.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from yui_common.auth import GATEWAY_IDENTITY_HEADERS

from portal.session import StaffSession

ServiceName = Literal["identity", "consent", "timeline", "notify"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("identity", "consent", "timeline", "notify")
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def _base_url(app: FastAPI, service: ServiceName) -> str:
    # A test harness may point the portal at servers it started (app.state.service_base_urls).
    overrides: dict[str, str] = getattr(app.state, "service_base_urls", None) or {}
    url: str = overrides.get(service) or getattr(app.state.settings, f"{service}_url")
    return url.rstrip("/")


def service_client(request: Request, service: ServiceName) -> httpx.AsyncClient:
    """A shared client for one service's API (tests wire ``app.state.service_transports`` in-process)."""
    return client_for_app(request.app, service)


def client_for_app(app: FastAPI, service: ServiceName) -> httpx.AsyncClient:
    clients: dict[str, httpx.AsyncClient] | None = getattr(app.state, "service_clients", None)
    if clients is None:
        clients = {}
        app.state.service_clients = clients
    client = clients.get(service)
    if client is None or client.is_closed:
        transports: dict[str, httpx.AsyncBaseTransport] = getattr(app.state, "service_transports", None) or {}
        overridden = service in (getattr(app.state, "service_base_urls", None) or {})
        transport = None if overridden else transports.get(service)
        if transport is not None:
            client = httpx.AsyncClient(
                transport=transport, base_url=f"http://{service}.test", timeout=TIMEOUT
            )
        else:
            client = httpx.AsyncClient(base_url=_base_url(app, service), timeout=TIMEOUT)
        clients[service] = client
    return client


async def close_service_clients(app: FastAPI) -> None:
    """On shutdown: close the pooled connections."""
    for client in (getattr(app.state, "service_clients", None) or {}).values():
        await client.aclose()
    app.state.service_clients = {}


def forwarded_headers(request: Request) -> dict[str, str]:
    """What the services need to know about the browser's request: its certificate, language and trace."""
    headers: dict[str, str] = {}
    for name in (*GATEWAY_IDENTITY_HEADERS, "user-agent", "accept-language", "traceparent"):
        value = request.headers.get(name)
        if value:
            headers[name] = value
    return headers


async def call_as_staff(
    request: Request,
    staff: StaffSession,
    service: ServiceName,
    method: str,
    path: str,
    **kwargs: Any,
) -> httpx.Response:
    """Call a service's API with the staff member's bearer token (and their certificate, when presented)."""
    headers = {
        **forwarded_headers(request),
        **kwargs.pop("headers", {}),
        "Authorization": f"Bearer {staff.token}",
    }
    return await service_client(request, service).request(method, path, headers=headers, **kwargs)
