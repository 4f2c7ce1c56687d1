"""The nginx gateway in front of every service: routes, TLS, and a request through it end to end."""

from __future__ import annotations

import asyncio
import ssl

from tests.support import gateway as gateway_fixtures
from tests.support.gateway import Gateway, client_for
from tests.support.stack import SERVICES, Stack, eventually

gateway = gateway_fixtures.gateway  # the shared session fixture (one started gateway per pytest worker)
# Every service under /api/<svc>/, except federation: from outside only the two paths peers call reach it.
API_SERVICES = tuple(service for service in SERVICES if service != "federation")


class TestGatewayRoutes:
    async def test_every_service_answers_readyz_through_the_gateway(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            for service in API_SERVICES:
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
            for service in API_SERVICES:
                response = await client.get(f"/api/{service}/openapi.json")
                assert response.status_code == 200, service
                assert response.json()["info"]["title"] == f"Yui {service}"

    async def test_federation_serves_peers_only_their_two_paths(self, gateway: Gateway) -> None:
        # The protocol itself is on the peer port, behind mutual TLS (tests/federation/test_fed_gateway_mtls.py).
        async with client_for(gateway) as client:
            published = await client.get("/.well-known/yui-federation")
            protocol = await client.get("/federation/v1/feed", params={"after": 0})
            internal = await client.get("/api/federation/agreements")
            readyz = await client.get("/api/federation/readyz")
        assert published.status_code == 200, published.text
        assert published.json()["keys"] and published.json()["keys"][0]["alg"] == "EdDSA"
        assert protocol.status_code == 404
        assert protocol.json()["type"] == "urn:yui:problem:not-found"
        assert internal.status_code == 404 and readyz.status_code == 404

    async def test_tls_is_version_1_3(self, gateway: Gateway) -> None:
        context = ssl.create_default_context(cafile=str(gateway.certificate))
        host, port = gateway.url.removeprefix("https://").split(":")
        _reader, writer = await asyncio.open_connection(host, int(port), ssl=context, server_hostname=host)
        try:
            assert writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        finally:
            writer.close()

    async def test_a_withdrawal_runs_its_cascade_through_the_gateway(
        self, stack: Stack, gateway: Gateway
    ) -> None:
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
                listed = await client.get(
                    f"/api/consent/subjects/{subject_id}/withdrawals", headers=doctor.headers
                )
                return bool(listed.json()[0]["complete"])

            await eventually(complete, what="the cascade to complete")

    async def test_unknown_api_answers_problem_json(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            response = await client.get("/api/nowhere/readyz")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
