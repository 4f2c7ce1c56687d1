"""Facilities, staff accounts, two-factor login, sessions, lockout, suspensions, incident reports
(I1, I3-I10, S1, i11, i12) and the access-control matrix, through identity's HTTP API."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from uuid import UUID, uuid4

import httpx
import jwt
import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from identity.models import ClientCertificate, Facility, Network, User
from identity.passwords import hash_password
from sqlalchemy import text, update

from tests.support.stack import FROM_GATEWAY, Stack, Staff

PASSWORD = "Kaigo-2026!tokyo"
NEW_PASSWORD = "Houmon#kango42"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}"
    return body  # type: ignore[no-any-return]


@dataclass
class Site:
    """One network: an operator office, a clinic and a nursing station, each with people in them."""

    tenant: str
    office: Facility
    clinic: Facility
    station: Facility
    operator: User
    contractor: User
    clinic_admin: User
    nurse: User
    station_admin: User


async def make_site(stack: Stack, **network_settings: object) -> Site:
    tenant = f"net-{uuid4().hex[:8]}"
    password_hash = hash_password(PASSWORD)

    def person(facility: Facility, login_id: str, roles: list[str]) -> User:
        return User(
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

    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="テスト ネット", **network_settings))
        await session.flush()
        office = Facility(id=uuid4(), tenant=tenant, name="町 高齢者支援課", kind="municipality")
        clinic = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        station = Facility(id=uuid4(), tenant=tenant, name="結訪問看護", kind="visiting_nurse")
        session.add_all([office, clinic, station])
        await session.flush()
        people = [
            person(office, "operator", ["operator"]),
            person(office, "contractor", ["contractor"]),
            person(clinic, "clinic-admin", ["facility_admin", "staff"]),
            person(clinic, "nurse", ["staff"]),
            person(station, "station-admin", ["facility_admin", "staff"]),
        ]
        session.add_all(people)
    return Site(tenant, office, clinic, station, *people)


def token_of(stack: Stack, person: User) -> Staff:
    return stack.staff(
        tenant=person.tenant, facility_id=person.facility_id, roles=tuple(person.roles), user_id=person.id
    )


class Codes:
    """TOTP codes for a secret, each usable once: this step's, then the next (identity refuses replays)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.offset = 0

    def next(self) -> str:
        code = self.totp.at(int(time.time()) + 30 * self.offset)
        self.offset += 1
        return code


async def forget_used_codes(stack: Stack, user_id: UUID) -> None:
    """Lets a test log the same user in more than twice within one 30-second step."""
    async with stack["identity"].sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(totp_last_step=None))


async def login(
    stack: Stack,
    person: User,
    *,
    password: str = PASSWORD,
    code: str | None = None,
    headers: dict | None = None,
) -> httpx.Response:
    body = {"tenant": person.tenant, "login_id": person.login_id, "password": password}
    if code is not None:
        body["totp_code"] = code
    return await stack["identity"].client.post("/auth/token", json=body, headers=headers or {})


async def signed_in(stack: Stack, person: User) -> dict:
    await forget_used_codes(stack, person.id)
    assert person.totp_secret
    response = await login(stack, person, code=pyotp.TOTP(person.totp_secret).now())
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def trust_identity_keys(stack: Stack) -> None:
    from identity import tokens

    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    for service in stack.services.values():
        service.app.state.token_verifier.keys.load(
            {"keys": [tokens.public_jwk(stack.signing_key), *published]}
        )


async def audit_actions(stack: Stack, tenant: str) -> list[tuple[str, str | None]]:
    async with stack["identity"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT action, target FROM audit_log WHERE tenant = :t ORDER BY seq"), {"t": tenant}
        )
        return [(r.action, r.target) for r in rows]


async def events(stack: Stack, tenant: str, event_type: str) -> list[dict]:
    async with stack["identity"].sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT envelope FROM outbox WHERE event_type = :e AND envelope->>'tenant' = :t "
                "ORDER BY created_at"
            ),
            {"e": event_type, "t": tenant},
        )
        return [r.envelope["data"] for r in rows]


async def user_row(stack: Stack, user_id: UUID) -> User:
    async with stack["identity"].sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user


APPLICATION = {
    "name": "ゆい薬局",
    "kind": "pharmacy",
    "address": "愛知県愛知郡東郷町 1-1",
    "phone": "0561-00-0000",
    "administrator_name": "薬剤 一郎",
    "administrator_email": "ichiro@example.jp",
    "pledge_accepted": True,
}


async def apply(stack: Stack, tenant: str, login_id: str = "yui-pharmacy") -> httpx.Response:
    return await stack["identity"].client.post(
        "/facility-applications", json={**APPLICATION, "tenant": tenant, "administrator_login_id": login_id}
    )


