"""The nginx gateway in front of every service: routes, TLS, and a request through it end to end."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from deploy.gateway.render import find_nginx, render
from tests.support.stack import SERVICES, Stack, eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    url: str
    certificate: Path


@pytest.fixture(scope="session")
async def gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    nginx = find_nginx()
    assert nginx, "nginx is not installed (apt-get install nginx); .ci/run installs it"
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    env = {"YUI_GATEWAY_PORT": str(free_port())}
    for service in SERVICES:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(stack[service].app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        )
        servers.append((server, asyncio.create_task(server.serve())))
        env[f"YUI_GATEWAY_{service.upper()}_UPSTREAM"] = f"127.0.0.1:{port}"
    rendered = render(tmp_path_factory.mktemp("gateway"), env)
    process = subprocess.Popen(rendered.nginx_command(nginx), stderr=subprocess.PIPE)
    url = f"https://localhost:{rendered.port}"

    async def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            async with httpx.AsyncClient(verify=False) as client:
                return (await client.get(f"{url}/api/consent/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await eventually(answering, what="the gateway to answer")
        yield Gateway(url, rendered.cert_file)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for server, task in servers:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


def client_for(gateway: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gateway.url, verify=ssl.create_default_context(cafile=str(gateway.certificate)))


class TestGatewayRoutes:
    async def test_every_service_answers_readyz_through_the_gateway(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            for service in SERVICES:
                response = await client.get(f"/api/{service}/readyz")
                assert response.status_code == 200, (service, response.text)
                assert response.json()["status"] == "ready"

    async def test_admin_goes_to_identity_and_root_to_portal(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            admin = await client.get("/admin", follow_redirects=True)
            home = await client.get("/")
        # Signed out, the admin sends you to its sign-in page, served by identity through the gateway.
        assert admin.status_code == 200 and str(admin.url.path).startswith("/admin")
        assert '<html lang="ja">' in admin.text
        assert home.status_code == 200 and '<html lang="ja">' in home.text

    async def test_each_service_serves_its_openapi_document_under_its_prefix(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            for service in SERVICES:
                response = await client.get(f"/api/{service}/openapi.json")
                assert response.status_code == 200, service
                assert response.json()["info"]["title"] == f"Yui {service}"

    async def test_tls_is_version_1_3(self, gateway: Gateway) -> None:
        context = ssl.create_default_context(cafile=str(gateway.certificate))
        host, port = gateway.url.removeprefix("https://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port), ssl=context, server_hostname=host)
        try:
            assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        finally:
            writer.close()

    async def test_a_withdrawal_runs_its_cascade_through_the_gateway(self, stack: Stack, gateway: Gateway) -> None:
        doctor = stack.staff()
        async with client_for(gateway) as client:
            subject = await client.post(
                "/api/consent/subjects",
                json={"name": "結 次郎", "name_kana": "ユイ ジロウ", "municipality_code": "232360"},
                headers=doctor.headers,
            )
            assert subject.status_code == 201, subject.text
            subject_id = subject.json()["id"]
            consent = await client.post(
                f"/api/consent/subjects/{subject_id}/consents",
                json={"given_by": "subject", "given_on": "2026-11-01"},
                headers=doctor.headers,
            )
            assert consent.status_code == 201
            withdrawn = await client.post(
                f"/api/consent/subjects/{subject_id}/withdrawals", json={}, headers=doctor.headers
            )
            assert withdrawn.status_code == 201

            async def complete() -> bool:
                listed = await client.get(f"/api/consent/subjects/{subject_id}/withdrawals", headers=doctor.headers)
                return bool(listed.json()[0]["complete"])

            await eventually(complete, what="the cascade to complete")

    async def test_unknown_api_answers_problem_json(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            response = await client.get("/api/nowhere/readyz")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
