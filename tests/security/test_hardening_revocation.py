"""sec2 for issue 14's finding 1: a revocation holds on the very next request, in every service.

Each test revokes through identity's API and then, with no sleep and no polling, asks all five services once:
each must refuse the token with 401 problem+json. Before the fix the answer came back while the services'
deny lists were still being fed by events, so one service or another (identity's own /me included) still
served the token for 80-300 ms.
"""

from __future__ import annotations

import httpx
from identity.models import ClientCertificate
from sqlalchemy import select

from tests.e2e.test_revocation import (
    answers_everywhere,
    certificate_for,
    make_network,
    sign_in,
    trust_identity_keys,
)
from tests.support.stack import Stack


def assert_refused_everywhere(answers: dict[str, httpx.Response]) -> None:
    """Every service answered 401 problem+json saying the token was revoked."""
    statuses = {service: response.status_code for service, response in answers.items()}
    assert set(statuses.values()) == {401}, statuses
    for service, response in answers.items():
        assert response.headers["content-type"].startswith("application/problem+json"), service
        body = response.json()
        assert body["status"] == 401 and "revoked" in body["detail"], (service, body)


async def assert_served_everywhere(stack: Stack, headers: dict[str, str]) -> None:
    statuses = {svc: r.status_code for svc, r in (await answers_everywhere(stack, headers)).items()}
    assert set(statuses.values()) == {200}, statuses


class TestRevocationHoldsOnTheNextRequest:
    async def test_sec2_suspended_user_is_refused_by_every_service_on_the_next_request(
        self, stack: Stack
    ) -> None:
        _, people, _ = await make_network(stack)
        await trust_identity_keys(stack)
        nurse = await sign_in(stack, people["nurse"])
        operator = await sign_in(stack, people["operator"])
        await assert_served_everywhere(stack, nurse)

        suspended = await stack["identity"].client.post(
            "/suspensions",
            json={
                "target_kind": "user",
                "target_id": str(people["nurse"].id),
                "reason": "不正アクセスの疑い",
            },
            headers=operator,
        )

        assert suspended.status_code == 201, suspended.text
        assert_refused_everywhere(await answers_everywhere(stack, nurse))

    async def test_sec2_abolished_facility_is_refused_by_every_service_on_the_next_request(
        self, stack: Stack
    ) -> None:
        _, people, station = await make_network(stack)
        await trust_identity_keys(stack)
        station_admin = await sign_in(stack, people["station-admin"])
        operator = await sign_in(stack, people["operator"])
        await assert_served_everywhere(stack, station_admin)

        abolished = await stack["identity"].client.post(
            f"/facilities/{station.id}/abolition", json={"reason": "禁止行為"}, headers=operator
        )

        assert abolished.status_code == 200, abolished.text
        assert_refused_everywhere(await answers_everywhere(stack, station_admin))

    async def test_sec2_logged_out_session_is_refused_by_every_service_on_the_next_request(
        self, stack: Stack
    ) -> None:
        _, people, _ = await make_network(stack)
        await trust_identity_keys(stack)
        doctor = await sign_in(stack, people["doctor"])
        await assert_served_everywhere(stack, doctor)

        logged_out = await stack["identity"].client.post("/auth/logout", headers=doctor)

        assert logged_out.status_code == 204, logged_out.text
        assert_refused_everywhere(await answers_everywhere(stack, doctor))

    async def test_sec2_revoked_certificate_is_refused_by_every_service_on_the_next_request(
        self, stack: Stack
    ) -> None:
        _, people, _ = await make_network(stack)
        await trust_identity_keys(stack)
        gateway_headers, fingerprint = await certificate_for(stack, people["pharmacist"])
        pharmacist = await sign_in(stack, people["pharmacist"], gateway_headers)
        operator = await sign_in(stack, people["operator"])
        await assert_served_everywhere(stack, pharmacist)
        async with stack["identity"].sessionmaker() as session:
            certificate_id = await session.scalar(
                select(ClientCertificate.id).where(ClientCertificate.fingerprint_sha256 == fingerprint)
            )

        revoked = await stack["identity"].client.post(
            f"/certificates/{certificate_id}/revoke", json={"reason": "terminal_lost"}, headers=operator
        )

        assert revoked.status_code == 200, revoked.text
        assert_refused_everywhere(await answers_everywhere(stack, pharmacist))
