"""FHIR R4 export (t10): a subject's posts as Communication, attachments as DocumentReference, vitals as
Observation (``timeline.vitals.fhir``), the current summary's allergies and problems as AllergyIntolerance and
Condition (``timeline.summary.fhir``), the medication list as MedicationStatement (``timeline.medications.fhir``),
in a Bundle.

fhir.resources 8 ships R5 as its default and the R4 line as R4B (4.3.0, whose Communication and
DocumentReference are R4's); the resources are built and validated with those models.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from fhir.resources.R4B.bundle import Bundle

from timeline.medications.fhir import statement
from timeline.models import Attachment, Medication, Post, SummaryVersion, Vitals
from timeline.summary.fhir import resources as summary_resources
from timeline.vitals.fhir import observations

CATEGORY_SYSTEM = "urn:yui:timeline:category"
SHA256_SYSTEM = "urn:yui:sha256"


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def communication(post: Post) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": str(post.id),
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": post.category}]}],
        "subject": {"reference": f"Patient/{post.subject_id}"},
        "sent": _instant(post.created_at),
        "sender": {"reference": f"Practitioner/{post.author_id}"},
        "payload": [{"contentString": post.body}],
        "meta": {"versionId": str(post.version), "lastUpdated": _instant(post.updated_at or post.created_at)},
    }
    if post.parent_id is not None:
        resource["inResponseTo"] = [{"reference": f"Communication/{post.parent_id}"}]
    if post.addressed_user_id is not None:
        resource["recipient"] = [{"reference": f"Practitioner/{post.addressed_user_id}"}]
    elif post.addressed_facility_id is not None:
        resource["recipient"] = [{"reference": f"Organization/{post.addressed_facility_id}"}]
    return resource


def document_reference(attachment: Attachment, *, content_url: str) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": str(attachment.id),
        "status": "current",
        "identifier": [{"system": SHA256_SYSTEM, "value": attachment.content_sha256}],
        "subject": {"reference": f"Patient/{attachment.subject_id}"},
        "date": _instant(attachment.created_at),
        "author": [{"reference": f"Practitioner/{attachment.uploaded_by}"}],
        "context": {"related": [{"reference": f"Communication/{attachment.post_id}"}]},
        "content": [
            {
                "attachment": {
                    "contentType": attachment.content_type,
                    "title": attachment.filename,
                    "size": attachment.size,
                    "url": content_url,
                    "creation": _instant(attachment.created_at),
                }
            }
        ],
    }


def bundle(
    subject_id: UUID,
    posts: Sequence[Post],
    attachments: Sequence[Attachment],
    *,
    attachment_url: str,
    vitals: Sequence[Vitals] = (),
    summary: SummaryVersion | None = None,
    medications: Sequence[Medication] = (),
) -> dict[str, Any]:
    """A collection Bundle, validated by fhir.resources before it leaves."""
    entries = [{"fullUrl": f"urn:uuid:{p.id}", "resource": communication(p)} for p in posts]
    entries += [
        {
            "fullUrl": f"urn:uuid:{a.id}",
            "resource": document_reference(a, content_url=attachment_url.format(id=a.id)),
        }
        for a in attachments
    ]
    if summary is not None:
        entries += [
            {"fullUrl": f"urn:uuid:{uuid5(summary.id, r['id'])}", "resource": r}
            for r in summary_resources(summary)
        ]
    entries += [
        {"fullUrl": f"urn:uuid:{uuid5(v.post_id, o['id'])}", "resource": o}
        for v in vitals
        for o in observations(v)
    ]
    entries += [{"fullUrl": f"urn:uuid:{m.id}", "resource": statement(m)} for m in medications]
    document = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(datetime.now(UTC)),
        "identifier": {"system": "urn:yui:timeline:export", "value": str(subject_id)},
        "entry": entries,
    }
    return Bundle.model_validate(document).model_dump(mode="json", exclude_none=True)
