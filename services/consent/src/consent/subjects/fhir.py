"""c8: a subject as FHIR R4 resources (Patient, RelatedPerson, Consent, CareTeam), mapped as JP Core does."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from consent.models import CareTeamMember, Consent, FamilyContact, Subject

JP_PATIENT = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
# JP Core writes the kanji name as the ideographic (IDE) and the kana as the syllabic (SYL) representation.
NAME_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
YUI_SUBJECT = "urn:yui:subject"
YUI_USER = "urn:yui:user"
YUI_FACILITY = "urn:yui:facility"
YUI_MUNICIPALITY = "urn:yui:jis-municipality-code"


def _name(full: str, representation: str) -> dict[str, Any]:
    family, _, given = full.replace("\u3000", " ").strip().partition(" ")
    name: dict[str, Any] = {
        "extension": [{"url": NAME_REPRESENTATION, "valueCode": representation}],
        "use": "official",
        "text": full,
    }
    # A name of spaces only (the API takes it: min_length counts them) has no family part; FHIR forbids an empty one.
    if family:
        name["family"] = family
    if given.strip():
        name["given"] = [given.strip()]
    return name


def _phone(number: str | None) -> list[dict[str, Any]]:
    return [{"system": "phone", "value": number, "use": "home"}] if number else []


def patient(subject: Subject) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(subject.id),
        "meta": {"profile": [JP_PATIENT]},
        "identifier": [{"system": YUI_SUBJECT, "value": str(subject.id)}],
        "name": [_name(subject.name, "IDE"), _name(subject.name_kana, "SYL")],
        "gender": subject.sex or "unknown",
    }
    if subject.status == "support_stopped":
        # Support stopped: the name only, never the contact details again (issue 10).
        return resource
    if subject.birth_date:
        resource["birthDate"] = subject.birth_date.isoformat()
    if telecom := _phone(subject.phone):
        resource["telecom"] = telecom
    address: dict[str, Any] = {"use": "home", "country": "JP"}
    if subject.address:
        address["text"] = subject.address
    if subject.postal_code:
        address["postalCode"] = subject.postal_code
    address["extension"] = [
        {
            "url": "http://yui.example/fhir/StructureDefinition/municipality-code",
            "valueCode": subject.municipality_code,
        }
    ]
    resource["address"] = [address]
    return resource


def related_person(subject: Subject, contact: FamilyContact) -> dict[str, Any]:
    names = [_name(contact.name, "IDE")] + ([_name(contact.name_kana, "SYL")] if contact.name_kana else [])
    resource: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": str(contact.id),
        "patient": {"reference": f"Patient/{subject.id}"},
        "relationship": [{"text": contact.relation}],
        "name": names,
    }
    if telecom := _phone(contact.phone):
        resource["telecom"] = telecom
    if contact.address:
        resource["address"] = [{"text": contact.address, "country": "JP"}]
    return resource


def consent(subject: Subject, record: Consent) -> dict[str, Any]:
    if record.given_by == "proxy":
        performer = {"display": f"{record.proxy_name} ({record.proxy_relation})"}
    else:
        performer = {"reference": f"Patient/{subject.id}"}
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": str(record.id),
        # A withdrawn consent is no longer in force: FHIR's "inactive".
        "status": "active" if record.status == "active" else "inactive",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": {"reference": f"Patient/{subject.id}"},
        "dateTime": datetime.combine(record.given_on, datetime.min.time(), tzinfo=UTC).isoformat(),
        "performer": [performer],
        "policyRule": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]
        },
        "provision": {"type": "permit"},
    }
    if record.recorded_facility_id:
        resource["organization"] = [
            {"identifier": {"system": YUI_FACILITY, "value": str(record.recorded_facility_id)}}
        ]
    if record.withdrawn_at:
        resource["provision"]["period"] = {"end": record.withdrawn_at.isoformat()}
    if record.form_object_key:
        resource["sourceAttachment"] = {
            "contentType": record.form_content_type,
            "title": "同意書",
            **({"size": record.form_size} if record.form_size else {}),
        }
    return resource


def care_team(subject: Subject, members: Sequence[CareTeamMember]) -> dict[str, Any]:
    participants = []
    for member in members:
        participant: dict[str, Any] = {
            "member": {
                "identifier": {"system": YUI_USER, "value": str(member.user_id)},
                "type": "Practitioner",
            },
            "period": {"start": member.added_at.isoformat()},
        }
        if member.facility_id:
            participant["onBehalfOf"] = {
                "identifier": {"system": YUI_FACILITY, "value": str(member.facility_id)}
            }
        participants.append(participant)
    return {
        "resourceType": "CareTeam",
        "id": str(subject.id),
        "status": "active",
        "subject": {"reference": f"Patient/{subject.id}"},
        "participant": participants,
    }


def subject_bundle(
    subject: Subject,
    contacts: Sequence[FamilyContact],
    consents: Sequence[Consent],
    members: Sequence[CareTeamMember],
) -> dict[str, Any]:
    """A collection Bundle, validated by fhir.resources' models before it leaves."""
    resources = [
        patient(subject),
        *(related_person(subject, c) for c in contacts),
        *(consent(subject, c) for c in consents),
        care_team(subject, members),
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{r['id']}"
                if r["resourceType"] != "CareTeam"
                else f"urn:yui:careteam:{r['id']}",
                "resource": r,
            }
            for r in resources
        ],
    }
    validated = Bundle.model_validate(bundle)
    return json.loads(validated.model_dump_json(exclude_none=True))
