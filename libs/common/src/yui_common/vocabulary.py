"""Closed vocabularies that more than one service speaks: timeline validates them, the portal offers and labels them.

They are part of the timeline API's contract, so they live here once instead of as copies in each service.
"""

from __future__ import annotations

from typing import Literal, get_args

# T1: what is shared about a subject (visits and treatment, medication, test data, daily living, instructions, …).
PostCategory = Literal[
    "visit",
    "treatment",
    "medication",
    "vital_signs",
    "test_result",
    "daily_living",
    "instruction",
    "support_progress",
    "other",
]
POST_CATEGORIES: tuple[str, ...] = get_args(PostCategory)

# T6: what a group not tied to a subject is for.
GroupPurpose = Literal["training", "information_exchange", "administrative", "other"]
GROUP_PURPOSES: tuple[str, ...] = get_args(GroupPurpose)

# 職種: what each person does, a fixed list every service and page speaks (issue 10). Identity stores it; the
# other services receive it in ``identity.person-changed.v1`` and show it beside the person's name.
Profession = Literal[
    "doctor",
    "dentist",
    "pharmacist",
    "nurse",
    "visiting_nurse",
    "therapist",  # PT / OT / ST
    "care_manager",
    "helper",
    "msw",
    "dietitian",
    "municipal_staff",
    "teacher",
    "other",
]
PROFESSIONS: tuple[str, ...] = get_args(Profession)
PROFESSION_LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "doctor": "医師",
        "dentist": "歯科医師",
        "pharmacist": "薬剤師",
        "nurse": "看護師",
        "visiting_nurse": "訪問看護師",
        "therapist": "リハビリ職（PT・OT・ST）",
        "care_manager": "ケアマネジャー",
        "helper": "ホームヘルパー",
        "msw": "医療ソーシャルワーカー",
        "dietitian": "管理栄養士",
        "municipal_staff": "自治体職員",
        "teacher": "教員",
        "other": "その他",
    },
    "en": {
        "doctor": "Doctor",
        "dentist": "Dentist",
        "pharmacist": "Pharmacist",
        "nurse": "Nurse",
        "visiting_nurse": "Visiting nurse",
        "therapist": "Therapist (PT/OT/ST)",
        "care_manager": "Care manager",
        "helper": "Home helper",
        "msw": "Medical social worker",
        "dietitian": "Dietitian",
        "municipal_staff": "Municipal staff",
        "teacher": "Teacher",
        "other": "Other",
    },
}


def profession_label(code: str | None, lang: str = "ja") -> str:
    """The profession's name in ``lang``; an unknown or missing code reads as "other", never as the code."""
    labels = PROFESSION_LABELS.get(lang, PROFESSION_LABELS["ja"])
    return labels.get(code or "other", labels["other"])


# --- facility kinds (施設の種別), statuses as words (issue 10, items 7 and 9) -------------------------------------
# Identity stores a facility's kind as a short code; the public application form offers the first seven, and
# facilities created by the seed or the operator use the rest. Pages show the word, never the code: an unknown
# code reads as "other".
FACILITY_KINDS: tuple[str, ...] = (
    "clinic",
    "hospital",
    "nursing_station",
    "pharmacy",
    "care_manager",
    "care_facility",
    "other",
)
FACILITY_KIND_LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "clinic": "診療所",
        "hospital": "病院",
        "dental_clinic": "歯科診療所",
        "nursing_station": "訪問看護ステーション",
        "visiting_nurse": "訪問看護ステーション",
        "pharmacy": "薬局",
        "care_manager": "居宅介護支援事業所",
        "care_office": "介護事業所",
        "care_facility": "介護事業所",
        "municipality": "自治体",
        "other": "その他",
    },
    "en": {
        "clinic": "Clinic",
        "hospital": "Hospital",
        "dental_clinic": "Dental clinic",
        "nursing_station": "Home-nursing station",
        "visiting_nurse": "Home-nursing station",
        "pharmacy": "Pharmacy",
        "care_manager": "Care management office",
        "care_office": "Care service provider",
        "care_facility": "Care service provider",
        "municipality": "Municipality",
        "other": "Other",
    },
}
# What identity's facility and user records may be in (facilities: applied → active | rejected; later
# suspended, withdrawn or abolished; users: active, suspended, disabled).
STATUS_LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "applied": "審査待ち",
        "active": "利用中",
        "rejected": "却下",
        "suspended": "利用停止中",
        "withdrawn": "退会",
        "abolished": "廃止",
        "disabled": "無効",
    },
    "en": {
        "applied": "Awaiting review",
        "active": "Active",
        "rejected": "Rejected",
        "suspended": "Suspended",
        "withdrawn": "Withdrawn",
        "abolished": "Closed",
        "disabled": "Disabled",
    },
}


def facility_kind_label(code: str | None, lang: str = "ja") -> str:
    """The facility kind's name in ``lang``; an unknown or missing code reads as "other", never as the code."""
    labels = FACILITY_KIND_LABELS.get(lang, FACILITY_KIND_LABELS["ja"])
    return labels.get(code or "other", labels["other"])


def status_label(code: str | None, lang: str = "ja") -> str:
    """A facility's or user's status in words; an unknown status is shown as it is (it is not a type code)."""
    labels = STATUS_LABELS.get(lang, STATUS_LABELS["ja"])
    return labels.get(code or "", code or "")
