"""Consent's part of ending a network (issue 11, ten4; yui_common.network_export): every table of the network as
JSON, each subject as a FHIR R4 bundle (c8's mapping: Patient, RelatedPerson, Consent, CareTeam) and the scanned
consent forms' bytes; then the deletion of every row and form of the network (queue consent.network-end)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.network_export import Child, PartWriter, TenantScope, store_prefix_removal
from yui_common.network_export import subscription as network_end_subscription
from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

from consent.models import Base, CareTeamMember, Consent, FamilyContact, Subject
from consent.subjects import fhir

SCOPE = TenantScope(
    service="consent",
    metadata=Base.metadata,
    children={
        "care_team_members": Child("subject_id", "subjects"),
        "family_contacts": Child("subject_id", "subjects"),
        "cascade_steps": Child("withdrawal_id", "withdrawals"),
    },
)


async def _rows_by_subject(session: AsyncSession, model: Any, subject_ids: list[Any]) -> dict[Any, list[Any]]:
    found: dict[Any, list[Any]] = defaultdict(list)
    if subject_ids:
        for row in (
            await session.execute(sa.select(model).where(model.subject_id.in_(subject_ids)))
        ).scalars():
            found[row.subject_id].append(row)
    return found


def export_extras(store: ObjectStore) -> Any:
    async def extras(session: AsyncSession, tenant: str, part: PartWriter) -> None:
        subjects = (
            (await session.execute(sa.select(Subject).where(Subject.tenant == tenant).order_by(Subject.id)))
            .scalars()
            .all()
        )
        ids = [s.id for s in subjects]
        contacts = await _rows_by_subject(session, FamilyContact, ids)
        consents = await _rows_by_subject(session, Consent, ids)
        members = await _rows_by_subject(session, CareTeamMember, ids)
        for subject in subjects:
            part.write_json(
                f"fhir/subjects/{subject.id}.json",
                fhir.subject_bundle(subject, contacts[subject.id], consents[subject.id], members[subject.id]),
            )
        part.counts["fhir_bundles"] = len(subjects)
        forms = [c for rows in consents.values() for c in rows if c.form_object_key]
        for consent in forms:
            assert consent.form_object_key is not None
            await part.copy_object(f"consent-forms/{consent.id}", store, consent.form_object_key)
        part.counts["consent_forms"] = len(forms)

    return extras


def subscription(settings: CommonSettings) -> Subscription:
    store = ObjectStore(settings)
    return network_end_subscription(
        SCOPE, settings, extras=export_extras(store), remove_objects=store_prefix_removal(store)
    )
