"""Seeding the demo network, its facilities and users: the doctor, the visiting nurse, the pharmacist, the care
manager and the operator, each with name, kana and profession; the second demo network (a neighbouring town's,
created through the contractor's use case as `python -m identity network create` creates one) with its clinic,
care home and people; and the contractor's demo account (idempotent: a second run adds nothing)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import demo, outbox
from yui_common.db import create_engine, create_sessionmaker
from yui_common.events.identity import NetworkCreatedV1, UserCreatedV1
from yui_common.settings import CommonSettings

from identity.models import Facility, Network, PlatformAccount, User
from identity.networks.state import publish_network_state
from identity.passwords import hash_password
from identity.people.service import publish_person_changed
from identity.platform import repository as platform_repository
from identity.platform import service as platform
from identity.platform.schemas import NetworkCreate

SEED_ACTOR = "demo-seed"  # who the audit log names for what the seed does through the contractor's use cases

# Demo users used to share this confirmed TOTP secret. A confirmed TOTP must now be given even on the demo
# network, so the demo users have none (a password signs them in, as `make run` says; a code sent along is
# ignored) and a re-seed withdraws it from users seeded before. Anyone can still enrol one to try TOTP.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - was printed by `make run`; demo data only


async def seed(settings: CommonSettings) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            network = await session.get(Network, demo.TENANT)
            if network is None:
                # The one place a network is marked as a demo: only such a network may relax S1.
                network = Network(
                    slug=demo.TENANT,
                    name=demo.NAME,
                    municipality_codes=[demo.MUNICIPALITY_CODE],
                    created_as_demo=True,
                    operator_office=demo.FACILITIES[demo.OPERATOR_OFFICE].name,
                    support_hours="平日 8:30〜17:15（祝日と12月29日〜1月3日を除く）",
                )
                session.add(network)
            # The demo network alone lets a password sign in by itself, so `make run`'s logins work without a
            # phone or a certificate; S1 holds everywhere else (the setting defaults to off). A network of that
            # name the seed did not create stays as it is.
            if network.created_as_demo:
                network.password_only_allowed = True
            await session.flush()
            await session.refresh(network, with_for_update=True)
            # Announced as a network the contractor creates is (issue 11): every service learns its rules and
            # status. Once only: a network announced before (state_version > 0) is not announced again.
            if network.created_as_demo and not network.state_version:
                await publish_network_state(session, network, NetworkCreatedV1)
            for facility_id, facility in demo.FACILITIES.items():
                if await session.get(Facility, facility_id) is None:
                    session.add(
                        Facility(id=facility_id, tenant=demo.TENANT, name=facility.name, kind=facility.kind)
                    )
            await session.flush()
            password_hash = hash_password(demo.PASSWORD)
            await seed_people(session, demo.TENANT, demo.USERS, password_hash)
            neighbour = await seed_neighbour(session, password_hash)
            contractor = await seed_contractor(session, password_hash)
        print("identity: demo network, facilities and users seeded")
        print(f"identity: second demo network {demo.NEIGHBOUR_TENANT!r}: {neighbour}")
        print(f"identity: contractor's demo account: {contractor}")
        return 0
    finally:
        await engine.dispose()


async def seed_people(
    session: AsyncSession, tenant: str, users: dict[str, demo.DemoUser], password_hash: str
) -> None:
    """Each demo person of ``tenant``: created and announced when missing, brought up to date otherwise."""
    for login_id, person in users.items():
        existing = await session.get(User, person.user_id, with_for_update=True)
        if existing is not None and existing.totp_secret == DEMO_TOTP_SECRET:
            existing.totp_secret, existing.totp_confirmed, existing.totp_last_step = None, False, None
        if existing is None:
            user = User(
                id=person.user_id,
                tenant=tenant,
                facility_id=person.facility_id,
                login_id=login_id,
                display_name=person.name,
                name_kana=person.name_kana,
                profession=person.profession,
                password_hash=password_hash,
                roles=list(person.roles),
                person_version=0,
            )
            session.add(user)
            await session.flush()
            # As for any new account, the other services learn of it by event (notify's recipients,
            # and everyone's projection of people: name, kana, profession, facility).
            await outbox.add_event(
                session,
                UserCreatedV1(
                    user_id=person.user_id, facility_id=person.facility_id, roles=list(person.roles)
                ),
                tenant=tenant,
            )
            await publish_person_changed(session, user)
            continue
        # A demo user seeded before people had kana and profession ("山田 太郎 (医師)") becomes the
        # person the demo describes, announced as any change of a person is; unchanged, nothing is.
        wanted = {
            "display_name": person.name,
            "name_kana": person.name_kana,
            "profession": person.profession,
        }
        changed = {name: value for name, value in wanted.items() if getattr(existing, name) != value}
        for name, value in changed.items():
            setattr(existing, name, value)
        if changed or not existing.person_version:
            await publish_person_changed(session, existing)


async def seed_neighbour(session: AsyncSession, password_hash: str) -> str:
    """The second demo network (yui_common.demo's NEIGHBOUR_*), made by the contractor's use case the first
    time (identity.network-created.v1, its office and first operator; the portal makes its first terms from the
    template), then its clinic, care home and people; returns what was done, in words."""
    slug = demo.NEIGHBOUR_TENANT
    network = await session.get(Network, slug, with_for_update=True)
    if network is not None and not network.created_as_demo:
        return "a network of that slug exists that the seed did not create; left as it is"
    done = "already present"
    if network is None:
        await platform.create_network(
            session,
            actor=SEED_ACTOR,
            data=NetworkCreate(
                slug=slug,
                name=demo.NEIGHBOUR_NAME,
                municipality_codes=list(demo.NEIGHBOUR_MUNICIPALITY_CODES),
                operator_office=demo.NEIGHBOUR_OPERATOR_OFFICE,
                support_hours=demo.NEIGHBOUR_SUPPORT_HOURS,
                operator_login_id=demo.NEIGHBOUR_OPERATOR_LOGIN,
                operator_name=demo.NEIGHBOUR_OPERATOR_NAME,
                operator_name_kana=demo.NEIGHBOUR_OPERATOR_KANA,
            ),
        )
        network = await session.get(Network, slug, with_for_update=True)
        assert network is not None
        # What makes it a demo network: its logins work with the printed password alone, as the demo network's
        # do (S1 is relaxed on demo networks only). The first operator gets that password instead of the
        # one-time one and is not made to change it; a contractor's real network keeps both (ten1).
        network.created_as_demo = True
        network.password_only_allowed = True
        operator = (
            await session.execute(
                select(User).where(User.tenant == slug, User.login_id == demo.NEIGHBOUR_OPERATOR_LOGIN)
            )
        ).scalar_one()
        operator.password_hash = password_hash
        operator.must_change_password = False
        done = "created through the contractor's use case (as `python -m identity network create`)"
    for facility_id, facility in demo.NEIGHBOUR_FACILITIES.items():
        if await session.get(Facility, facility_id) is None:
            session.add(Facility(id=facility_id, tenant=slug, name=facility.name, kind=facility.kind))
    await session.flush()
    await seed_people(session, slug, demo.NEIGHBOUR_USERS, password_hash)
    return done


async def seed_contractor(session: AsyncSession, password_hash: str) -> str:
    """The contractor's demo account for /admin/platform, made as `python -m identity contractor create` makes
    one, with the demo password as its initial password: the first sign-in chooses a password of its own and
    enrols an authenticator (the contractor has no password-only sign-in, demo or not)."""
    if await platform_repository.account_by_login(session, demo.CONTRACTOR_LOGIN) is not None:
        return "already present"
    await platform.create_contractor(
        session, login_id=demo.CONTRACTOR_LOGIN, display_name=demo.CONTRACTOR_NAME, actor=SEED_ACTOR
    )
    account = await platform_repository.account_by_login(session, demo.CONTRACTOR_LOGIN, for_update=True)
    assert isinstance(account, PlatformAccount)
    account.password_hash = password_hash
    return "created"
