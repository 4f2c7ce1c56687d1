"""i13: a suspended user, a withdrawn facility, an ended session and a revoked certificate are refused by
consent, timeline and notify on their next request (identity's events feed each service's deny list)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from uuid import uuid4

import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from identity import tokens
from identity.certificates import service as certificates
from identity.models import ClientCertificate, Facility, Network, User
from identity.passwords import hash_password
from sqlalchemy import update

from tests.support.stack import FROM_GATEWAY, Stack, eventually

PASSWORD = "Kaigo-2026!tokyo"
# One ordinary read per service that any signed-in staff member may make.
PROBES = {"consent": "/subjects", "timeline": "/groups", "notify": "/notifications"}


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


async def answers(stack: Stack, headers: dict[str, str]) -> dict[str, int]:
    return {
        svc: (await stack[svc].client.get(path, headers=headers)).status_code for svc, path in PROBES.items()
    }


async def refused_everywhere(stack: Stack, headers: dict[str, str], what: str) -> None:
    async def all_refused() -> bool:
        return set((await answers(stack, headers)).values()) == {401}

    await eventually(all_refused, what=f"every service to refuse {what}")
    for svc, path in PROBES.items():
        detail = (await stack[svc].client.get(path, headers=headers)).json()["detail"]
        assert "revoked" in detail, (svc, detail)


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
    async def test_i13_each_kind_of_revocation_is_refused_by_every_service(self, stack: Stack) -> None:
        tenant, people, station = await make_network(stack)
        await trust_identity_keys(stack)
        certificate_headers, _ = await certificate_for(stack, people["pharmacist"])
        signed_in = {
            "nurse": await sign_in(stack, people["nurse"]),
            "doctor": await sign_in(stack, people["doctor"]),
            "pharmacist": await sign_in(stack, people["pharmacist"], certificate_headers),
            "station-admin": await sign_in(stack, people["station-admin"]),
        }
        for headers in signed_in.values():
            assert await answers(stack, headers) == dict.fromkeys(PROBES, 200)
        operator = stack.staff(tenant=tenant, facility_id=people["operator"].facility_id, roles=("operator",))
        identity = stack["identity"].client

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
        await refused_everywhere(stack, signed_in["nurse"], "a suspended user")

        withdrawn = await identity.post(
            f"/facilities/{station.id}/withdrawal", headers=signed_in["station-admin"]
        )
        assert withdrawn.status_code == 200, withdrawn.text
        await refused_everywhere(stack, signed_in["station-admin"], "a withdrawn facility's user")

        assert (await identity.post("/auth/logout", headers=signed_in["doctor"])).status_code == 204
        await refused_everywhere(stack, signed_in["doctor"], "an ended session")

        async with stack["identity"].sessionmaker() as session, session.begin():
            revoked = await certificates.revoke_certificates(
                session,
                tenant=tenant,
                user_id=people["pharmacist"].id,
                reason="terminal_lost",
                actor_id="test",
            )
        assert revoked == 1
        await refused_everywhere(stack, signed_in["pharmacist"], "a revoked certificate's token")

        # Nobody else was caught: a colleague of the same facility still works everywhere.
        colleague = await sign_in(stack, people["doctor"])
        assert await answers(stack, colleague) == dict.fromkeys(PROBES, 200)

        # Reinstatement: the user signs in again and every service serves them.
        lifted = await identity.post(
            f"/suspensions/{suspended.json()['id']}/lifting", headers=operator.headers
        )
        assert lifted.status_code == 200, lifted.text
        reinstated = await sign_in(stack, people["nurse"])

        async def served_everywhere() -> bool:
            return await answers(stack, reinstated) == dict.fromkeys(PROBES, 200)

        await eventually(served_everywhere, what="every service to serve the reinstated user")
