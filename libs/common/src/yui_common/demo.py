"""The demo network `make run` seeds: its fixed identifiers, facilities, people and patients, shared by each
service's seed command and `make run`'s login hints. Every person and patient here is invented."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

TENANT = "demo"
PASSWORD = "yui-demo-2026!"  # noqa: S105 - printed by `make run`; demo data only
MUNICIPALITY_CODE = "232360"


def demo_id(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"yui-demo:{name}")


class DemoFacility(NamedTuple):
    name: str
    kind: str  # yui_common.vocabulary.FACILITY_KINDS (the operator's office: "municipality")


CLINIC = demo_id("facility:clinic")
NURSING_STATION = demo_id("facility:nursing-station")
PHARMACY = demo_id("facility:pharmacy")
CARE_OFFICE = demo_id("facility:care-office")
OPERATOR_OFFICE = demo_id("facility:operator")

FACILITIES: dict[UUID, DemoFacility] = {
    CLINIC: DemoFacility("結クリニック", "clinic"),
    NURSING_STATION: DemoFacility("結訪問看護ステーション", "nursing_station"),
    PHARMACY: DemoFacility("結薬局", "pharmacy"),
    CARE_OFFICE: DemoFacility("結居宅介護支援事業所", "care_manager"),
    OPERATOR_OFFICE: DemoFacility("結町 高齢者支援課", "municipality"),
}


class DemoUser(NamedTuple):
    user_id: UUID
    facility_id: UUID
    # A plain name: pages show the profession and facility beside it (yui_common.people.PersonRef.label).
    name: str
    name_kana: str
    profession: str  # yui_common.vocabulary.PROFESSIONS
    roles: tuple[str, ...]


# login id -> the person; the order is the order `make run` lists them in.
USERS: dict[str, DemoUser] = {
    "doctor": DemoUser(
        demo_id("user:doctor"), CLINIC, "山田 太郎", "ヤマダ タロウ", "doctor", ("staff", "facility_admin")
    ),
    "nurse": DemoUser(
        demo_id("user:nurse"), NURSING_STATION, "佐藤 花子", "サトウ ハナコ", "visiting_nurse", ("staff",)
    ),
    "pharmacist": DemoUser(
        demo_id("user:pharmacist"), PHARMACY, "鈴木 健一", "スズキ ケンイチ", "pharmacist", ("staff",)
    ),
    "caremanager": DemoUser(
        demo_id("user:caremanager"), CARE_OFFICE, "高橋 美咲", "タカハシ ミサキ", "care_manager", ("staff",)
    ),
    "operator": DemoUser(
        demo_id("user:operator"),
        OPERATOR_OFFICE,
        "伊藤 直子",
        "イトウ ナオコ",
        "municipal_staff",
        ("operator",),
    ),
}
STAFF = ("doctor", "nurse", "pharmacist", "caremanager")  # the care team of every demo patient


class DemoSubject(NamedTuple):
    subject_id: UUID
    name: str
    name_kana: str
    birth_date: date
    sex: str


SUBJECT = demo_id("subject:1")
SUBJECT_2 = demo_id("subject:2")
SUBJECTS: dict[UUID, DemoSubject] = {
    # 88, at home with her daughter: a pressure ulcer on the sacrum, eating less (the photos are of her wound).
    SUBJECT: DemoSubject(SUBJECT, "結 キヨ", "ユイ キヨ", date(1938, 4, 1), "female"),
    # 84, living alone: heart failure and forgotten tablets (a medication calendar, weight and swelling).
    SUBJECT_2: DemoSubject(SUBJECT_2, "青木 正男", "アオキ マサオ", date(1942, 9, 15), "male"),
}

TERMS_VERSION = "1.0"
