"""Vitals as FHIR R4 Observations (category vital-signs, LOINC codes and UCUM units of the FHIR vital-signs
profiles, which JP Core's vital-sign profiles follow): one Observation per measure, blood pressure as one
panel with its two components. Exported beside the posts' Communications (t10)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from timeline.models import Vitals

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
            "display": "Vital Signs",
        }
    ]
}
# measure -> (id suffix, LOINC code, display, UCUM unit)
SINGLE = {
    "pulse": ("hr", "8867-4", "Heart rate", "/min"),
    "spo2": ("spo2", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "temperature": ("temp", "8310-5", "Body temperature", "Cel"),
    "respiration": ("rr", "9279-1", "Respiratory rate", "/min"),
    "weight": ("wt", "29463-7", "Body weight", "kg"),
    "glucose": ("glu", "2339-0", "Glucose [Mass/volume] in Blood", "mg/dL"),
}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _code(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def observations(entry: Vitals) -> list[dict[str, Any]]:
    common = {
        "resourceType": "Observation",
        "status": "final",
        "category": [VITAL_SIGNS],
        "subject": {"reference": f"Patient/{entry.subject_id}"},
        "effectiveDateTime": entry.measured_at.astimezone(UTC).isoformat(timespec="seconds"),
        "performer": [{"reference": f"Practitioner/{entry.recorded_by}"}],
    }
    found = []
    if entry.systolic is not None and entry.diastolic is not None:
        found.append(
            {
                **common,
                "id": f"{entry.post_id}-bp",
                "code": _code("85354-9", "Blood pressure panel"),
                "component": [
                    {
                        "code": _code("8480-6", "Systolic blood pressure"),
                        "valueQuantity": _quantity(entry.systolic, "mm[Hg]"),
                    },
                    {
                        "code": _code("8462-4", "Diastolic blood pressure"),
                        "valueQuantity": _quantity(entry.diastolic, "mm[Hg]"),
                    },
                ],
            }
        )
    for measure, (suffix, code, display, unit) in SINGLE.items():
        value = getattr(entry, measure)
        if value is not None:
            found.append(
                {
                    **common,
                    "id": f"{entry.post_id}-{suffix}",
                    "code": _code(code, display),
                    "valueQuantity": _quantity(value, unit),
                }
            )
    return found
