"""Client certificates (I2, S1, i12): access codes, PKCS#12, issuing, listing, revoking, CRL, access."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from uuid import UUID, uuid4

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from identity.certificates import service as certificates
from identity.models import CertificateAccessCode, Facility, Network, User
from identity.passwords import hash_password
from identity.settings import environment_settings
from sqlalchemy import select, text, update

from tests.support.stack import FROM_GATEWAY, Stack, Staff

PKCS12 = "application/x-pkcs12"


@dataclass
class Site:
    """One network with two facilities, each with an administrator and a staff member."""

    tenant: str
    facility: Facility
    admin: User
    nurse: User
    other_facility: Facility
    other_admin: User
    other_nurse: User


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}"
    return body  # type: ignore[no-any-return]


async def make_site(stack: Stack) -> Site:
    tenant = f"net-{uuid4().hex[:8]}"
    password_hash = hash_password("not used here")

    def user(facility: Facility, login_id: str, roles: list[str]) -> User:
        return User(
            id=uuid4(),
            tenant=tenant,
            facility_id=facility.id,
            login_id=login_id,
            display_name=login_id,
            password_hash=password_hash,
            roles=roles,
        )

    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="テスト ネット"))
        await session.flush()
        clinic = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        station = Facility(id=uuid4(), tenant=tenant, name="結訪問看護ステーション", kind="visiting_nurse")
        session.add_all([clinic, station])
        await session.flush()
        people = [
            user(clinic, "admin", ["staff", "facility_admin"]),
            user(clinic, "nurse", ["staff"]),
            user(station, "other-admin", ["staff", "facility_admin"]),
            user(station, "other-nurse", ["staff"]),
        ]
        session.add_all(people)
    return Site(tenant, clinic, people[0], people[1], station, people[2], people[3])


def token_of(stack: Stack, person: User, *, roles: tuple[str, ...] | None = None) -> Staff:
    return stack.staff(
        tenant=person.tenant,
        facility_id=person.facility_id,
        roles=roles or tuple(person.roles),
        user_id=person.id,
    )


async def grant_access_code(stack: Stack, site: Site, **options: object) -> certificates.AccessCodeGrant:
    async with stack["identity"].sessionmaker() as session, session.begin():
        return await certificates.issue_access_code(
            session,
            facility_id=site.facility.id,
            administrator_user_id=site.admin.id,
            actor_id="operator-test",
            **options,  # type: ignore[arg-type]
        )


async def redeem(
    stack: Stack, tenant: str, code: str, pin: str, terminal_label: str = "受付PC"
) -> httpx.Response:
    return await stack["identity"].client.post(
        "/certificates/redeem",
        json={"tenant": tenant, "access_code": code, "pin": pin, "terminal_label": terminal_label},
    )


async def issue(stack: Stack, admin: Staff, user_id: UUID, label: str, pin: str = "482913") -> httpx.Response:
    return await stack["identity"].client.post(
        "/certificates",
        json={"user_id": str(user_id), "terminal_label": label, "pin": pin},
        headers=admin.headers,
    )


async def audit_actions(stack: Stack, tenant: str) -> list[str]:
    async with stack["identity"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT action FROM audit_log WHERE tenant = :t ORDER BY seq"), {"t": tenant}
        )
        return [row.action for row in rows]


async def outbox_events(stack: Stack, event_type: str) -> list[dict]:
    async with stack["identity"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT envelope FROM outbox WHERE event_type = :t ORDER BY created_at"), {"t": event_type}
        )
        return [row.envelope for row in rows]


def certificate_headers(certificate: x509.Certificate, verify: str = "SUCCESS") -> dict[str, str]:
    """What the gateway forwards for a verified client certificate."""
    from cryptography.hazmat.primitives import serialization

    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return {**FROM_GATEWAY, "X-Client-Verify": verify, "X-Client-Cert": quote(pem, safe="")}


def fingerprint(certificate: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


class TestI2AccessCode:
    async def test_i2_access_code_and_pin_download_a_pkcs12_that_opens_with_the_pin_only(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)

        response = await redeem(stack, site.tenant, grant.access_code, grant.pin, "受付PC")

        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == PKCS12
        key, certificate, chain = pkcs12.load_key_and_certificates(response.content, grant.pin.encode())
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert certificate is not None
        for wrong in (b"00000000", None):
            with pytest.raises(ValueError):
                pkcs12.load_key_and_certificates(response.content, wrong)
        subject = certificate.subject
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == site.tenant
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "結クリニック"
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "受付PC"
        assert subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == str(site.admin.id)
        authority = x509.load_pem_x509_certificate((await stack["identity"].client.get("/ca.pem")).content)
        certificate.verify_directly_issued_by(authority)
        assert [c.subject for c in chain] == [authority.subject]
        assert response.headers["x-certificate-fingerprint"] == fingerprint(certificate)
        assert certificate.serial_number.bit_length() > 64  # 128 random bits

    async def test_i2_access_code_stores_only_digests_with_the_default_expiry_and_attempts(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)
        async with stack["identity"].sessionmaker() as session:
            row = await session.get(CertificateAccessCode, grant.access_code_id)
        assert row is not None
        stored = " ".join(str(v) for v in vars(row).values())
        assert grant.access_code not in stored and grant.pin not in stored
        assert row.pin_hash.startswith("$argon2id$")
        assert row.code_digest == hashlib.sha256(grant.access_code.replace("-", "").encode()).hexdigest()
        assert row.attempts_left == 5
        assert abs(row.expires_at - (datetime.now(UTC) + timedelta(hours=72))) < timedelta(minutes=5)

    async def test_i2_access_code_is_single_use(self, stack: Stack) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)
        assert (await redeem(stack, site.tenant, grant.access_code, grant.pin, "PC-1")).status_code == 201

        again = await redeem(stack, site.tenant, grant.access_code, grant.pin, "PC-2")

        assert_problem(again, 410, "access-code-used")

    async def test_i2_access_code_redeemed_twice_at_once_issues_one_certificate(self, stack: Stack) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)

        answers = await asyncio.gather(
            redeem(stack, site.tenant, grant.access_code, grant.pin, "PC-1"),
            redeem(stack, site.tenant, grant.access_code, grant.pin, "PC-2"),
        )

        assert sorted(a.status_code for a in answers) == [201, 410]

    async def test_i2_access_code_typed_in_lower_case_without_hyphens_still_works(self, stack: Stack) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)
        typed = grant.access_code.replace("-", "").lower()
        assert (await redeem(stack, site.tenant, typed, grant.pin)).status_code == 201

    async def test_i2_expired_access_code_is_refused(self, stack: Stack) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)
        async with stack["identity"].sessionmaker() as session, session.begin():
            await session.execute(
                update(CertificateAccessCode)
                .where(CertificateAccessCode.id == grant.access_code_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

        response = await redeem(stack, site.tenant, grant.access_code, grant.pin)

        assert_problem(response, 410, "access-code-expired")

    async def test_i2_access_code_locks_after_the_attempt_limit_even_for_the_right_pin(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site, attempt_limit=3)
        wrong = "1" if grant.pin != "1" else "2"

        first = await redeem(stack, site.tenant, grant.access_code, wrong)
        second = await redeem(stack, site.tenant, grant.access_code, wrong)
        third = await redeem(stack, site.tenant, grant.access_code, wrong)
        right = await redeem(stack, site.tenant, grant.access_code, grant.pin)

        assert assert_problem(first, 401, "access-code-rejected")["attempts_left"] == 2
        assert assert_problem(second, 401, "access-code-rejected")["attempts_left"] == 1
        assert_problem(third, 423, "access-code-locked")
        assert_problem(right, 423, "access-code-locked")
        actions = await audit_actions(stack, site.tenant)
        assert actions.count("certificate.access-code.wrong-pin") == 3
        assert "certificate.access-code.refused" in actions

    async def test_i2_unknown_access_code_is_refused_like_a_wrong_pin(self, stack: Stack) -> None:
        site = await make_site(stack)
        grant = await grant_access_code(stack, site)

        unknown = await redeem(stack, site.tenant, "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ", grant.pin)

        assert_problem(unknown, 401, "access-code-rejected")

    async def test_i2_a_new_access_code_supersedes_the_unused_one(self, stack: Stack) -> None:
        site = await make_site(stack)
        first = await grant_access_code(stack, site)
        second = await grant_access_code(stack, site)

        assert_problem(
            await redeem(stack, site.tenant, first.access_code, first.pin), 410, "access-code-superseded"
        )
        assert (await redeem(stack, site.tenant, second.access_code, second.pin)).status_code == 201

    async def test_i2_operator_reissues_an_access_code_and_staff_cannot(self, stack: Stack) -> None:
        site = await make_site(stack)
        operator = stack.staff(tenant=site.tenant, roles=("operator",))
        body = {"facility_id": str(site.facility.id), "user_id": str(site.admin.id)}
        client = stack["identity"].client

        granted = await client.post("/certificates/access-codes", json=body, headers=operator.headers)
        refused = await client.post(
            "/certificates/access-codes", json=body, headers=token_of(stack, site.admin).headers
        )

        assert granted.status_code == 201, granted.text
        assert_problem(refused, 403, "forbidden")
        grant = granted.json()
        assert (await redeem(stack, site.tenant, grant["access_code"], grant["pin"])).status_code == 201


class TestI2AdministratorCertificates:
    async def test_i2_administrator_issues_one_per_terminal_lists_and_revokes_with_a_reason(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        admin = token_of(stack, site.admin)
        client = stack["identity"].client

        issued = await issue(stack, admin, site.nurse.id, "訪問用タブレット1", pin="482913")
        duplicate = await issue(stack, admin, site.nurse.id, "訪問用タブレット1")
        second = await issue(stack, admin, site.nurse.id, "訪問用タブレット2")

        assert issued.status_code == 201, issued.text
        _, certificate, _ = pkcs12.load_key_and_certificates(issued.content, b"482913")
        assert certificate is not None
        assert_problem(duplicate, 409, "terminal-has-certificate")
        assert second.status_code == 201
        certificate_id = issued.headers["x-certificate-id"]
        listed = await client.get("/certificates", headers=admin.headers)
        assert listed.status_code == 200
        assert {c["terminal_label"] for c in listed.json()} == {"訪問用タブレット1", "訪問用タブレット2"}

        revoked = await client.post(
            f"/certificates/{certificate_id}/revoke",
            json={"reason": "terminal_lost", "note": "訪問先で紛失"},
            headers=admin.headers,
        )
        again = await client.post(
            f"/certificates/{certificate_id}/revoke", json={"reason": "terminal_lost"}, headers=admin.headers
        )

        assert revoked.status_code == 200, revoked.text
        assert (
            revoked.json()["status"] == "revoked" and revoked.json()["revocation_reason"] == "terminal_lost"
        )
        assert_problem(again, 409, "certificate-already-revoked")
        # The terminal label is free again once its certificate is revoked (a replacement terminal).
        assert (await issue(stack, admin, site.nurse.id, "訪問用タブレット1")).status_code == 201
        crl = x509.load_pem_x509_crl((await client.get("/crl.pem")).content)
        authority = x509.load_pem_x509_certificate((await client.get("/ca.pem")).content)
        assert crl.is_signature_valid(authority.public_key())  # type: ignore[arg-type]
        entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
        assert entry is not None
        assert (
            entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            == x509.ReasonFlags.key_compromise
        )
        actions = await audit_actions(stack, site.tenant)
        assert actions.count("certificate.issued") == 3 and "certificate.revoked" in actions
        assert "certificate.listed" in actions
        issued_events = [
            e
            for e in await outbox_events(stack, "identity.certificate-issued.v1")
            if e["tenant"] == site.tenant
        ]
        revoked_events = [
            e
            for e in await outbox_events(stack, "identity.certificate-revoked.v1")
            if e["tenant"] == site.tenant
        ]
        assert len(issued_events) == 3
        assert revoked_events[0]["data"]["fingerprint_sha256"] == fingerprint(certificate)
        assert revoked_events[0]["data"]["reason"] == "terminal_lost"

    async def test_i2_facility_admin_cannot_issue_list_read_or_revoke_for_another_facility(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        client = stack["identity"].client
        mine = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1")
        certificate_id = mine.headers["x-certificate-id"]
        intruder = token_of(stack, site.other_admin)

        assert_problem(await issue(stack, intruder, site.nurse.id, "PC-X"), 404, "not-found")
        assert_problem(
            await client.get(
                "/certificates", params={"facility_id": str(site.facility.id)}, headers=intruder.headers
            ),
            404,
            "not-found",
        )
        assert_problem(
            await client.get(f"/certificates/{certificate_id}", headers=intruder.headers), 404, "not-found"
        )
        assert_problem(
            await client.post(
                f"/certificates/{certificate_id}/revoke", json={"reason": "other"}, headers=intruder.headers
            ),
            404,
            "not-found",
        )
        own_list = await client.get("/certificates", headers=intruder.headers)
        assert own_list.status_code == 200 and own_list.json() == []

    async def test_i2_staff_cannot_reach_administrator_endpoints(self, stack: Stack) -> None:
        site = await make_site(stack)
        client = stack["identity"].client
        mine = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1")
        nurse = token_of(stack, site.nurse)
        certificate_id = mine.headers["x-certificate-id"]

        assert_problem(await issue(stack, nurse, site.nurse.id, "PC-2"), 403, "forbidden")
        assert_problem(await client.get("/certificates", headers=nurse.headers), 403, "forbidden")
        assert_problem(
            await client.get(f"/certificates/{certificate_id}", headers=nurse.headers), 403, "forbidden"
        )
        assert_problem(
            await client.post(
                f"/certificates/{certificate_id}/revoke", json={"reason": "other"}, headers=nurse.headers
            ),
            403,
            "forbidden",
        )
        assert_problem(await client.get("/certificates"), 401, "unauthenticated")

    async def test_i2_nobody_crosses_networks(self, stack: Stack) -> None:
        site = await make_site(stack)
        elsewhere = await make_site(stack)
        client = stack["identity"].client
        mine = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1")
        certificate_id = mine.headers["x-certificate-id"]
        other_operator = stack.staff(tenant=elsewhere.tenant, roles=("operator",))
        # An administrator of another network whose token names this network's facility still sees nothing.
        impostor = stack.staff(
            tenant=elsewhere.tenant, facility_id=site.facility.id, roles=("facility_admin",), user_id=uuid4()
        )
        grant = await grant_access_code(stack, site)

        operator_list = await client.get("/certificates", headers=other_operator.headers)
        assert operator_list.status_code == 200 and operator_list.json() == []
        for caller in (other_operator, impostor):
            assert_problem(
                await client.post(
                    f"/certificates/{certificate_id}/revoke", json={"reason": "other"}, headers=caller.headers
                ),
                404,
                "not-found",
            )
            assert_problem(
                await client.get(f"/certificates/{certificate_id}", headers=caller.headers), 404, "not-found"
            )
        assert_problem(await issue(stack, impostor, site.nurse.id, "PC-X"), 404, "not-found")
        assert_problem(
            await client.post(
                "/certificates/access-codes",
                json={"facility_id": str(site.facility.id), "user_id": str(site.admin.id)},
                headers=other_operator.headers,
            ),
            404,
            "not-found",
        )
        assert_problem(
            await redeem(stack, elsewhere.tenant, grant.access_code, grant.pin), 401, "access-code-rejected"
        )

    async def test_i2_operator_revokes_any_certificate_of_the_network(self, stack: Stack) -> None:
        site = await make_site(stack)
        mine = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1")
        operator = stack.staff(tenant=site.tenant, roles=("operator",))

        revoked = await stack["identity"].client.post(
            f"/certificates/{mine.headers['x-certificate-id']}/revoke",
            json={"reason": "user_left"},
            headers=operator.headers,
        )

        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"

    async def test_i2_withdrawal_revokes_every_live_certificate_of_the_facility(self, stack: Stack) -> None:
        site = await make_site(stack)
        admin = token_of(stack, site.admin)
        for label in ("PC-1", "PC-2"):
            assert (await issue(stack, admin, site.nurse.id, label)).status_code == 201

        async with stack["identity"].sessionmaker() as session, session.begin():
            count = await certificates.revoke_certificates(
                session,
                tenant=site.tenant,
                facility_id=site.facility.id,
                reason="facility_withdrawn",
                actor_id="op",
            )

        assert count == 2
        listed = (await stack["identity"].client.get("/certificates", headers=admin.headers)).json()
        assert {c["status"] for c in listed} == {"revoked"}


class TestS1CertificateLogin:
    async def test_s1_certificate_for_login_names_its_owner_only_while_it_is_live(self, stack: Stack) -> None:
        site = await make_site(stack)
        issued = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1", pin="482913")
        _, certificate, _ = pkcs12.load_key_and_certificates(issued.content, b"482913")
        assert certificate is not None
        presented = fingerprint(certificate)

        async with stack["identity"].sessionmaker() as session, session.begin():
            found = await certificates.certificate_for_login(
                session, tenant=site.tenant, fingerprint_sha256=presented
            )
            elsewhere = await certificates.certificate_for_login(
                session, tenant="other", fingerprint_sha256=presented
            )
            unknown = await certificates.certificate_for_login(
                session, tenant=site.tenant, fingerprint_sha256="ab" * 32
            )
            await certificates.revoke_certificates(
                session, tenant=site.tenant, user_id=site.nurse.id, reason="terminal_retired", actor_id="test"
            )
            after_revocation = await certificates.certificate_for_login(
                session, tenant=site.tenant, fingerprint_sha256=presented
            )

        assert found is not None and found.user_id == site.nurse.id and found.fingerprint_sha256 == presented
        assert elsewhere is None and unknown is None and after_revocation is None

    async def test_s1_no_identity_endpoint_issues_a_token_on_a_certificate_alone(self, stack: Stack) -> None:
        """Every operation whose answer carries an access token requires a password, or the refresh token that
        only a password login hands out; presented with nothing but a verified certificate, each refuses."""
        site = await make_site(stack)
        issued = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1", pin="482913")
        _, certificate, _ = pkcs12.load_key_and_certificates(issued.content, b"482913")
        assert certificate is not None
        client = stack["identity"].client
        schema = (await client.get("/openapi.json")).json()
        components = schema.get("components", {}).get("schemas", {})

        def resolve(node: dict) -> dict:
            ref = node.get("$ref")
            return components[ref.rsplit("/", 1)[1]] if ref else node

        token_operations = []
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                answers = [
                    resolve(content.get("schema", {}))
                    for status, response in operation.get("responses", {}).items()
                    if status.startswith("2")
                    for content in response.get("content", {}).values()
                ]
                if not any("access_token" in answer.get("properties", {}) for answer in answers):
                    continue
                token_operations.append((method, path))
                body = resolve(
                    operation.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema", {})
                )
                proofs = {"password", "refresh_token"} & set(body.get("required", []))
                assert proofs, f"{method.upper()} {path} gives a token without a password"
        assert token_operations
        for method, path in token_operations:
            for body in ({}, {"tenant": site.tenant, "login_id": "nurse"}):
                answer = await client.request(
                    method, path, json=body, headers=certificate_headers(certificate)
                )
                assert answer.status_code >= 400, (method, path, body)

    async def test_i12_token_bound_to_a_certificate_is_refused_with_another_or_none(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        admin = token_of(stack, site.admin)
        pem = {}
        for label in ("PC-A", "PC-B"):
            issued = await issue(stack, admin, site.nurse.id, label, pin="482913")
            _, pem[label], _ = pkcs12.load_key_and_certificates(issued.content, b"482913")
        bound = stack.staff(
            tenant=site.tenant,
            facility_id=site.facility.id,
            user_id=site.nurse.id,
            cert_fingerprint=fingerprint(pem["PC-A"]),
        )
        client = stack["identity"].client

        with_a = await client.get("/me", headers={**bound.headers, **certificate_headers(pem["PC-A"])})
        with_b = await client.get("/me", headers={**bound.headers, **certificate_headers(pem["PC-B"])})
        unverified_a = await client.get(
            "/me", headers={**bound.headers, **certificate_headers(pem["PC-A"], verify="FAILED:revoked")}
        )
        without = await client.get("/me", headers=bound.headers)

        assert with_a.status_code == 200, with_a.text
        for refused in (with_b, unverified_a, without):
            assert_problem(refused, 401, "unauthenticated")


async def test_i2_certificates_belong_to_users_of_the_facility_in_the_database(stack: Stack) -> None:
    """The stored row names the user, facility and terminal the certificate's subject names."""
    site = await make_site(stack)
    issued = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1")
    from identity.models import ClientCertificate

    async with stack["identity"].sessionmaker() as session:
        row = (
            await session.execute(
                select(ClientCertificate).where(
                    ClientCertificate.id == UUID(issued.headers["x-certificate-id"])
                )
            )
        ).scalar_one()
    assert (row.user_id, row.facility_id, row.terminal_label) == (site.nurse.id, site.facility.id, "PC-1")
    assert (
        len(row.serial_number) == 32 and row.fingerprint_sha256 == issued.headers["x-certificate-fingerprint"]
    )