class TestFacilityApplication:
    async def test_i1_application_reviewed_approved_and_the_applicant_told(self, stack: Stack) -> None:
        site = await make_site(stack)
        applied = await apply(stack, site.tenant)
        assert applied.status_code == 202, applied.text
        facility_id = applied.json()["id"]
        assert applied.json()["status"] == "applied"

        operator = token_of(stack, site.operator)
        queue = await stack["identity"].client.get("/facility-applications", headers=operator.headers)
        assert [f["id"] for f in queue.json()] == [facility_id]

        approved = await stack["identity"].client.post(
            f"/facility-applications/{facility_id}/approval", headers=operator.headers
        )
        assert approved.status_code == 200, approved.text
        body = approved.json()
        assert body["facility"]["status"] == "active"
        assert body["administrator_login_id"] == "yui-pharmacy"
        assert body["initial_password"] and body["access_code"] and body["access_code_pin"]
        administrator = await user_row(stack, UUID(body["administrator_user_id"]))
        assert administrator.must_change_password and set(administrator.roles) == {"facility_admin", "staff"}

        decided = await events(stack, site.tenant, "identity.facility-application-decided.v1")
        assert [(d["decision"], d["administrator_email"]) for d in decided] == [
            ("approved", "ichiro@example.jp")
        ]
        assert [
            d["facility_id"] for d in await events(stack, site.tenant, "identity.facility-applied.v1")
        ] == [facility_id]
        assert len(await events(stack, site.tenant, "identity.facility-approved.v1")) == 1
        again = await stack["identity"].client.post(
            f"/facility-applications/{facility_id}/approval", headers=operator.headers
        )
        assert_problem(again, 409, "conflict")
        assert (
            await stack["identity"].client.get("/facility-applications", headers=operator.headers)
        ).json() == []

    async def test_i1_rejection_carries_its_reason_to_the_applicant(self, stack: Stack) -> None:
        site = await make_site(stack)
        facility_id = (await apply(stack, site.tenant)).json()["id"]
        rejected = await stack["identity"].client.post(
            f"/facility-applications/{facility_id}/rejection",
            json={"reason": "対象地域外の施設です"},
            headers=token_of(stack, site.operator).headers,
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        decided = await events(stack, site.tenant, "identity.facility-application-decided.v1")
        assert [(d["decision"], d["reason"]) for d in decided] == [("rejected", "対象地域外の施設です")]

    async def test_i1_an_application_needs_the_pledge_and_a_known_network(self, stack: Stack) -> None:
        site = await make_site(stack)
        no_pledge = await stack["identity"].client.post(
            "/facility-applications",
            json={
                **APPLICATION,
                "pledge_accepted": False,
                "tenant": site.tenant,
                "administrator_login_id": "x",
            },
        )
        assert_problem(no_pledge, 422, "validation-error")
        assert_problem(await apply(stack, f"{site.tenant}-nowhere"), 404, "not-found")

    async def test_i1_the_public_form_does_not_tell_which_login_ids_exist(self, stack: Stack) -> None:
        site = await make_site(stack)
        taken, free = await apply(stack, site.tenant, "nurse"), await apply(stack, site.tenant, "nobody-yet")
        assert (taken.status_code, free.status_code) == (202, 202)
        assert taken.json().keys() == free.json().keys()
        # The operator meets the clash at approval, and nothing is created.
        clash = await stack["identity"].client.post(
            f"/facility-applications/{taken.json()['id']}/approval",
            headers=token_of(stack, site.operator).headers,
        )
        assert_problem(clash, 409, "login-id-taken")
        queue = await stack["identity"].client.get(
            "/facility-applications", headers=token_of(stack, site.operator).headers
        )
        assert {f["id"] for f in queue.json()} == {taken.json()["id"], free.json()["id"]}

    async def test_i1_only_the_operator_decides(self, stack: Stack) -> None:
        site = await make_site(stack)
        facility_id = (await apply(stack, site.tenant)).json()["id"]
        for person in (site.contractor, site.clinic_admin, site.nurse):
            response = await stack["identity"].client.post(
                f"/facility-applications/{facility_id}/approval", headers=token_of(stack, person).headers
            )
            assert_problem(response, 403, "forbidden")


class TestStaffAccounts:
    async def test_i3_initial_password_only_leads_to_choosing_ones_own_with_totp_enrolled(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        created = await stack["identity"].client.post(
            "/users",
            json={"login_id": "kango-1", "display_name": "看護 一子", "occupation": "看護師"},
            headers=token_of(stack, site.clinic_admin).headers,
        )
        assert created.status_code == 201, created.text
        initial = created.json()["initial_password"]
        user = await user_row(stack, UUID(created.json()["user"]["id"]))
        assert user.facility_id == site.clinic.id and user.must_change_password

        assert_problem(await login(stack, user, password=initial), 403, "password-change-required")
        no_second_factor = await stack["identity"].client.post(
            "/auth/password",
            json={
                "tenant": site.tenant,
                "login_id": "kango-1",
                "current_password": initial,
                "new_password": NEW_PASSWORD,
            },
        )
        assert_problem(no_second_factor, 409, "second-factor-required")
        enrol = await stack["identity"].client.post(
            "/auth/totp-enrolment", json={"tenant": site.tenant, "login_id": "kango-1", "password": initial}
        )
        assert enrol.status_code == 200, enrol.text
        assert enrol.json()["provisioning_uri"].startswith("otpauth://totp/")
        codes = Codes(enrol.json()["secret"])
        changed = await stack["identity"].client.post(
            "/auth/password",
            json={
                "tenant": site.tenant,
                "login_id": "kango-1",
                "current_password": initial,
                "new_password": NEW_PASSWORD,
                "totp_code": codes.next(),
            },
        )
        assert changed.status_code == 204, changed.text
        assert_problem(await login(stack, user, password=initial, code="000000"), 401, "login-failed")
        assert (await login(stack, user, password=NEW_PASSWORD, code=codes.next())).status_code == 200
        # The enrolment is closed once the initial password is gone: a password alone cannot swap the device.
        closed = await stack["identity"].client.post(
            "/auth/totp-enrolment",
            json={"tenant": site.tenant, "login_id": "kango-1", "password": NEW_PASSWORD},
        )
        assert_problem(closed, 409, "enrolment-closed")
        created_events = await events(stack, site.tenant, "identity.user-created.v1")
        assert [e["user_id"] for e in created_events] == [str(user.id)]

    async def test_i3_the_operator_issues_ids_only_where_the_network_says_so(self, stack: Stack) -> None:
        body = {"login_id": "teacher-1", "display_name": "教員 一郎", "occupation": "教員"}
        site = await make_site(stack)
        operator = token_of(stack, site.operator)
        refused = await stack["identity"].client.post(
            "/users", json={**body, "facility_id": str(site.clinic.id)}, headers=operator.headers
        )
        assert_problem(refused, 403, "forbidden")
        koga = await make_site(stack, operator_issues_users=True)
        created = await stack["identity"].client.post(
            "/users",
            json={**body, "facility_id": str(koga.clinic.id)},
            headers=token_of(stack, koga.operator).headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["user"]["facility_id"] == str(koga.clinic.id)

    async def test_i3_bulk_import_reports_every_row(self, stack: Stack) -> None:
        site = await make_site(stack)
        csv_text = (
            "login_id,display_name,roles,occupation\n"
            "care-1,介護 一郎,staff,介護福祉士\n"
            "nurse,重複 太郎,staff,\n"
            "bad id!,不正 ID,staff,\n"
            "care-2,介護 二郎,staff;facility_admin,\n"
            "care-3,権限 三郎,operator,\n"
        )
        response = await stack["identity"].client.post(
            "/users/import",
            content=csv_text.encode(),
            headers={**token_of(stack, site.clinic_admin).headers, "Content-Type": "text/csv"},
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["created"], report["rejected"]) == (2, 3)
        outcomes = {row["line"]: (row["login_id"], row["outcome"]) for row in report["rows"]}
        assert outcomes == {
            2: ("care-1", "created"),
            3: ("nurse", "rejected"),
            4: ("bad id!", "rejected"),
            5: ("care-2", "created"),
            6: ("care-3", "rejected"),
        }
        assert all(row["errors"] for row in report["rows"] if row["outcome"] == "rejected")
        assert all(row["initial_password"] for row in report["rows"] if row["outcome"] == "created")
        listed = await stack["identity"].client.get(
            "/users", headers=token_of(stack, site.clinic_admin).headers
        )
        assert {"care-1", "care-2"} <= {u["login_id"] for u in listed.json()}

    async def test_i4_password_rules_and_no_reuse_of_recent_ones(self, stack: Stack) -> None:
        site = await make_site(stack)

        async def change(current: str, new: str) -> httpx.Response:
            await forget_used_codes(stack, site.nurse.id)
            return await stack["identity"].client.post(
                "/auth/password",
                json={
                    "tenant": site.tenant,
                    "login_id": "nurse",
                    "current_password": current,
                    "new_password": new,
                    "totp_code": pyotp.TOTP(site.nurse.totp_secret or "").now(),
                },
            )

        too_short = assert_problem(await change(PASSWORD, "ab1!"), 422, "password-rules")
        assert "at least 8 characters" in too_short["rules"]
        assert (
            "a symbol" in assert_problem(await change(PASSWORD, "abcdefgh12"), 422, "password-rules")["rules"]
        )
        assert_problem(await change(PASSWORD, PASSWORD), 422, "password-reused")
        assert (await change(PASSWORD, NEW_PASSWORD)).status_code == 204
        assert_problem(await change(NEW_PASSWORD, PASSWORD), 422, "password-reused")  # one of the last five
        assert (await change(NEW_PASSWORD, "Third#password3")).status_code == 204

    async def test_i4_without_a_second_factor_a_password_needs_13_characters(self, stack: Stack) -> None:
        site = await make_site(stack, created_as_demo=True, password_only_allowed=True)
        async with stack["identity"].sessionmaker() as session, session.begin():
            # Only someone without a confirmed TOTP changes their password with the password alone.
            await session.execute(
                update(User).where(User.id == site.nurse.id).values(totp_secret=None, totp_confirmed=False)
            )
        response = await stack["identity"].client.post(
            "/auth/password",
            json={
                "tenant": site.tenant,
                "login_id": "nurse",
                "current_password": PASSWORD,
                "new_password": "Short#pass12",
            },
        )
        assert "at least 13 characters" in assert_problem(response, 422, "password-rules")["rules"]

    async def test_i5_personnel_changes_by_the_facility_administrator(self, stack: Stack) -> None:
        site = await make_site(stack)
        admin = token_of(stack, site.clinic_admin)
        changed = await stack["identity"].client.patch(
            f"/users/{site.nurse.id}",
            json={"display_name": "看護 花子 (主任)", "roles": ["staff", "facility_admin"]},
            headers=admin.headers,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["roles"] == ["facility_admin", "staff"]
        profile = await stack["identity"].client.patch(
            f"/facilities/{site.clinic.id}",
            json={"phone": "0561-11-2222", "publication": {"listed": False}},
            headers=admin.headers,
        )
        assert profile.status_code == 200 and profile.json()["phone"] == "0561-11-2222"
        assert profile.json()["published"] is False
        left = await stack["identity"].client.post(f"/users/{site.nurse.id}/disabling", headers=admin.headers)
        assert left.status_code == 200 and left.json()["status"] == "disabled"
        assert [e["user_id"] for e in await events(stack, site.tenant, "identity.user-disabled.v1")] == [
            str(site.nurse.id)
        ]
        assert_problem(
            await login(stack, site.nurse, code=Codes(site.nurse.totp_secret or "").next()),
            401,
            "login-failed",
        )

    async def test_i6_withdrawal_disables_users_and_revokes_certificates(self, stack: Stack) -> None:
        site = await make_site(stack)
        certificate = await register_certificate(stack, site.nurse)
        withdrawn = await stack["identity"].client.post(
            f"/facilities/{site.clinic.id}/withdrawal", headers=token_of(stack, site.clinic_admin).headers
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "withdrawn"
        for person in (site.clinic_admin, site.nurse):
            assert (await user_row(stack, person.id)).status == "disabled"
        assert [
            e["facility_id"] for e in await events(stack, site.tenant, "identity.facility-withdrawn.v1")
        ] == [str(site.clinic.id)]
        disabled = await events(stack, site.tenant, "identity.facility-disabled.v1")
        assert [(e["facility_id"], e["reason"]) for e in disabled] == [(str(site.clinic.id), "withdrawn")]
        revoked = await events(stack, site.tenant, "identity.certificate-revoked.v1")
        assert [e["fingerprint_sha256"] for e in revoked] == [certificate.fingerprint]
        other_admin = token_of(stack, site.station_admin)
        refused = await stack["identity"].client.post(
            f"/facilities/{site.station.id}/withdrawal",
            headers=stack.staff(tenant=site.tenant, facility_id=site.station.id, roles=("staff",)).headers,
        )
        assert_problem(refused, 403, "forbidden")
        assert (
            await stack["identity"].client.get(f"/facilities/{site.station.id}", headers=other_admin.headers)
        ).json()["status"] == "active"

    async def test_i7_reissue_by_the_administrator_or_replacement_by_the_operator(self, stack: Stack) -> None:
        site = await make_site(stack)
        first = await signed_in(stack, site.nurse)
        reissued = await stack["identity"].client.post(
            f"/users/{site.nurse.id}/password-reissue", headers=token_of(stack, site.clinic_admin).headers
        )
        assert reissued.status_code == 200, reissued.text
        nurse = await user_row(stack, site.nurse.id)
        assert nurse.must_change_password and nurse.totp_secret is None  # the lost device is enrolled anew
        assert_problem(await login(stack, site.nurse), 401, "login-failed")
        assert_problem(
            await login(stack, site.nurse, password=reissued.json()["initial_password"]),
            403,
            "password-change-required",
        )
        ended = await events(stack, site.tenant, "identity.session-revoked.v1")
        assert [(e["session_id"], e["reason"]) for e in ended] == [
            (str(first["session_id"]), "password-reissued")
        ]

        replaced = await stack["identity"].client.post(
            f"/users/{site.station_admin.id}/replacement",
            json={"new_login_id": "station-admin-2", "reason": "管理者不在のため再発行"},
            headers=token_of(stack, site.operator).headers,
        )
        assert replaced.status_code == 201, replaced.text
        assert replaced.json()["user"]["facility_id"] == str(site.station.id)
        assert (await user_row(stack, site.station_admin.id)).status == "suspended"
        assert [e["user_id"] for e in await events(stack, site.tenant, "identity.user-suspended.v1")] == [
            str(site.station_admin.id)
        ]


@dataclass
class RegisteredCertificate:
    pem: str
    fingerprint: str

    @property
    def headers(self) -> dict[str, str]:
        """What the gateway forwards for a certificate it verified."""
        return {**FROM_GATEWAY, "X-Client-Verify": "SUCCESS", "X-Client-Cert": quote(self.pem, safe="")}


async def register_certificate(stack: Stack, person: User) -> RegisteredCertificate:
    """A client certificate on record for the person (the CA's own tests cover issuing it)."""
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
    fingerprint = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(
            ClientCertificate(
                tenant=person.tenant,
                facility_id=person.facility_id,
                user_id=person.id,
                terminal_label=f"端末-{uuid4().hex[:6]}",
                serial_number=format(certificate.serial_number, "x"),
                fingerprint_sha256=fingerprint,
                certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
                not_before=now - timedelta(minutes=1),
                not_after=now + timedelta(days=1),
                issued_by="test",
            )
        )
    return RegisteredCertificate(certificate.public_bytes(serialization.Encoding.PEM).decode(), fingerprint)


class TestTwoFactorLogin:
    async def test_s1_password_alone_is_refused_and_password_with_totp_signs_in(self, stack: Stack) -> None:
        site = await make_site(stack)
        assert_problem(await login(stack, site.nurse), 401, "login-failed")
        assert_problem(await login(stack, site.nurse, code="000000"), 401, "login-failed")
        signed = await login(stack, site.nurse, code=Codes(site.nurse.totp_secret or "").next())
        assert signed.status_code == 200, signed.text
        claims = jwt.decode(signed.json()["access_token"], options={"verify_signature": False})
        assert claims["sid"] == signed.json()["session_id"] and "cnf" not in claims
        assert ("login.succeeded", f"session:{signed.json()['session_id']}") in await audit_actions(
            stack, site.tenant
        )

    async def test_s1_a_used_totp_code_does_not_work_twice(self, stack: Stack) -> None:
        site = await make_site(stack)
        code = Codes(site.nurse.totp_secret or "").next()
        assert (await login(stack, site.nurse, code=code)).status_code == 200
        assert_problem(await login(stack, site.nurse, code=code), 401, "login-failed")

    async def test_s1_password_with_the_users_certificate_binds_the_token_but_a_certificate_alone_never(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack, totp_allowed=False)
        certificate = await register_certificate(stack, site.nurse)
        assert_problem(
            await login(stack, site.nurse, password="wrong", headers=certificate.headers), 401, "login-failed"
        )
        no_password = await stack["identity"].client.post(
            "/auth/token", json={"tenant": site.tenant, "login_id": "nurse"}, headers=certificate.headers
        )
        assert_problem(no_password, 422, "validation-error")
        # The network does not allow TOTP: a right code is no second factor there.
        assert_problem(
            await login(stack, site.nurse, code=Codes(site.nurse.totp_secret or "").next()),
            401,
            "login-failed",
        )
        # Someone else's certificate is no second factor for this user.
        assert_problem(
            await login(stack, site.clinic_admin, headers=certificate.headers), 401, "login-failed"
        )

        signed = await login(stack, site.nurse, headers=certificate.headers)
        assert signed.status_code == 200, signed.text
        claims = jwt.decode(signed.json()["access_token"], options={"verify_signature": False})
        assert claims["cnf"] == {"x5t#S256": certificate.fingerprint}

    async def test_i12_a_token_bound_to_a_certificate_is_refused_with_another(self, stack: Stack) -> None:
        site = await make_site(stack)
        certificate = await register_certificate(stack, site.nurse)
        other = await register_certificate(stack, site.nurse)
        await trust_identity_keys(stack)
        tokens = (await login(stack, site.nurse, headers=certificate.headers)).json()
        me = stack["identity"].client.get
        assert (await me("/me", headers={**bearer(tokens), **certificate.headers})).status_code == 200
        assert_problem(await me("/me", headers={**bearer(tokens), **other.headers}), 401, "unauthenticated")
        assert_problem(await me("/me", headers=bearer(tokens)), 401, "unauthenticated")
        consent = await stack["consent"].client.get("/subjects", headers={**bearer(tokens), **other.headers})
        assert consent.status_code == 401


class TestLockout:
    """i11 as a backoff: the threshold's failures make the login ID wait 2 s, doubling, capped; it ends by itself,
    a success or an unlock ends it at once (the attacker's side is tests/security/test_hardening_signin.py)."""

    async def test_i11_the_threshold_makes_the_login_id_wait_an_unlock_ends_it_and_every_attempt_is_audited(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack, lockout_threshold=3)
        codes = Codes(site.nurse.totp_secret or "")
        for _ in range(3):
            failed = await login(stack, site.nurse, password="wrong-password", code=codes.next())
            assert_problem(failed, 401, "login-failed")
        assert failed.headers["retry-after"] == "2"
        assert (await user_row(stack, site.nurse.id)).locked_at is not None
        waiting = await login(stack, site.nurse)
        assert_problem(waiting, 401, "login-failed")  # even the right password, without the second factor
        assert "retry-after" in waiting.headers

        listed = await stack["identity"].client.get(
            "/users", headers=token_of(stack, site.clinic_admin).headers
        )
        assert {u["login_id"]: u["locked"] for u in listed.json()}["nurse"] is True
        unlocked = await stack["identity"].client.post(
            f"/users/{site.nurse.id}/unlock", headers=token_of(stack, site.clinic_admin).headers
        )
        assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
        await signed_in(stack, site.nurse)

        async with stack["identity"].sessionmaker() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT action, detail->>'reason' AS reason FROM audit_log WHERE tenant = :t "
                        "AND (target = :u OR actor_id = :id) ORDER BY seq"
                    ),
                    {"t": site.tenant, "u": f"user:{site.nurse.id}", "id": str(site.nurse.id)},
                )
            ).all()
        assert [(r.action, r.reason) for r in rows] == [
            ("login.failed", "password"),
            ("login.failed", "password"),
            ("login.failed", "password"),
            ("account.backoff-started", None),
            ("login.refused", "backoff"),
            ("account.unlocked", None),
            ("login.succeeded", None),
        ]

    async def test_i11_the_wait_ends_by_itself(self, stack: Stack) -> None:
        site = await make_site(stack, lockout_threshold=2)
        for _ in range(2):
            assert_problem(await login(stack, site.nurse, password="wrong-password"), 401, "login-failed")
        async with stack["identity"].sessionmaker() as session, session.begin():
            # The clock moves past the wait (tests do not sleep).
            await session.execute(
                text("UPDATE sign_in_backoffs SET blocked_until = now() WHERE tenant = :t"),
                {"t": site.tenant},
            )
        await signed_in(stack, site.nurse)
        assert (await user_row(stack, site.nurse.id)).locked_at is None

    async def test_i11_the_users_own_certificate_passes_the_wait(self, stack: Stack) -> None:
        site = await make_site(stack, lockout_threshold=2)
        for _ in range(2):
            assert_problem(await login(stack, site.nurse, password="wrong-password"), 401, "login-failed")
        someone_elses = await register_certificate(stack, site.clinic_admin)
        assert_problem(await login(stack, site.nurse, headers=someone_elses.headers), 401, "login-failed")
        own = await register_certificate(stack, site.nurse)
        signed = await login(stack, site.nurse, headers=own.headers)
        assert signed.status_code == 200, signed.text
        assert (await user_row(stack, site.nurse.id)).locked_at is None

    async def test_i11_a_wrong_second_factor_counts_towards_the_wait(self, stack: Stack) -> None:
        site = await make_site(stack, lockout_threshold=2)
        for _ in range(2):
            failed = await login(stack, site.nurse, code="123456")
            assert_problem(failed, 401, "login-failed")
        assert failed.headers["retry-after"] == "2"
        assert (await user_row(stack, site.nurse.id)).locked_at is not None


class TestSessions:
    async def test_i12_sessions_listed_refreshed_and_ended_by_their_user(self, stack: Stack) -> None:
        site = await make_site(stack)
        await trust_identity_keys(stack)
        first = await signed_in(stack, site.nurse)
        second = await signed_in(stack, site.nurse)
        listed = await stack["identity"].client.get("/sessions", headers=bearer(second))
        assert listed.status_code == 200
        assert {(s["id"], s["current"]) for s in listed.json()} == {
            (first["session_id"], False),
            (second["session_id"], True),
        }
        refreshed = await stack["identity"].client.post(
            "/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["session_id"] == first["session_id"]
        # The refresh token rotates: the old one is spent.
        stale = await stack["identity"].client.post(
            "/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert_problem(stale, 401, "session-ended")

        ended = await stack["identity"].client.delete(
            f"/sessions/{first['session_id']}", headers=bearer(second)
        )
        assert ended.status_code == 204
        gone = await stack["identity"].client.post(
            "/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
        )
        assert_problem(gone, 401, "session-ended")
        logout = await stack["identity"].client.post("/auth/logout", headers=bearer(second))
        assert logout.status_code == 204
        revoked = await events(stack, site.tenant, "identity.session-revoked.v1")
        assert [(e["session_id"], e["reason"]) for e in revoked] == [
            (first["session_id"], "ended-by-user"),
            (second["session_id"], "logout"),
        ]
        someone_else = await signed_in(stack, site.clinic_admin)
        assert_problem(
            await stack["identity"].client.delete(
                f"/sessions/{someone_else['session_id']}", headers=token_of(stack, site.nurse).headers
            ),
            404,
            "not-found",
        )

    async def test_i12_idle_and_absolute_limits_end_a_session(self, stack: Stack) -> None:
        site = await make_site(stack, session_idle_minutes=15, session_absolute_hours=12)
        idle = await signed_in(stack, site.nurse)
        old = await signed_in(stack, site.nurse)
        assert idle["expires_in"] == 900
        async with stack["identity"].sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE login_sessions SET last_seen_at = now() - interval '16 minutes' WHERE id = :id"),
                {"id": idle["session_id"]},
            )
            await session.execute(
                text(
                    "UPDATE login_sessions SET created_at = now() - interval '13 hours', "
                    "expires_at = now() - interval '1 hour' WHERE id = :id"
                ),
                {"id": old["session_id"]},
            )
        for tokens in (idle, old):
            response = await stack["identity"].client.post(
                "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
            )
            assert_problem(response, 401, "session-ended")
        revoked = await events(stack, site.tenant, "identity.session-revoked.v1")
        assert {(e["session_id"], e["reason"]) for e in revoked} == {
            (idle["session_id"], "idle"),
            (old["session_id"], "absolute-limit"),
        }

    async def test_i12_signing_keys_rotate_and_old_tokens_verify_until_retired(self, stack: Stack) -> None:
        site = await make_site(stack)
        before = await signed_in(stack, site.nurse)
        old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
        contractor = token_of(stack, site.contractor)
        rotated = await stack["identity"].client.post("/signing-keys/rotation", headers=contractor.headers)
        assert rotated.status_code == 201
        new_kid = rotated.json()["kid"]
        kids = {
            k["kid"] for k in (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
        }
        assert {old_kid, new_kid} <= kids
        after = await signed_in(stack, site.nurse)
        assert jwt.get_unverified_header(after["access_token"])["kid"] == new_kid
        await trust_identity_keys(stack)
        for tokens in (before, after):
            assert (await stack["identity"].client.get("/me", headers=bearer(tokens))).status_code == 200
        assert_problem(
            await stack["identity"].client.post(
                f"/signing-keys/{new_kid}/retirement", headers=contractor.headers
            ),
            409,
            "conflict",
        )
        assert_problem(
            await stack["identity"].client.post(
                "/signing-keys/rotation", headers=token_of(stack, site.nurse).headers
            ),
            403,
            "forbidden",
        )
        retired = await stack["identity"].client.post(
            f"/signing-keys/{old_kid}/retirement", headers=contractor.headers
        )
        assert retired.status_code == 204
        kids = {
            k["kid"] for k in (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
        }
        assert old_kid not in kids and new_kid in kids

    async def test_i12_only_the_contractor_changes_the_keys_that_sign_every_networks_tokens(
        self, stack: Stack
    ) -> None:
        """The keys are the deployment's: a network's operator is refused (403, audited), whichever network's
        key it names, and the keys stay as they were."""
        site, elsewhere = await make_site(stack), await make_site(stack)
        client = stack["identity"].client
        contractor = token_of(stack, site.contractor)
        rotated = await client.post("/signing-keys/rotation", headers=contractor.headers)
        assert rotated.status_code == 201, rotated.text
        signing_now = rotated.json()["kid"]
        retirable = next(
            k["kid"]
            for k in (await client.get("/.well-known/jwks.json")).json()["keys"]
            if k["kid"] != signing_now
        )
        for operator in (site.operator, elsewhere.operator):
            headers = token_of(stack, operator).headers
            assert_problem(await client.post("/signing-keys/rotation", headers=headers), 403, "forbidden")
            assert_problem(
                await client.post(f"/signing-keys/{retirable}/retirement", headers=headers), 403, "forbidden"
            )
        kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
        assert {signing_now, retirable} <= kids
        assert (
            jwt.get_unverified_header((await signed_in(stack, site.nurse))["access_token"])["kid"]
            == signing_now
        )
        for tenant in (site.tenant, elsewhere.tenant):
            refusals = [a for a in await audit_actions(stack, tenant) if a[0].endswith("-refused")]
            assert refusals == [
                ("signing-key.rotation-refused", None),
                ("signing-key.retirement-refused", f"kid:{retirable}"),
            ]


class TestSuspensions:
    async def test_i8_operator_suspends_and_reinstates_a_user(self, stack: Stack) -> None:
        site = await make_site(stack)
        operator = token_of(stack, site.operator)
        suspended = await stack["identity"].client.post(
            "/suspensions",
            json={"target_kind": "user", "target_id": str(site.nurse.id), "reason": "不正アクセスの疑い"},
            headers=operator.headers,
        )
        assert suspended.status_code == 201, suspended.text
        assert suspended.json()["needs_acknowledgement"] is False
        assert_problem(
            await login(stack, site.nurse, code=Codes(site.nurse.totp_secret or "").next()),
            401,
            "login-failed",
        )
        lifted = await stack["identity"].client.post(
            f"/suspensions/{suspended.json()['id']}/lifting", headers=operator.headers
        )
        assert lifted.status_code == 200 and lifted.json()["lifted_at"]
        assert (await user_row(stack, site.nurse.id)).status == "active"
        assert [e["user_id"] for e in await events(stack, site.tenant, "identity.user-reinstated.v1")] == [
            str(site.nurse.id)
        ]
        await signed_in(stack, site.nurse)

    async def test_i8_contractor_suspends_only_in_an_emergency_and_the_operator_acknowledges(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        contractor = token_of(stack, site.contractor)
        body = {
            "target_kind": "facility",
            "target_id": str(site.station.id),
            "reason": "情報漏えいの疑い(夜間)",
        }
        refused = await stack["identity"].client.post("/suspensions", json=body, headers=contractor.headers)
        assert_problem(refused, 403, "forbidden")
        suspended = await stack["identity"].client.post(
            "/suspensions", json={**body, "emergency": True}, headers=contractor.headers
        )
        assert suspended.status_code == 201, suspended.text
        assert (
            suspended.json()["needs_acknowledgement"] is True
            and suspended.json()["suspended_by_role"] == "contractor"
        )
        assert_problem(
            await login(stack, site.station_admin, code=Codes(site.station_admin.totp_secret or "").next()),
            401,
            "login-failed",
        )
        disabled = await events(stack, site.tenant, "identity.facility-disabled.v1")
        assert [(e["facility_id"], e["reason"]) for e in disabled] == [(str(site.station.id), "suspended")]

        operator = token_of(stack, site.operator)
        reports = await stack["identity"].client.get("/suspensions?open_only=true", headers=operator.headers)
        assert [r["id"] for r in reports.json() if r["acknowledged_at"] is None] == [suspended.json()["id"]]
        ack = await stack["identity"].client.post(
            f"/suspensions/{suspended.json()['id']}/acknowledgement", headers=operator.headers
        )
        assert ack.status_code == 200 and ack.json()["acknowledged_at"]
        assert_problem(
            await stack["identity"].client.post(
                f"/suspensions/{suspended.json()['id']}/lifting", headers=contractor.headers
            ),
            403,
            "forbidden",
        )
        await stack["identity"].client.post(
            f"/suspensions/{suspended.json()['id']}/lifting", headers=operator.headers
        )
        assert len(await events(stack, site.tenant, "identity.facility-reinstated.v1")) == 1

    async def test_i9_operator_abolishes_a_facility_without_notice(self, stack: Stack) -> None:
        site = await make_site(stack)
        body = {"reason": "禁止行為 (To39)"}
        for person in (site.contractor, site.station_admin):
            refused = await stack["identity"].client.post(
                f"/facilities/{site.station.id}/abolition", json=body, headers=token_of(stack, person).headers
            )
            assert refused.status_code in (403, 404)
        abolished = await stack["identity"].client.post(
            f"/facilities/{site.station.id}/abolition",
            json=body,
            headers=token_of(stack, site.operator).headers,
        )
        assert abolished.status_code == 200 and abolished.json()["status"] == "abolished"
        assert (await user_row(stack, site.station_admin.id)).status == "disabled"
        disabled = await events(stack, site.tenant, "identity.facility-disabled.v1")
        assert [(e["facility_id"], e["reason"]) for e in disabled] == [(str(site.station.id), "abolished")]


class TestIncidentReports:
    async def test_i10_report_travels_from_user_to_administrator_operator_and_contractor(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        client = stack["identity"].client
        nurse, admin = token_of(stack, site.nurse), token_of(stack, site.clinic_admin)
        operator, contractor = token_of(stack, site.operator), token_of(stack, site.contractor)
        filed = await client.post(
            "/incident-reports",
            json={"category": "security", "title": "端末の紛失", "body": "訪問先でタブレットを紛失しました"},
            headers=nurse.headers,
        )
        assert filed.status_code == 201 and filed.json()["status"] == "submitted"
        report = filed.json()["id"]
        assert [r["id"] for r in (await client.get("/incident-reports", headers=admin.headers)).json()] == [
            report
        ]
        assert (await client.get("/incident-reports", headers=operator.headers)).json() == []
        assert_problem(
            await client.get(
                f"/incident-reports/{report}", headers=token_of(stack, site.station_admin).headers
            ),
            404,
            "not-found",
        )
        assert_problem(
            await client.post(f"/incident-reports/{report}/forwarding", json={}, headers=operator.headers),
            404,
            "not-found",
        )

        escalated = await client.post(
            f"/incident-reports/{report}/escalation", json={"note": "確認済み"}, headers=admin.headers
        )
        assert escalated.json()["status"] == "with_operator"
        assert_problem(
            await client.get(f"/incident-reports/{report}", headers=contractor.headers), 404, "not-found"
        )
        forwarded = await client.post(
            f"/incident-reports/{report}/forwarding", json={"note": "調査依頼"}, headers=operator.headers
        )
        assert forwarded.json()["status"] == "with_contractor"
        resolved = await client.post(
            f"/incident-reports/{report}/resolution",
            json={"note": "証明書失効済み"},
            headers=contractor.headers,
        )
        assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
        assert [n["step"] for n in resolved.json()["notes"]] == ["escalate", "forward", "resolve"]
        mine = await client.get(f"/incident-reports/{report}", headers=nurse.headers)
        assert mine.json()["status"] == "resolved"


class TestAccessMatrix:
    async def test_facility_admin_cannot_see_or_manage_another_facilitys_users(self, stack: Stack) -> None:
        site = await make_site(stack)
        other_admin = token_of(stack, site.station_admin)
        client = stack["identity"].client
        listed = await client.get("/users", headers=other_admin.headers)
        assert site.nurse.login_id not in {u["login_id"] for u in listed.json()}
        assert_problem(
            await client.get(f"/users?facility_id={site.clinic.id}", headers=other_admin.headers),
            404,
            "not-found",
        )
        for method, path, body in (
            ("GET", f"/users/{site.nurse.id}", None),
            ("PATCH", f"/users/{site.nurse.id}", {"display_name": "x"}),
            ("POST", f"/users/{site.nurse.id}/password-reissue", None),
            ("POST", f"/users/{site.nurse.id}/unlock", None),
            ("POST", f"/users/{site.nurse.id}/disabling", None),
            ("GET", f"/facilities/{site.clinic.id}", None),
            ("PATCH", f"/facilities/{site.clinic.id}", {"phone": "1"}),
        ):
            response = await client.request(method, path, json=body, headers=other_admin.headers)
            assert_problem(response, 404, "not-found")
        created = await client.post(
            "/users",
            json={"login_id": "intruder", "display_name": "x", "facility_id": str(site.clinic.id)},
            headers=other_admin.headers,
        )
        assert_problem(created, 404, "not-found")

    async def test_staff_cannot_reach_administrator_or_operator_endpoints(self, stack: Stack) -> None:
        site = await make_site(stack)
        nurse = token_of(stack, site.nurse)
        client = stack["identity"].client
        for method, path, body in (
            ("GET", "/users", None),
            ("POST", "/users", {"login_id": "x", "display_name": "x"}),
            ("GET", "/facility-applications", None),
            ("GET", "/suspensions", None),
            (
                "POST",
                "/suspensions",
                {"target_kind": "user", "target_id": str(site.clinic_admin.id), "reason": "x"},
            ),
            ("GET", "/network", None),
            ("PATCH", "/network", {"lockout_threshold": 10}),
            ("POST", "/signing-keys/rotation", None),
            ("POST", f"/facilities/{site.clinic.id}/abolition", {"reason": "x"}),
        ):
            response = await client.request(method, path, json=body, headers=nurse.headers)
            assert response.status_code in (403, 404), (method, path, response.text)
        assert_problem(
            await client.get(f"/users/{site.clinic_admin.id}", headers=nurse.headers), 403, "forbidden"
        )

    async def test_nobody_crosses_networks(self, stack: Stack) -> None:
        site = await make_site(stack)
        elsewhere = await make_site(stack)
        client = stack["identity"].client
        for person in (elsewhere.operator, elsewhere.contractor, elsewhere.clinic_admin):
            token = token_of(stack, person)
            listed = await client.get("/users", headers=token.headers)
            assert not {u["id"] for u in listed.json()} & {str(site.nurse.id), str(site.clinic_admin.id)}
            assert_problem(
                await client.get(f"/users/{site.nurse.id}", headers=token.headers), 404, "not-found"
            )
            assert_problem(
                await client.get(f"/facilities/{site.clinic.id}", headers=token.headers), 404, "not-found"
            )
        operator = token_of(stack, elsewhere.operator)
        facilities = await client.get("/facilities", headers=operator.headers)
        assert str(site.clinic.id) not in {f["id"] for f in facilities.json()}
        suspend = await client.post(
            "/suspensions",
            json={"target_kind": "user", "target_id": str(site.nurse.id), "reason": "x"},
            headers=operator.headers,
        )
        assert_problem(suspend, 404, "not-found")
        facility_id = (await apply(stack, site.tenant, login_id="cross-net")).json()["id"]
        assert_problem(
            await client.post(f"/facility-applications/{facility_id}/approval", headers=operator.headers),
            404,
            "not-found",
        )
        # A login id names a different person in each network; a login never reaches another network's user.
        assert_problem(
            await login(
                stack,
                User(tenant=elsewhere.tenant, login_id="nurse"),
                code=Codes(site.nurse.totp_secret or "").next(),
            ),
            401,
            "login-failed",
        )

    async def test_network_settings_are_the_operators(self, stack: Stack) -> None:
        site = await make_site(stack)
        operator = token_of(stack, site.operator)
        changed = await stack["identity"].client.patch(
            "/network",
            json={
                "municipality_codes": ["232297"],
                "retention_years": 5,
                "withdrawal_mode": "delete",
                "lockout_threshold": 10,
            },
            headers=operator.headers,
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["withdrawal_mode"], changed.json()["municipality_codes"]) == (
            "delete",
            ["232297"],
        )
        read = await stack["identity"].client.get(
            "/network", headers=token_of(stack, site.contractor).headers
        )
        assert read.json()["lockout_threshold"] == 10
        assert_problem(
            await stack["identity"].client.patch(
                "/network", json={"retention_years": 1}, headers=token_of(stack, site.contractor).headers
            ),
            403,
            "forbidden",
        )
