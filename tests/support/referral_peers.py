"""Referrals between the two deployments of tests/support/two_stacks.py (fed2, fed3 and their benchmarks).

Home is deployment a's ``demo`` network, the peer deployment b's ``tonari`` (both seeded by identity's seed, as
``make run`` seeds them). What services/federation/tests/referral_support.py does in one process is done here
against real processes: staff are written into a deployment's identity database with the outbox event identity
publishes for a new user (its worker relays it to every service's people projection) and sign in through identity's
API; the subject is registered through consent's API with consent and its care team; the agreement is proposed and
accepted by the two operators; the referral is made, read and answered through federation's staff API (what the
portal calls), which reaches the other deployment only through the gateways' peer ports (mutual TLS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import sqlalchemy as sa
from federation.messages import envelope
from federation.referrals import assertions
from identity.models import User
from identity.passwords import hash_password
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from yui_common import demo, outbox
from yui_common.events.identity import PersonChangedV1

from tests.support.federation_peers import accepted_agreement, active_key, rows
from tests.support.two_stacks import Deployment, TwoStacks, wait_for

HOME, PEER = demo.TENANT, demo.NEIGHBOUR_TENANT
PEER_CLINIC, PEER_CARE_HOME = demo.NEIGHBOUR_CLINIC, demo.NEIGHBOUR_CARE_HOME
# What home lets the peer's professions see.
PROFESSIONS = {"nurse": ["visit", "vitals", "other"], "care_manager": ["other"]}
WAIT_S = 60.0


@dataclass
class Staff:
    user_id: UUID
    tenant: str
    login_id: str
    name: str
    facility_id: UUID
    facility_name: str
    profession: str
    headers: dict[str, str]


async def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.request.method, response.request.url, response.text)
    return response.json() if response.content else None


async def sign_in(deployment: Deployment, tenant: str, login_id: str) -> dict[str, str]:
    """A real token from the deployment's identity (password sign-in: the seeded demo networks allow it)."""
    async with httpx.AsyncClient(base_url=deployment.api_url("identity"), timeout=30) as client:
        response = await client.post(
            "/auth/token", json={"tenant": tenant, "login_id": login_id, "password": demo.PASSWORD}
        )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def add_staff(
    deployment: Deployment, tenant: str, wanted: dict[str, tuple[UUID, str]]
) -> dict[str, Staff]:
    """``wanted``: key → (facility, profession). Each becomes a user of the network in the deployment's identity,
    introduced to every service by identity's person-changed event (written with the user, relayed by identity's
    worker), and signs in. Their login IDs are fresh, so every test has people of its own."""
    engine = create_async_engine(
        deployment.database("identity").replace("postgresql:", "postgresql+asyncpg:", 1)
    )
    made: dict[str, User] = {}
    facilities: dict[UUID, str] = {}
    try:
        async with engine.begin() as connection:
            facilities = {
                row.id: str(row.name)
                for row in await connection.execute(
                    sa.text("SELECT id, name FROM facilities WHERE tenant = :t"), {"t": tenant}
                )
            }
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            for key, (facility_id, profession) in wanted.items():
                user = User(
                    id=uuid4(),
                    tenant=tenant,
                    facility_id=facility_id,
                    login_id=f"{key}-{uuid4().hex[:8]}",
                    display_name=f"{key} {uuid4().hex[:4]}",
                    password_hash=hash_password(demo.PASSWORD),
                    roles=["staff"],
                    profession=profession,
                    person_version=1,
                )
                session.add(user)
                await outbox.add_event(
                    session,
                    PersonChangedV1(
                        user_id=user.id,
                        name=user.display_name,
                        profession=profession,
                        facility_id=facility_id,
                        facility_name=str(facilities[facility_id]),
                        version=1,
                    ),
                    tenant=tenant,
                )
                made[key] = user
    finally:
        await engine.dispose()
    return {
        key: Staff(
            user.id,
            tenant,
            user.login_id,
            user.display_name,
            user.facility_id,
            facilities[user.facility_id],
            user.profession,
            await sign_in(deployment, tenant, user.login_id),
        )
        for key, user in made.items()
    }


