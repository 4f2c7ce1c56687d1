"""Two networks of the test stack (tests/support/networks.py), an agreement that lets referrals cross, and the
peer network's people given professions (identity's person-changed, as a profession change would publish it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from federation.models import Person as FederationPerson
from identity.models import User
from yui_common import outbox
from yui_common.events.identity import PersonChangedV1

from tests.support.federation import ca_certificate_pem
from tests.support.networks import NetworkWorld
from tests.support.stack import Stack, eventually

REFERRAL = "yui.federation.referral.v1"
# What the home network lets the peer's professions see.
PROFESSIONS = {"nurse": ["visit", "vitals", "other"], "care_manager": ["other"]}


async def give_professions(stack: Stack, world: NetworkWorld, professions: dict[str, str]) -> None:
    """``professions``: person key (doctor, nurse, ...) → profession, published as identity would."""
    async with stack["identity"].sessionmaker() as session, session.begin():
        for key, profession in professions.items():
            user = await session.get(User, world.people[key].id)
            assert user is not None
            facility_name = await session.scalar(
                sa.text("SELECT name FROM facilities WHERE id = :id"), {"id": user.facility_id}
            )
            await outbox.add_event(
                session,
                PersonChangedV1(
                    user_id=user.id,
                    name=user.display_name,
                    profession=profession,
                    facility_id=user.facility_id,
                    facility_name=str(facility_name),
                    version=2,
                ),
                tenant=world.tenant,
            )
    wanted = {world.people[k].id for k in professions}

    async def known() -> bool:
        async with stack["federation"].sessionmaker() as session:
            count = await session.scalar(
                sa.select(sa.func.count())
                .select_from(FederationPerson)
                .where(FederationPerson.user_id.in_(wanted), FederationPerson.version >= 2)
            )
        return count == len(wanted)

    await eventually(known, what="federation knowing the peer's professions")


async def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, response.text
    return response.json()


async def referral_agreement(stack: Stack, home: NetworkWorld, peer: NetworkWorld, **terms: Any) -> str:
    """Proposed by home's operator, accepted by the peer's, both through the protocol."""
    federation = stack["federation"].client
    settings = stack["federation"].settings
    proposal = await ok(
        await federation.post(
            "/agreements",
            json={
                "peer_base_url": settings.federation_base_url,
                "peer_source": settings.network_source(peer.tenant),
                "peer_ca_pem": ca_certificate_pem(),
                "event_types": [REFERRAL],
                "professions": PROFESSIONS,
                "cache_limit_hours": 24,
                **terms,
            },
            headers=home.headers("operator"),
        ),
        201,
    )

    async def arrived() -> bool:
        response = await federation.get(f"/agreements/{proposal['id']}", headers=peer.headers("operator"))
        return response.status_code == 200

    await eventually(arrived, what="the proposal at the peer")
    await ok(
        await federation.post(
            f"/agreements/{proposal['id']}/acceptance",
            json={"peer_ca_pem": ca_certificate_pem()},
            headers=peer.headers("operator"),
        ),
        200,
    )

    async def accepted() -> bool:
        response = await federation.get(f"/agreements/{proposal['id']}", headers=home.headers("operator"))
        return response.status_code == 200 and response.json()["state"] == "accepted"

    await eventually(accepted, what="the acceptance at home")
    return str(proposal["id"])


async def refer(
    stack: Stack, home: NetworkWorld, peer: NetworkWorld, agreement_id: str, *, categories: list[str]
) -> dict[str, Any]:
    """Home's doctor (on the subject's care team) refers the subject to the peer's clinic."""
    federation = stack["federation"].client
    subject_id = home.ids["subject"]

    async def offered() -> list[dict[str, Any]] | None:
        response = await federation.get(
            "/referrals/options", params={"subject_id": subject_id}, headers=home.headers("doctor")
        )
        if response.status_code != 200:
            return None  # federation has not heard of the subject's consent or care team yet
        return response.json() or None

    options = await eventually(offered, what="referral options for home's subject")
    option = next(o for o in options if o["agreement_id"] == agreement_id)
    assert {f["id"] for f in option["facilities"]} >= {str(peer.clinic_id), str(peer.station_id)}
    referral: dict[str, Any] = await ok(
        await federation.post(
            "/referrals",
            json={
                "subject_id": subject_id,
                "agreement_id": agreement_id,
                "facility_id": str(peer.clinic_id),
                "purpose": "退院後の訪問看護のため",
                "starts_on": "2026-01-01",
                "ends_on": "2099-12-31",
                "categories": categories,
                "consent_basis": "consent",
            },
            headers=home.headers("doctor"),
        ),
        201,
    )
    return referral


async def shared_at_peer(
    stack: Stack, peer: NetworkWorld, referral_id: str, who: str = "nurse"
) -> dict[str, Any]:
    async def arrived() -> dict[str, Any] | None:
        response = await stack["federation"].client.get("/referrals/shared", headers=peer.headers(who))
        found = [r for r in response.json() if r["id"] == referral_id] if response.status_code == 200 else []
        return found[0] if found else None

    found: dict[str, Any] = await eventually(arrived, what="the referral at the peer")
    return found


async def audit_actions(stack: Stack, service: str, tenant: str, action: str) -> list[dict[str, Any]]:
    async with stack[service].sessionmaker() as session:
        rows = await session.execute(
            sa.text(
                "SELECT actor_id, target, detail FROM audit_log WHERE tenant = :t AND action = :a ORDER BY seq"
            ),
            {"t": tenant, "a": action},
        )
        return [{"actor": r.actor_id, "target": r.target, "detail": r.detail} for r in rows]


def subject_uuid(world: NetworkWorld) -> UUID:
    return UUID(world.ids["subject"])
