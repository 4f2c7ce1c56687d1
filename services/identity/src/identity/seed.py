"""Seeding the demo network, its facilities and users (idempotent)."""

from __future__ import annotations

from sqlalchemy import select
from yui_common import demo, outbox
from yui_common.db import create_engine, create_sessionmaker
from yui_common.events.identity import UserCreatedV1
from yui_common.settings import CommonSettings

from identity.models import Facility, Network, User
from identity.passwords import hash_password

# Demo only: every demo user shares this TOTP secret so the two-factor login can be tried from a terminal
# (`python -c "import pyotp; print(pyotp.TOTP('<secret>').now())"`); real users enrol at first login.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - printed by `make run`; demo data only

FACILITIES = {
    demo.CLINIC: ("結クリニック", "clinic"),
    demo.NURSING_STATION: ("結訪問看護ステーション", "visiting_nurse"),
    demo.OPERATOR_OFFICE: ("結町 高齢者支援課", "municipality"),
}


async def seed(settings: CommonSettings) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            network = await session.get(Network, demo.TENANT)
            if network is None:
                network = Network(slug=demo.TENANT, name="結ネット (デモ)", municipality_codes=["232360"])
                session.add(network)
            # The demo network alone lets a password sign in by itself, so `make run`'s logins work without a
            # phone or a certificate; S1 holds everywhere else (the setting defaults to off).
            network.password_only_allowed = True
            await session.flush()
            for facility_id, (name, kind) in FACILITIES.items():
                if await session.get(Facility, facility_id) is None:
                    session.add(Facility(id=facility_id, tenant=demo.TENANT, name=name, kind=kind))
            await session.flush()
            password_hash = hash_password(demo.PASSWORD)
            for login_id, (user_id, facility_id, name, roles) in demo.USERS.items():
                exists = (await session.execute(select(User.id).where(User.id == user_id))).first()
                if not exists:
                    session.add(
                        User(
                            id=user_id,
                            tenant=demo.TENANT,
                            facility_id=facility_id,
                            login_id=login_id,
                            display_name=name,
                            password_hash=password_hash,
                            roles=list(roles),
                            totp_secret=DEMO_TOTP_SECRET,
                            totp_confirmed=True,
                        )
                    )
                    # As for any new account, the other services learn of it by event (notify's recipients).
                    await outbox.add_event(
                        session,
                        UserCreatedV1(user_id=user_id, facility_id=facility_id, roles=list(roles)),
                        tenant=demo.TENANT,
                    )
        print("identity: demo network, facilities and users seeded")
        return 0
    finally:
        await engine.dispose()
