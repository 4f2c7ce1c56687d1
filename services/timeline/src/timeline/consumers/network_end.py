"""Timeline's part of ending a network (issue 11, ten4; yui_common.network_export): every table of the network as
JSON (posts with every version, attachments, groups, read marks), each subject's posts as a FHIR R4 bundle (t10's
mapping: Communication, DocumentReference) and every attachment's bytes; then the deletion of every row and
stored object of the network (queue timeline.network-end)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from minio.error import S3Error
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.network_export import Child, PartWriter, TenantScope, store_prefix_removal
from yui_common.network_export import subscription as network_end_subscription
from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

from timeline.medications import repository as medication_repository
from timeline.models import Attachment, Base, Medication, Post, Vitals
from timeline.posts import fhir
from timeline.summary import repository as summary_repository
from timeline.vitals import repository as vitals_repository

SCOPE = TenantScope(
    service="timeline",
    metadata=Base.metadata,
    children={
        "post_versions": Child("post_id", "posts"),
        "read_marks": Child("post_id", "posts"),
        "group_members": Child("group_id", "groups"),
        "import_offers": Child("import_id", "hospital_imports"),
    },
)


def export_extras(store: ObjectStore) -> Any:
    async def extras(session: AsyncSession, tenant: str, part: PartWriter) -> None:
        posts = (
            (
                await session.execute(
                    sa.select(Post)
                    .where(Post.tenant == tenant, Post.subject_id.is_not(None), Post.deleted_at.is_(None))
                    .order_by(Post.created_at, Post.id)
                )
            )
            .scalars()
            .all()
        )
        attachments = (
            (
                await session.execute(
                    sa.select(Attachment).where(Attachment.tenant == tenant).order_by(Attachment.id)
                )
            )
            .scalars()
            .all()
        )
        vitals_of: dict[Any, list[Vitals]] = defaultdict(list)
        for entry in await vitals_repository.shown_vitals(session, tenant=tenant):
            vitals_of[entry.subject_id].append(entry)
        summaries = await summary_repository.newest_of_network(session, tenant)
        medications_of: dict[Any, list[Medication]] = defaultdict(list)
        for medication in await medication_repository.of_network(session, tenant):
            medications_of[medication.subject_id].append(medication)
        posts_of: dict[Any, list[Post]] = defaultdict(list)
        for post in posts:
            posts_of[post.subject_id].append(post)
        attached_of: dict[Any, list[Attachment]] = defaultdict(list)
        for attachment in attachments:
            if attachment.subject_id is not None and attachment.post_id is not None:
                attached_of[attachment.subject_id].append(attachment)
        # A subject with a summary or medications and no live post still has a bundle.
        subjects = sorted(posts_of.keys() | summaries.keys() | medications_of.keys(), key=str)
        for subject_id in subjects:
            part.write_json(
                f"fhir/subjects/{subject_id}.json",
                fhir.bundle(
                    subject_id,
                    posts_of.get(subject_id, []),
                    attached_of[subject_id],
                    attachment_url="attachments/{id}",
                    vitals=vitals_of[subject_id],
                    summary=summaries.get(subject_id),
                    medications=medications_of[subject_id],
                ),
            )
        part.counts["fhir_bundles"] = len(subjects)
        copied, missing, size = 0, [], 0
        for attachment in attachments:
            try:
                size += await part.copy_object(f"attachments/{attachment.id}", store, attachment.object_key)
                copied += 1
            except S3Error as error:
                if error.code not in {"NoSuchKey", "NoSuchObject"}:
                    raise
                missing.append(str(attachment.id))
        if missing:
            # Said, not hidden: the municipality sees which attachments had no bytes left to export.
            part.write_json("attachments/missing.json", missing)
        part.counts["attachment_files"] = copied
        part.counts["attachment_bytes"] = size

    return extras


def subscription(settings: CommonSettings) -> Subscription:
    store = ObjectStore(settings)
    return network_end_subscription(
        SCOPE, settings, extras=export_extras(store), remove_objects=store_prefix_removal(store)
    )
