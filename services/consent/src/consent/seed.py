"""Seeding the demo network's subject, consent and care team (idempotent)."""

from __future__ import annotations

from datetime import date

from yui_common import demo
from yui_common.auth import Principal
from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from consent.care_teams.service import enroll_member
from consent.consents.service import give_consent
from consent.models import Subject
from consent.subjects import repository as subject_repository
from consent.subjects.kana import fold_kana


async def seed(settings: CommonSettings) -> int:
    engine = create_engine(settings)
    doctor_id, clinic, _, roles = demo.USERS["doctor"]
    nurse_id, station, _, _ = demo.USERS["nurse"]
    doctor = Principal(user_id=doctor_id, tenant=demo.TENANT, facility_id=clinic, roles=frozenset(roles))
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if await subject_repository.subject_in_network(
                session, tenant=demo.TENANT, subject_id=demo.SUBJECT
            ):
                print("consent: demo subject already present")
                return 0
            subject = Subject(
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
            session.add(subject)
            await session.flush()
            await enroll_member(
                session, principal=doctor, subject=subject, user_id=doctor_id, facility_id=clinic
            )
            await enroll_member(
                session, principal=doctor, subject=subject, user_id=nurse_id, facility_id=station
            )
            await give_consent(
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
