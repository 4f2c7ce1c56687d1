"""The medication list as FHIR R4 MedicationStatement, exported beside the posts (t10). A product of the drug
master carries its YJ code in JP Core's code system; a typed-in one only its name (``text``)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from timeline.medications.service import state_of, today
from timeline.models import Medication

YJ_SYSTEM = "urn:oid:1.2.392.100495.20.2.74"  # 薬価基準収載医薬品コード (JP Core)
_STATUS = {"active": "active", "planned": "intended", "ended": "completed"}


def statement(row: Medication) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": row.name}
    if row.drug_code:
        concept["coding"] = [{"system": YJ_SYSTEM, "code": row.drug_code, "display": row.name}]
    period: dict[str, str] = {"start": row.start_date.isoformat()}
    if row.end_date is not None:
        period["end"] = row.end_date.isoformat()
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": str(row.id),
        "status": _STATUS[state_of(row, today())],
        "medicationCodeableConcept": concept,
        "subject": {"reference": f"Patient/{row.subject_id}"},
        "effectivePeriod": period,
        "dateAsserted": row.created_at.astimezone(UTC).isoformat(timespec="seconds"),
        "informationSource": {"reference": f"Practitioner/{row.recorded_by}"},
        "dosage": [{"text": row.dose}],
        "note": [
            {
                "text": f"成分: {row.ingredient} / 処方: {'・'.join(p for p in (row.facility, row.prescriber) if p)}"
            }
        ],
    }
    return resource
