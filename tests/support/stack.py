"""The Yui stack in one test process: every service's API (ASGI, lifespan run) and worker, on real infrastructure."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from yui_common.auth import GATEWAY_SECRET_HEADER
from yui_common.db import asyncpg_dsn
from yui_common.migrations import migrate
from yui_common.settings import CommonSettings
from yui_common.worker import Worker, declare_topology

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "consent", "timeline", "portal", "notify", "federation")
# The secret the stack's services share with the test gateway (tests/support/gateway.py), as YUI_GATEWAY_SECRET
# in a deployment. A test that plays the gateway (sending the X-Client-* headers itself) adds FROM_GATEWAY.
GATEWAY_SECRET = secrets.token_urlsafe(24)
FROM_GATEWAY = {GATEWAY_SECRET_HEADER: GATEWAY_SECRET}


def service_module(service: str, name: str) -> Any:
    return importlib.import_module(f"{service}.{name}")


def settings_for(service: str) -> CommonSettings:
    settings: CommonSettings = service_module(service, "settings").Settings()
    return settings


async def reset_database(settings: CommonSettings) -> None:
    server = asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres")
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    finally:
        await conn.close()


def give_services_audit_keys() -> None:
    """Each service's audit key (yui_common.audit_seal), made once per run of the tests as `make run` keeps
    its own in .run/; a key a test's environment already names is kept."""
    from yui_common.audit_seal import ensure_audit_key

    directory = Path(tempfile.gettempdir()) / f"{os.environ.get('YUI_DATABASE_PREFIX', 'yui_')}audit_keys"
    for svc in SERVICES:
        variable = f"YUI_{svc.upper()}_AUDIT_KEY_FILE"
        os.environ.setdefault(variable, str(ensure_audit_key(directory / f"{svc}.pem")))


@dataclass
class ServiceHandle:
    name: str
    settings: CommonSettings
    app: FastAPI
    client: httpx.AsyncClient
    worker: Worker | None = None

    @property
    def sessionmaker(self) -> Any:
        return self.app.state.sessionmaker


@dataclass
class Staff:
    """A signed-in person as the services see them: a token for one user of one facility in one network."""

    user_id: UUID
    tenant: str
    facility_id: UUID
    roles: tuple[str, ...]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Stack:
    services: dict[str, ServiceHandle] = field(default_factory=dict)
    signing_key: Any = None
    _exit: AsyncExitStack = field(default_factory=AsyncExitStack)

    def __getitem__(self, name: str) -> ServiceHandle:
        return self.services[name]

    async def start(self, *, with_workers: bool = True) -> None:
        from identity import tokens

        give_services_audit_keys()
        settings = {svc: settings_for(svc) for svc in SERVICES}
        for svc, s in settings.items():
            await reset_database(s)
            await asyncio.to_thread(migrate, REPO / "services" / svc, s)
        self.signing_key = tokens.new_signing_key()
        jwks = {"keys": [tokens.public_jwk(self.signing_key)]}
        for svc in SERVICES:
            app = service_module(svc, "main").create_app(settings[svc])
            app.state.gateway_secret = GATEWAY_SECRET.encode()
            await self._exit.enter_async_context(LifespanManager(app, startup_timeout=60))
            app.state.token_verifier.keys.load(jwks)
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{svc}.test")
            await self._exit.enter_async_context(client)
            self.services[svc] = ServiceHandle(svc, settings[svc], app, client)
        # The portal's pages call the other services' APIs: here in-process, through their ASGI apps.
        self.services["portal"].app.state.service_transports = {
            svc: httpx.ASGITransport(app=self.services[svc].app)
            for svc in ("identity", "consent", "timeline", "notify", "federation")
        }
        # federation speaks HTTP to peers; here its peer is its own deployment (two networks of the stack), reached
        # through its in-process app, by the API (feed pulls, keys) and the worker (deliveries) alike.
        federation = self.services["federation"].app
        federation.state.peer_clients.transport = httpx.ASGITransport(app=federation)
        # A referral's reads and posts: federation grants, timeline checks the grant with federation's keys.
        federation.state.timeline_transport = httpx.ASGITransport(app=self.services["timeline"].app)
        self.services["timeline"].app.state.federation_keys.transport = httpx.ASGITransport(app=federation)
        # identity's audit search asks every service; in tests it reaches their in-process apps.
        clients = {name: handle.client for name, handle in self.services.items()}
        self.services["identity"].app.state.audit_service_clients = clients
        for svc in SERVICES:
            worker: Worker = service_module(svc, "worker").build_worker(settings[svc])
            if svc == "federation":
                worker.peer_clients.transport = httpx.ASGITransport(app=federation)  # type: ignore[attr-defined]
            await declare_topology(settings[svc], worker.subscriptions)
            if with_workers:
                await worker.start()
                self._exit.push_async_callback(worker.stop)
                self.services[svc].worker = worker
            else:
                await worker.engine.dispose()

    async def close(self) -> None:
        await self._exit.aclose()

    def staff(
        self,
        *,
        tenant: str = "demo",
        facility_id: UUID | None = None,
        roles: tuple[str, ...] = ("staff",),
        user_id: UUID | None = None,
        cert_fingerprint: str | None = None,
    ) -> Staff:
        from identity import tokens

        user_id = user_id or uuid4()
        facility_id = facility_id or uuid4()
        token = tokens.sign_access_token(
            self.signing_key,
            issuer="yui-identity",
            audience="yui",
            user_id=user_id,
            tenant=tenant,
            facility_id=facility_id,
            roles=list(roles),
            name="テスト 職員",
            ttl_s=3600,
            cert_fingerprint=cert_fingerprint,
        )
        if "consent" in self.services:
            self._introduce_to_consent(user_id=user_id, tenant=tenant, facility_id=facility_id)
        return Staff(user_id, tenant, facility_id, roles, token)

    def _introduce_to_consent(self, *, user_id: UUID, tenant: str, facility_id: UUID) -> None:
        """Consent invites only people its projection knows (issue 10). A staff member made here holds a token
        but no identity account, so they are introduced as identity's person-changed event would introduce
        them, at version 0 (any real event wins). In a thread: this method is synchronous but called from
        async tests, and the projection must be there before the next request."""
        dsn = asyncpg_dsn(self["consent"].settings.dsn)

        async def introduce() -> None:
            connection = await asyncpg.connect(dsn)
            try:
                # The event loop is blocked while this runs: if consent's own worker (on that loop) is upserting
                # the same person, its row lock would never be released. Give up quickly instead: that worker is
                # writing the real person, which is what this stands in for.
                await connection.execute("SET lock_timeout = '1s'")
                await connection.execute(
                    "INSERT INTO people (user_id, tenant, name, name_kana, profession, facility_id,"
                    " facility_name, status, version) VALUES ($1, $2, 'テスト 職員', 'テスト ショクイン', 'other',"
                    " $3, 'テスト施設', 'active', 0) ON CONFLICT (user_id) DO NOTHING",
                    user_id,
                    tenant,
                    facility_id,
                )
            except asyncpg.exceptions.LockNotAvailableError:
                pass
            finally:
                await connection.close()

        failures: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(introduce())
            except BaseException as failure:  # handed to the caller's thread below
                failures.append(failure)

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
        if failures:
            raise failures[0]


async def eventually(
    check: Callable[[], Awaitable[Any] | Any],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
