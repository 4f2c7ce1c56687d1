"""Seeding the demo networks' patients: each registered by the doctor with consent on file, and a care team of
the doctor, the visiting nurse, the pharmacist and the care manager (the second demo network's patient: its
doctor and the care home's helper) (idempotent: a second run adds nothing).

The team is enrolled directly, as registering enrolls the registrant, rather than invited and accepted: an
invitation needs the invitee in consent's projection of people, which identity's events fill only once the
workers run, and this seed runs before them (`make run`, `docker compose`). The care-team events are the same
either way, so timeline and notify learn the team through the bus as in real use."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import demo
from yui_common.auth import Principal
from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from consent.access import audit_subject
from consent.care_teams import repository as care_team_repository
from consent.care_teams.service import enroll_member
from consent.consents import repository as consent_repository
from consent.consents.service import give_consent
from consent.models import Subject
from consent.subjects import repository as subject_repository
from consent.subjects.changes import ACTIVE, announce_subject_changed
from consent.subjects.kana import fold_kana

# Where each patient lives (shown to the care team only); invented, in their network's town.
ADDRESSES = {
    demo.SUBJECT: ("470-0001", "結町本町1-2-3", "0561-00-1234"),
    demo.SUBJECT_2: ("470-0002", "結町緑が丘4-5-6", "0561-00-5678"),
    demo.NEIGHBOUR_SUBJECT: ("470-0111", "日進市となり町3-2-1", "0561-00-3456"),
}
# The local-government code of each patient's residence: one the network serves (C1).
MUNICIPALITIES = {
    demo.SUBJECT: demo.MUNICIPALITY_CODE,
    demo.SUBJECT_2: demo.MUNICIPALITY_CODE,
    demo.NEIGHBOUR_SUBJECT: demo.NEIGHBOUR_MUNICIPALITY_CODES[0],
}


def principal_of(login_id: str, network: demo.DemoNetwork = demo.DEMO) -> Principal:
    user = network.users[login_id]
    return Principal(
        user_id=user.user_id,
        tenant=network.tenant,
        facility_id=user.facility_id,
        roles=frozenset(user.roles),
        name=user.name,
    )


async def _register(session: AsyncSession, doctor: Principal, patient: demo.DemoSubject) -> Subject:
    """The patient as register_subject registers them (announced, the registrant enrolled as the team's lead,
    audited), under the demo's fixed id: register_subject draws a new id, which timeline's seed could not name."""
    postal_code, address, phone = ADDRESSES[patient.subject_id]
    subject = Subject(
        id=patient.subject_id,
        tenant=doctor.tenant,
        name=patient.name,
        name_kana=patient.name_kana,
        name_kana_folded=fold_kana(patient.name_kana),
        birth_date=patient.birth_date,
        sex=patient.sex,
        municipality_code=MUNICIPALITIES[patient.subject_id],
        postal_code=postal_code,
        address=address,
        phone=phone,
        residence_network=doctor.tenant,
        registered_by=doctor.user_id,
        registered_at=datetime.now(UTC) - timedelta(days=14),
        status=ACTIVE,
        version=1,
        lead_user_id=doctor.user_id,
    )
    session.add(subject)
    await session.flush()
    # What registering announces (issue 10): the patient's name for the other services' projections.
    await announce_subject_changed(session, subject, first=True)
    await enroll_member(
        session, principal=doctor, subject=subject, user_id=doctor.user_id, facility_id=doctor.facility_id
    )
    await audit_subject(session, doctor, "subject.register", subject.id)
    return subject


async def seed_patient(
    session: AsyncSession, patient: demo.DemoSubject, network: demo.DemoNetwork = demo.DEMO
) -> bool:
    """One patient, their consent and care team; returns whether anything was added."""
    doctor = principal_of("doctor", network)
    added = False
    subject = await subject_repository.subject_in_network(
        session, tenant=network.tenant, subject_id=patient.subject_id
    )
    if subject is None:
        subject = await _register(session, doctor, patient)
        added = True
    if await consent_repository.active_consent(session, subject_id=subject.id) is None:
        await give_consent(
            session,
            principal=doctor,
            subject_id=subject.id,
            given_by="subject",
            proxy_name=None,
            proxy_relation=None,
            given_on=date.today() - timedelta(days=14),
        )
        added = True
    for login_id in network.staff:
        member = network.users[login_id]
        if await care_team_repository.care_team_member(
            session, subject_id=subject.id, user_id=member.user_id
        ):
            continue
        await enroll_member(
            session, principal=doctor, subject=subject, user_id=member.user_id, facility_id=member.facility_id
        )
        added = True
    return added


async def seed(settings: CommonSettings) -> int:
    engine = create_engine(settings)
    try:
        added = False
        for network in demo.NETWORKS:
            for patient in network.subjects.values():
                async with create_sessionmaker(engine)() as session, session.begin():
                    added = await seed_patient(session, patient, network) or added
        print(
            "consent: demo patients, consent and care teams seeded"
            if added
            else "consent: demo patients already present"
        )
        return 0
    finally:
        await engine.dispose()