async def known_to(deployment: Deployment, service: str, user_ids: list[UUID]) -> None:
    """Until ``service``'s people projection holds everyone of ``user_ids``."""

    async def known() -> bool:
        found = await rows(
            deployment,
            "SELECT count(*) AS n FROM people WHERE user_id = ANY($1::uuid[])",
            user_ids,
            service=service,
        )
        return int(found[0]["n"]) == len(user_ids)

    await wait_for(
        known, timeout=WAIT_S, interval=0.2, what=f"{deployment.name}'s {service} to know its people"
    )


async def peer_staff(b: Deployment) -> dict[str, Staff]:
    """At the peer: a nurse of the clinic the subject is referred to (the agreement lets nurses see visits), a
    pharmacist of that clinic (a profession outside the agreement) and a nurse of the care home (another
    facility); federation knows all three before this returns."""
    staff = await add_staff(
        b,
        PEER,
        {
            "nurse": (PEER_CLINIC, "nurse"),
            "pharmacist": (PEER_CLINIC, "pharmacist"),
            "care-home-nurse": (PEER_CARE_HOME, "nurse"),
        },
    )
    await known_to(b, "federation", [s.user_id for s in staff.values()])
    return staff


async def referral_agreement(stacks: TwoStacks, agreements: dict[str, Any]) -> str:
    """An agreement of a's demo with b's tonari that lets referrals cross (one per session)."""
    if "referral" not in agreements:
        agreements["referral"] = await accepted_agreement(
            stacks.a, HOME, stacks.b, PEER, event_types=[envelope.REFERRAL], professions=PROFESSIONS
        )
    return str(agreements["referral"])


@dataclass
class Subject:
    id: str
    name: str
    visit_post_id: str


async def home_subject(a: Deployment, doctor: dict[str, str], label: str) -> Subject:
    """A subject of home registered by its doctor through consent's API (the doctor is on its care team), with
    consent given, and a visit written on its timeline through timeline's API."""
    name = f"越境 {label}"
    async with httpx.AsyncClient(base_url=a.api_url("consent"), timeout=30) as consent:

        async def registered() -> dict[str, Any] | None:
            # consent registers residents of the network's municipalities: it must have heard of demo's.
            response = await consent.post(
                "/subjects",
                json={
                    "name": name,
                    "name_kana": "エッキョウ タロウ",
                    "municipality_code": demo.MUNICIPALITY_CODE,
                    "confirm_not_duplicate": True,
                },
                headers=doctor,
            )
            assert response.status_code in (201, 403, 404, 409, 422), response.text
            return response.json() if response.status_code == 201 else None

        subject = await wait_for(
            registered, timeout=WAIT_S, interval=0.3, what="consent to register a subject"
        )
        await _ok(
            await consent.post(
                f"/subjects/{subject['id']}/consents", json={"given_on": str(date.today())}, headers=doctor
            ),
            201,
        )
    async with httpx.AsyncClient(base_url=a.api_url("timeline"), timeout=30) as timeline:

        async def posted() -> dict[str, Any] | None:
            response = await timeline.post(
                f"/subjects/{subject['id']}/posts",
                json={"category": "visit", "body": f"{name} 訪問しました"},
                headers=doctor,
            )
            return response.json() if response.status_code == 201 else None

        visit = await wait_for(posted, timeout=WAIT_S, interval=0.2, what="timeline to learn of the subject")
        await _ok(
            await timeline.post(
                f"/subjects/{subject['id']}/posts",
                json={"category": "other", "body": f"{name} 家族への連絡"},
                headers=doctor,
            ),
            201,
        )
    return Subject(str(subject["id"]), name, str(visit["id"]))


