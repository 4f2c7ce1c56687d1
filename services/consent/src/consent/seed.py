"""Seeding the demo network's subject, consent and care team (idempotent)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from yui_common import demo
from yui_common.auth import Principal
from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from consent import service
from consent.kana import fold_kana
from consent.models import Subject


async def seed(settings: CommonSettings) -> int:
    engine = create_engine(settings)
    doctor_id, clinic, _, roles = demo.USERS["doctor"]
    nurse_id, station, _, _ = demo.USERS["nurse"]
    doctor = Principal(user_id=doctor_id, tenant=demo.TENANT, facility_id=clinic, roles=frozenset(roles))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if (await session.execute(select(Subject.id).where(Subject.id == demo.SUBJECT))).first():
                print("consent: demo subject already present")
                return 0
            session.add(
                Subject(
                    id=demo.SUBJECT,
                    tenant=demo.TENANT,
                    name="結 花子",
                    name_kana="ユイ ハナコ",
                    name_kana_folded=fold_kana("ユイ ハナコ"),
                    birth_date=date(1938, 4, 1),
                    sex="female",
                    municipality_code="232360",
                    residence_network=demo.TENANT,
                    registered_by=doctor_id,
                )
            )
            await session.flush()
            subject = await session.get(Subject, demo.SUBJECT)
            assert subject is not None
            await service.enroll_member(
                session, principal=doctor, subject=subject, user_id=doctor_id, facility_id=clinic
            )
            await service.enroll_member(
                session, principal=doctor, subject=subject, user_id=nurse_id, facility_id=station
            )
            await service.give_consent(
                session,
                principal=doctor,
                subject_id=subject.id,
                given_by="subject",
                proxy_name=None,
                proxy_relation=None,
                given_on=date.today(),
            )
        print("consent: demo subject, care team and consent seeded")
        return 0
    finally:
        await engine.dispose()
