"""What every service client of the portal shares: one keep-alive connection per service for the app's life,
the headers a call carries, typed answers, and ServiceProblem, the one exception for every refusal.

The portal is a backend-for-frontend: its pages call the other services' JSON APIs directly (not through
the gateway), so it forwards what the gateway told it about the browser's client certificate — a token
bound to a certificate is only accepted with the same certificate presented.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Literal, TypeVar, cast, get_args

import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, TypeAdapter
from yui_common.auth import GATEWAY_IDENTITY_HEADERS

ServiceName = Literal["identity", "consent", "timeline", "notify", "federation"]
SERVICE_NAMES: tuple[ServiceName, ...] = get_args(ServiceName)
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# A pooled connection is dropped after 2 s idle: the services' uvicorn closes an idle keep-alive connection after
# 5 s, and reusing one at that moment fails the request (httpx.ReadError; a write cannot be repeated safely).
LIMITS = httpx.Limits(keepalive_expiry=2.0)
# X-Forwarded-For is the gateway's (it replaces the browser's); identity believes it only beside the gateway's
# secret, so a staff-UI sign-in counts against the browser's address, not the portal's.
FORWARDED_HEADERS = (
    *GATEWAY_IDENTITY_HEADERS,
    "x-forwarded-for",
    "user-agent",
    "accept-language",
    "traceparent",
)
T = TypeVar("T")


class Answer(BaseModel):
    """What the portal reads from a service: only the fields it uses; a service may send more."""

    model_config = ConfigDict(extra="ignore")


SAFE_METHODS = frozenset({"GET", "HEAD"})


class ServiceProblem(Exception):
    """A service answered 4xx/5xx: its status and RFC 9457 fields (empty when the body was no problem+json).

    The staff UI shows it in the reader's language by status; a 401 means the staff session has ended."""

    def __init__(
        self,
        status: int,
        type: str = "",
        title: str = "",
        detail: str = "",
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, type, title)
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.extensions = extensions or {}

    @classmethod
    def of(cls, response: httpx.Response) -> ServiceProblem:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return cls(response.status_code)
        known = {"type", "title", "detail", "status"}
        return cls(
            response.status_code,
            str(body.get("type") or ""),
            str(body.get("title") or ""),
            str(body.get("detail") or ""),
            {k: v for k, v in body.items() if k not in known},
        )

    @property
    def slug(self) -> str:
        """The problem type's last part (``urn:yui:problem:not-found`` → ``not-found``)."""
        return self.type.rstrip("/").replace(":", "/").rsplit("/", 1)[-1]

    @property
    def session_ended(self) -> bool:
        return self.status == 401


def forwarded_headers(request: Request) -> dict[str, str]:
    """What the services need to know of the browser's request: certificate, address, language, trace."""
    headers: dict[str, str] = {}
    for name in FORWARDED_HEADERS:
        value = request.headers.get(name)
        if value:
            headers[name] = value
    return headers


def connection(app: FastAPI, service: ServiceName) -> httpx.AsyncClient:
    """The app's pooled client for one service, opened on first use and kept until shutdown.

    A test harness may wire services in-process (``app.state.service_transports``) or point the portal at
    servers it started (``app.state.service_base_urls``, which wins)."""
    clients: dict[str, httpx.AsyncClient] | None = getattr(app.state, "service_clients", None)
    if clients is None:
        clients = {}
        app.state.service_clients = clients
    client = clients.get(service)
    if client is None or client.is_closed:
        base_urls: dict[str, str] = getattr(app.state, "service_base_urls", None) or {}
        transports: dict[str, httpx.AsyncBaseTransport] = getattr(app.state, "service_transports", None) or {}
        transport = None if service in base_urls else transports.get(service)
        if transport is not None:
            client = httpx.AsyncClient(
                transport=transport, base_url=f"http://{service}.test", timeout=TIMEOUT
            )
        else:
            url: str = base_urls.get(service) or getattr(app.state.settings, f"{service}_url")
            client = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=TIMEOUT, limits=LIMITS)
        clients[service] = client
    return client


async def close_service_clients(app: FastAPI) -> None:
    """On shutdown: close the pooled connections."""
    for client in (getattr(app.state, "service_clients", None) or {}).values():
        await client.aclose()
    app.state.service_clients = {}


@cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


class ServiceClient:
    """Calls one service for one browser request: as the signed-in staff member when given their token."""

    service: ClassVar[ServiceName]

    def __init__(self, request: Request, token: str | None = None) -> None:
        self.http = connection(request.app, self.service)
        self.headers = forwarded_headers(request)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    async def send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """The answer whatever its status: for relays, which pass it on as it is.

        A read that meets a pooled keep-alive connection the service had already closed (ReadError,
        RemoteProtocolError) goes once more on a new connection; a write never repeats by itself."""
        merged = {**self.headers, **(headers or {})}
        try:
            return await self.http.request(method, path, headers=merged, **kwargs)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            if method.upper() not in SAFE_METHODS:
                raise
            return await self.http.request(method, path, headers=merged, **kwargs)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer of a call that succeeded; ServiceProblem otherwise, a service out of reach included (503):
        pages then show that part as missing (``staff.pages.optional``) or the unavailable page, never a 500."""
        try:
            response = await self.send(method, path, **kwargs)
        except httpx.TransportError as failure:
            raise ServiceProblem(
                503, "urn:yui:problem:service-unavailable", "Service unavailable", type(failure).__name__
            ) from failure
        if response.status_code >= 400:
            raise ServiceProblem.of(response)
        return response

    async def read(self, shape: type[T], method: str, path: str, **kwargs: Any) -> T:
        """The answer as ``shape`` (a model, or a list of them)."""
        response = await self.call(method, path, **kwargs)
        result: T = _adapter(cast(Any, shape)).validate_json(response.content)
        return result

    async def open(self, path: str) -> httpx.Response:
        """A GET whose body is streamed (files): the caller closes it."""
        return await self.http.send(self.http.build_request("GET", path, headers=self.headers), stream=True)
