"""The summary's allergies and problems as FHIR R4 AllergyIntolerance and Condition, exported beside the posts
(t10). Coded as the team wrote them (``code.text``): the summary holds free text, not a terminology."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from timeline.models import SummaryVersion

NO_KNOWN_ALLERGY = {"system": "http://snomed.info/sct", "code": "716186003", "display": "No known allergy"}


def resources(row: SummaryVersion) -> list[dict[str, Any]]:
    content = row.content
    patient = {"reference": f"Patient/{row.subject_id}"}
    recorder = {"reference": f"Practitioner/{row.author_id}"}
    recorded = row.created_at.astimezone(UTC).isoformat(timespec="seconds")
    found: list[dict[str, Any]] = []
    for n, allergy in enumerate(content.get("allergies") or [], start=1):
        resource: dict[str, Any] = {
            "resourceType": "AllergyIntolerance",
            "id": f"{row.id}-a{n}",
            "patient": patient,
            "recorder": recorder,
            "recordedDate": recorded,
            "code": {"text": allergy["substance"]},
        }
        if allergy.get("reaction"):
            resource["reaction"] = [{"manifestation": [{"text": allergy["reaction"]}]}]
        found.append(resource)
    if content.get("no_known_allergies"):
        found.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{row.id}-nka",
                "patient": patient,
                "recorder": recorder,
                "recordedDate": recorded,
                "code": {"coding": [NO_KNOWN_ALLERGY], "text": "アレルギーなし"},
            }
        )
    for n, problem in enumerate(content.get("problems") or [], start=1):
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "id": f"{row.id}-c{n}",
            "subject": patient,
            "recorder": recorder,
            "recordedDate": recorded,
            "code": {"text": problem["name"]},
        }
        if problem.get("since"):
            condition["onsetString"] = problem["since"]
        if problem.get("note"):
            condition["note"] = [{"text": problem["note"]}]
        found.append(condition)
    return found
