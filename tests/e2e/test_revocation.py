"""i13: a suspended user, a closed facility, an ended session and a revoked certificate are refused by every
service on their very next request: identity answers the revoking request only once each service's deny list
holds the entry (issue 14, finding 1), and says which services do not yet when one is slow."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import httpx
import pyotp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from identity import tokens
from identity.models import ClientCertificate, Facility, Network, User
from identity.passwords import hash_password
from sqlalchemy import select, update

from tests.support.stack import FROM_GATEWAY, Stack, eventually

PASSWORD = "Kaigo-2026!tokyo"
# One ordinary read per service that any signed-in staff member may make (identity's and the portal's too).
PROBES = {
    "identity": "/me",
    "consent": "/subjects",
    "timeline": "/groups",
    "notify": "/notifications",
    "portal": "/api/maintenance",
}


async def make_network(stack: Stack) -> tuple[str, dict[str, User], Facility]:
    tenant = f"net-{uuid4().hex[:8]}"
    password_hash = hash_password(PASSWORD)
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="失効テスト"))
        await session.flush()
        office = Facility(id=uuid4(), tenant=tenant, name="町役場", kind="municipality")
        clinic = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        station = Facility(id=uuid4(), tenant=tenant, name="結訪問看護", kind="visiting_nurse")
        session.add_all([office, clinic, station])
        await session.flush()
        people = {
            login_id: User(
                id=uuid4(),
                tenant=tenant,
                facility_id=facility.id,
                login_id=login_id,
                display_name=login_id,
                password_hash=password_hash,
                roles=roles,
                totp_secret=pyotp.random_base32(),
                totp_confirmed=True,
            )
            for login_id, facility, roles in (
                ("operator", office, ["operator"]),
                ("nurse", clinic, ["staff"]),
                ("doctor", clinic, ["staff"]),
                ("pharmacist", clinic, ["staff"]),
                ("station-admin", station, ["facility_admin", "staff"]),
            )
        }
        session.add_all(people.values())
    return tenant, people, station


async def sign_in(stack: Stack, person: User, headers: dict[str, str] | None = None) -> dict[str, str]:
    async with stack["identity"].sessionmaker() as session, session.begin():
        # Each TOTP code works once; this test signs some people in twice within one 30-second step.
        await session.execute(update(User).where(User.id == person.id).values(totp_last_step=None))
    body = {"tenant": person.tenant, "login_id": person.login_id, "password": PASSWORD}
    if headers is None:
        body["totp_code"] = pyotp.TOTP(person.totp_secret or "").now()
    response = await stack["identity"].client.post("/auth/token", json=body, headers=headers or {})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", **(headers or {})}


async def answers_everywhere(stack: Stack, headers: dict[str, str]) -> dict[str, httpx.Response]:
    """One read per service, all at once: nothing between them gives a late service time to catch up."""
    responses = await asyncio.gather(
        *(stack[svc].client.get(path, headers=headers) for svc, path in PROBES.items())
    )
    return dict(zip(PROBES, responses, strict=True))


async def answers(stack: Stack, headers: dict[str, str]) -> dict[str, int]:
    return {svc: r.status_code for svc, r in (await answers_everywhere(stack, headers)).items()}


async def refused_everywhere(stack: Stack, headers: dict[str, str], what: str) -> None:
    """Asked once, right after the revoking request answered: every service refuses (no waiting here)."""
    found = await answers_everywhere(stack, headers)
    assert {svc: r.status_code for svc, r in found.items()} == dict.fromkeys(PROBES, 401), what
    for svc, response in found.items():
        assert "revoked" in response.json()["detail"], (svc, what, response.text)


def assert_propagated(propagation: dict[str, Any]) -> dict[str, float]:
    """Every participating service acknowledged; returns each one's milliseconds after identity's commit."""
    assert propagation["complete"] is True and propagation["pending"] == [], propagation
    services = {s["service"]: s for s in propagation["services"]}
    assert set(services) == {"consent", "timeline", "notify", "portal", "federation"}, propagation
    return {svc: s["after_ms"] for svc, s in services.items()}


async def trust_identity_keys(stack: Stack) -> None:
    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    for service in stack.services.values():
        service.app.state.token_verifier.keys.load(
            {"keys": [tokens.public_jwk(stack.signing_key), *published]}
        )


async def certificate_for(stack: Stack, person: User) -> tuple[dict[str, str], str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, person.login_id)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    fingerprint = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(
            ClientCertificate(
                tenant=person.tenant,
                facility_id=person.facility_id,
                user_id=person.id,
                terminal_label="診察室PC",
                serial_number=format(certificate.serial_number, "x"),
                fingerprint_sha256=fingerprint,
                certificate_pem=pem,
                not_before=now - timedelta(minutes=1),
                not_after=now + timedelta(days=1),
                issued_by="test",
            )
        )
    return {**FROM_GATEWAY, "X-Client-Verify": "SUCCESS", "X-Client-Cert": quote(pem, safe="")}, fingerprint


class TestRevocationEverywhere:
    async def test_i13_each_kind_of_revocation_is_refused_by_every_service_on_the_next_request(
        self, stack: Stack
    ) -> None:
        tenant, people, station = await make_network(stack)
        await trust_identity_keys(stack)
        certificate_headers, fingerprint = await certificate_for(stack, people["pharmacist"])
        signed_in = {
            "nurse": await sign_in(stack, people["nurse"]),
            "doctor": await sign_in(stack, people["doctor"]),
            "pharmacist": await sign_in(stack, people["pharmacist"], certificate_headers),
            "station-admin": await sign_in(stack, people["station-admin"]),
        }
        second_device = await sign_in(stack, people["doctor"])
        for headers in [*signed_in.values(), second_device]:
            assert await answers(stack, headers) == dict.fromkeys(PROBES, 200)
        operator = stack.staff(tenant=tenant, facility_id=people["operator"].facility_id, roles=("operator",))
        identity = stack["identity"].client
        measured: dict[str, dict[str, float]] = {}

        suspended = await identity.post(
            "/suspensions",
            json={
                "target_kind": "user",
                "target_id": str(people["nurse"].id),
                "reason": "不正アクセスの疑い",
            },
            headers=operator.headers,
        )
        assert suspended.status_code == 201, suspended.text
        measured["user suspended"] = assert_propagated(suspended.json()["propagation"])
        await refused_everywhere(stack, signed_in["nurse"], "a suspended user")

        withdrawn = await identity.post(
            f"/facilities/{station.id}/withdrawal", headers=signed_in["station-admin"]
        )
        assert withdrawn.status_code == 200, withdrawn.text
        measured["facility withdrawn"] = assert_propagated(withdrawn.json()["propagation"])
        await refused_everywhere(stack, signed_in["station-admin"], "a withdrawn facility's user")

        assert (await identity.post("/auth/logout", headers=signed_in["doctor"])).status_code == 204
        await refused_everywhere(stack, signed_in["doctor"], "a logged-out session")

        sessions = (await identity.get("/sessions", headers=second_device)).json()
        [current] = [s["id"] for s in sessions if s["current"]]
        ended = await identity.delete(f"/sessions/{current}", headers=second_device)
        assert ended.status_code == 204, ended.text
        await refused_everywhere(stack, second_device, "a session its user ended")

        async with stack["identity"].sessionmaker() as session:
            certificate = (
                await session.execute(
                    select(ClientCertificate).where(ClientCertificate.fingerprint_sha256 == fingerprint)
                )
            ).scalar_one()
        revoked = await identity.post(
            f"/certificates/{certificate.id}/revoke",
            json={"reason": "terminal_lost"},
            headers=operator.headers,
        )
        assert revoked.status_code == 200, revoked.text
        measured["certificate revoked"] = assert_propagated(revoked.json()["propagation"])
        await refused_everywhere(stack, signed_in["pharmacist"], "a revoked certificate's token")
        print("\nrevocation propagation, ms after identity's commit:", measured)

        # Nobody else was caught: a colleague of the same facility still works everywhere.
        colleague = await sign_in(stack, people["doctor"])
        assert await answers(stack, colleague) == dict.fromkeys(PROBES, 200)

        # Reinstatement: the user signs in again and every service serves them (a reinstatement is not
        # waited for: until a service lifts the entry it refuses, which errs on the safe side).
        lifted = await identity.post(
            f"/suspensions/{suspended.json()['id']}/lifting", headers=operator.headers
        )
        assert lifted.status_code == 200, lifted.text
        reinstated = await sign_in(stack, people["nurse"])
        assert (await identity.get("/me", headers=reinstated)).status_code == 200

        async def served_everywhere() -> bool:
            return await answers(stack, reinstated) == dict.fromkeys(PROBES, 200)

        await eventually(served_everywhere, what="every service to serve the reinstated user")

    async def test_i13_facility_suspension_is_refused_by_every_service_on_the_next_request(
        self, stack: Stack
    ) -> None:
        tenant, people, _ = await make_network(stack)
        await trust_identity_keys(stack)
        doctor = await sign_in(stack, people["doctor"])
        operator = stack.staff(tenant=tenant, facility_id=people["operator"].facility_id, roles=("operator",))

        suspended = await stack["identity"].client.post(
            "/suspensions",
            json={
                "target_kind": "facility",
                "target_id": str(people["doctor"].facility_id),
                "reason": "調査",
            },
            headers=operator.headers,
        )

        assert suspended.status_code == 201, suspended.text
        assert_propagated(suspended.json()["propagation"])
        await refused_everywhere(stack, doctor, "a suspended facility's user")

    async def test_i13_a_service_that_has_not_acknowledged_leaves_the_suspension_accepted_and_listed(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The portal's worker is down: the suspension answers 202 naming it, the operator sees it among the
        incomplete revocations, and once the worker is back the portal refuses and the list empties."""
        tenant, people, _ = await make_network(stack)
        await trust_identity_keys(stack)
        nurse = await sign_in(stack, people["nurse"])
        operator = stack.staff(tenant=tenant, facility_id=people["operator"].facility_id, roles=("operator",))
        identity = stack["identity"].client
        # No waiting: the answer tells what holds at the commit; the portal cannot acknowledge until it is back.
        monkeypatch.setattr(stack["identity"].app.state.settings, "revocation_wait_s", 0.0)
        portal_worker = stack["portal"].worker
        assert portal_worker is not None
        await portal_worker.stop()
        try:
            suspended = await identity.post(
                "/suspensions",
                json={"target_kind": "user", "target_id": str(people["nurse"].id), "reason": "端末紛失"},
                headers=operator.headers,
            )
            assert suspended.status_code == 202, suspended.text
            propagation = suspended.json()["propagation"]
            assert propagation["complete"] is False and "portal" in propagation["pending"], propagation

            async def only_the_portal_pending() -> list[dict[str, Any]] | None:
                listed = await identity.get("/revocations/incomplete", headers=operator.headers)
                assert listed.status_code == 200, listed.text
                found: list[dict[str, Any]] = listed.json()
                return found if [r["pending"] for r in found] == [["portal"]] else None

            [listed] = await eventually(
                only_the_portal_pending, what="every service but the portal to acknowledge"
            )
            assert (listed["kind"], listed["target"]) == ("user", str(people["nurse"].id))
            assert listed["id"] in propagation["revocation_ids"]
            found = await answers(stack, nurse)
            assert found == {**dict.fromkeys(PROBES, 401), "portal": 200}, found
            staff_asks = await identity.get("/revocations/incomplete", headers=nurse)
            assert staff_asks.status_code == 401  # the nurse is suspended: identity refuses at once
        finally:
            await portal_worker.start()

        async def acknowledged() -> bool:
            listed = await identity.get("/revocations/incomplete", headers=operator.headers)
            return listed.json() == []

        await eventually(acknowledged, what="the portal to acknowledge once its worker is back")
        await refused_everywhere(stack, nurse, "a suspended user, once the portal's worker is back")