async def test_i2_identity_worker_publishes_the_ca_and_crl_where_the_gateway_reads_them(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's job (configured by YUI_IDENTITY_GATEWAY_*) writes both files and re-signs the CRL when a
    certificate is revoked; the e2e tests show nginx picking it up."""
    from identity.worker import build_worker

    monkeypatch.setenv("YUI_IDENTITY_GATEWAY_CA_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("YUI_IDENTITY_GATEWAY_CRL_FILE", str(tmp_path / "crl.pem"))
    environment_settings.cache_clear()
    try:
        worker = build_worker(stack["identity"].settings)
    finally:
        monkeypatch.undo()
        environment_settings.cache_clear()
    [job] = [job for job in worker.jobs if job.name == "crl-publication"]
    site = await make_site(stack)
    issued = await issue(stack, token_of(stack, site.admin), site.nurse.id, "PC-1", pin="482913")
    _, certificate, _ = pkcs12.load_key_and_certificates(issued.content, b"482913")
    assert certificate is not None
    try:
        await job.run(worker)
        authority = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
        assert authority.subject == certificate.issuer
        before = x509.load_pem_x509_crl((tmp_path / "crl.pem").read_bytes())
        assert before.get_revoked_certificate_by_serial_number(certificate.serial_number) is None

        async with stack["identity"].sessionmaker() as session, session.begin():
            await certificates.revoke_certificates(
                session, tenant=site.tenant, user_id=site.nurse.id, reason="terminal_retired", actor_id="test"
            )
        await job.run(worker)

        after = x509.load_pem_x509_crl((tmp_path / "crl.pem").read_bytes())
        assert after.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None
        assert after.is_signature_valid(authority.public_key())  # type: ignore[arg-type]
    finally:
        await worker.engine.dispose()
