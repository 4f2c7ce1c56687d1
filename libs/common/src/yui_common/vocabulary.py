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
