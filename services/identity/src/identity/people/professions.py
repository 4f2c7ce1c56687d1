"""From the words people type for their job (「看護師」, "pharmacist", 「ケアマネ」) to a profession code (職種)."""

from __future__ import annotations

import unicodedata

from yui_common.vocabulary import PROFESSIONS

# Known words per profession, compared after NFKC, lower case and without spaces. Anything else is "other".
# Migration people_professions holds a frozen copy for the occupations stored before issue 10.
_WORDS: dict[str, tuple[str, ...]] = {
    "doctor": ("医師", "医者", "ドクター", "doctor", "physician", "dr", "md"),
    "dentist": ("歯科医師", "歯科医", "歯医者", "dentist"),
    "pharmacist": ("薬剤師", "pharmacist"),
    "visiting_nurse": ("訪問看護師", "訪問看護", "visiting nurse", "visiting_nurse", "home care nurse"),
    "nurse": ("看護師", "准看護師", "保健師", "助産師", "看護", "ナース", "nurse", "rn"),
    "therapist": (
        "理学療法士",
        "作業療法士",
        "言語聴覚士",
        "リハビリ",
        "pt",
        "ot",
        "st",
        "therapist",
        "physiotherapist",
        "physical therapist",
        "occupational therapist",
        "speech therapist",
    ),
    "care_manager": ("ケアマネジャー", "ケアマネージャー", "ケアマネ", "介護支援専門員", "care manager"),
    "helper": (
        "ホームヘルパー",
        "ヘルパー",
        "訪問介護員",
        "介護福祉士",
        "介護職",
        "介護職員",
        "介護士",
        "helper",
        "home helper",
        "care worker",
        "caregiver",
    ),
    "msw": ("医療ソーシャルワーカー", "ソーシャルワーカー", "社会福祉士", "msw", "social worker"),
    "dietitian": ("管理栄養士", "栄養士", "dietitian", "nutritionist"),
    "municipal_staff": ("自治体職員", "市職員", "町職員", "村職員", "区職員", "行政", "municipal staff"),
    "teacher": ("教員", "教師", "先生", "養護教諭", "teacher"),
}


def _key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


_BY_WORD: dict[str, str] = {_key(word): code for code, words in _WORDS.items() for word in words} | {
    _key(code): code for code in PROFESSIONS
}


def profession_of(occupation: str | None) -> str:
    """The profession code a free-text occupation names; "other" when it names none we know."""
    if not occupation:
        return "other"
    return _BY_WORD.get(_key(occupation), "other")
