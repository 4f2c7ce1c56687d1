"""The stack's apps under uvicorn behind the real nginx gateway: one per pytest worker (a session fixture)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from deploy.gateway.render import find_nginx, render
from tests.support.stack import GATEWAY_SECRET, SERVICES, Stack, eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    url: str
    certificate: Path
    # Each service's own address behind the gateway (http://127.0.0.1:<port>).
    upstreams: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        return client_for(self)


@contextlib.asynccontextmanager
async def nginx_in_front(stack: Stack, directory: Path, env: dict[str, str]) -> AsyncIterator[Gateway]:
    """Every service's app under uvicorn on a free port, and nginx rendered from the deployment's template in
    front of them with ``env`` as its settings; stopped again on exit."""
    nginx = find_nginx()
    assert nginx, "nginx is not installed (apt-get install nginx); .ci/run installs it"
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    settings = {
        "YUI_GATEWAY_SECRET": GATEWAY_SECRET,
        **env,
        "YUI_GATEWAY_PORT": str(free_port()),
        "YUI_GATEWAY_PEER_PORT": str(free_port()),
    }
    upstreams: dict[str, str] = {}
    for service in SERVICES:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(stack[service].app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        )
        servers.append((server, asyncio.create_task(server.serve())))
        settings[f"YUI_GATEWAY_{service.upper()}_UPSTREAM"] = f"127.0.0.1:{port}"
        upstreams[service] = f"http://127.0.0.1:{port}"
    rendered = render(directory, settings)
    process = await asyncio.to_thread(subprocess.Popen, rendered.nginx_command(nginx), stderr=subprocess.PIPE)
    gateway = Gateway(f"https://localhost:{rendered.port}", rendered.cert_file, upstreams)

    async def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            async with httpx.AsyncClient(verify=False) as client:
                return (await client.get(f"{gateway.url}/api/consent/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await eventually(answering, what="the gateway to answer")
        yield gateway
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for server, task in servers:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
async def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    # Every browser test of a pytest worker signs in through this one gateway from one address: its login and
    # form limits are generous so they never decide a test. tests/e2e/test_gateway_hardening.py tests the limits
    # with a gateway of its own.
    env = {
        "YUI_GATEWAY_LOGIN_RATE": "600r/m",
        "YUI_GATEWAY_LOGIN_BURST": "200",
        "YUI_GATEWAY_FORM_RATE": "600r/m",
        "YUI_GATEWAY_FORM_BURST": "200",
    }
    async with nginx_in_front(stack, tmp_path_factory.mktemp("gateway"), env) as found:
        # Behind the gateway the portal calls the other services over HTTP, as deployed: the in-process
        # transport buffers whole answers, which a live stream (notifications) never finishes.
        portal = stack["portal"].app
        from portal.clients import close_service_clients

        await close_service_clients(portal)
        portal.state.service_base_urls = {
            svc: found.upstreams[svc] for svc in ("identity", "consent", "timeline", "notify")
        }
        try:
            yield found
        finally:
            portal.state.service_base_urls = {}
            await close_service_clients(portal)


def client_for(gateway: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=gateway.url, verify=ssl.create_default_context(cafile=str(gateway.certificate)), timeout=30
    )