async def refer(
    a: Deployment, doctor: dict[str, str], subject: Subject, agreement_id: str, *, categories: list[str]
) -> dict[str, Any]:
    """Home's doctor refers the subject to the peer's clinic: the options come from the peer's directory (a signed
    request through b's gateway), the referral travels as a signed message."""
    async with a.federation_api() as federation:

        async def offered() -> list[dict[str, Any]] | None:
            response = await federation.get(
                "/referrals/options", params={"subject_id": subject.id}, headers=doctor
            )
            found = response.json() if response.status_code == 200 else []
            return [o for o in found if o["agreement_id"] == agreement_id and o["facilities"]] or None

        options = await wait_for(offered, timeout=WAIT_S, interval=0.3, what="the referral options at home")
        assert str(PEER_CLINIC) in {f["id"] for f in options[0]["facilities"]}, options
        referral: dict[str, Any] = await _ok(
            await federation.post(
                "/referrals",
                json={
                    "subject_id": subject.id,
                    "agreement_id": agreement_id,
                    "facility_id": str(PEER_CLINIC),
                    "purpose": "退院後の訪問看護のため",
                    "starts_on": "2026-01-01",
                    "ends_on": "2099-12-31",
                    "categories": categories,
                    "consent_basis": "consent",
                },
                headers=doctor,
            ),
            201,
        )
    return referral


async def shared_at_peer(b: Deployment, staff: Staff, referral_id: str) -> dict[str, Any]:
    async with b.federation_api() as federation:

        async def arrived() -> dict[str, Any] | None:
            response = await federation.get("/referrals/shared", headers=staff.headers)
            found = (
                [r for r in response.json() if r["id"] == referral_id] if response.status_code == 200 else []
            )
            return found[0] if found else None

        found: dict[str, Any] = await wait_for(
            arrived, timeout=WAIT_S, interval=0.2, what="the referral at b"
        )
    return found


async def fetch(
    b: Deployment, staff: Staff, referral_id: str, client: httpx.AsyncClient | None = None
) -> httpx.Response:
    """The peer user's read through b's federation (which asks home through a's gateway)."""
    if client is not None:
        return await client.get(f"/referrals/{referral_id}/timeline", headers=staff.headers)
    async with b.federation_api() as federation:
        return await federation.get(f"/referrals/{referral_id}/timeline", headers=staff.headers)


async def ask_home_as_peer(stacks: TwoStacks, staff: Staff, referral_id: str) -> httpx.Response:
    """What b's federation sends home for ``staff``'s read, signed with b's active key (read from b's database)
    and presented with b's client certificate at a's peer port: home's answer needs nothing of b running."""
    a, b = stacks.a, stacks.b
    token = assertions.assertion(
        await active_key(b),
        peer_source=b.source(PEER),
        home_source=a.source(HOME),
        referral_id=UUID(referral_id),
        user={
            "user_id": staff.user_id,
            "name": staff.name,
            "name_kana": None,
            "profession": staff.profession,
            "facility_id": staff.facility_id,
            "facility_name": staff.facility_name,
        },
    )
    async with a.peer_client(b.client_certificate, ca_pem=a.ca_pem) as client:
        return await client.get(
            f"/federation/v1/referrals/{referral_id}/timeline", headers={assertions.ASSERTION_HEADER: token}
        )


async def withdraw(a: Deployment, doctor: dict[str, str], subject_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=a.api_url("consent"), timeout=30) as consent:
        withdrawal: dict[str, Any] = await _ok(
            await consent.post(
                f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor
            ),
            201,
        )
    return withdrawal


async def cascade_steps(a: Deployment, doctor: dict[str, str], subject_id: str) -> dict[str, dict[str, Any]]:
    """Consent's cascade of the subject's (only) withdrawal, by service."""
    async with httpx.AsyncClient(base_url=a.api_url("consent"), timeout=30) as consent:
        withdrawals = await _ok(await consent.get(f"/subjects/{subject_id}/withdrawals", headers=doctor), 200)
    return {s["service"]: s for s in withdrawals[0]["steps"]}


async def referral_row(deployment: Deployment, tenant: str, referral_id: str) -> Any:
    found = await rows(
        deployment,
        "SELECT state, nullif(cached::text, 'null') AS cached, acknowledged_at, acknowledgement FROM referrals"
        " WHERE tenant = $1 AND id = $2",
        tenant,
        UUID(referral_id),
    )
    assert found, (deployment.name, referral_id)
    return found[0]


async def audit_of(deployment: Deployment, service: str, action: str, target: str) -> list[Any]:
    return await rows(
        deployment,
        "SELECT actor_id, target, detail FROM audit_log WHERE action = $1 AND target = $2 ORDER BY seq",
        action,
        target,
        service=service,
    )
