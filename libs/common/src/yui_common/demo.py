"""The demo network `make run` seeds: its fixed identifiers, facilities, people and patients, shared by each
service's seed command and `make run`'s login hints. Every person and patient here is invented."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

TENANT = "demo"
NAME = "結ネット (デモ)"
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


# --- The second demo network: a neighbouring town's ------------------------------------------------------------
# Created by identity's seed through the contractor's own use case (identity.platform.service.create_network,
# what `python -m identity network create` runs), so it is provisioned as a real network is: its
# network-created event, its operator's office and first operator, and the portal's first terms of use made from
# the template. It shows two networks side by side in one deployment (each person sees their own network only;
# the same login ID names a different person in each), and it is the network the federation issue will exchange
# with: two municipalities' networks next to each other, a patient of one seen by the other's staff.
NEIGHBOUR_TENANT = "tonari"
NEIGHBOUR_NAME = "となりまちネット"
# 日進市 and 東郷町, みよし市's neighbours (the demo network serves みよし市, 232360).
NEIGHBOUR_MUNICIPALITY_CODES = ("232301", "233021")
NEIGHBOUR_OPERATOR_OFFICE = "日進市 地域包括ケア推進課"
NEIGHBOUR_SUPPORT_HOURS = "平日 9:00〜17:00（祝日と12月29日〜1月3日を除く）"
# The network's first operator, made by create_network (its id is drawn there, so it is found by login ID).
NEIGHBOUR_OPERATOR_LOGIN = "operator"
NEIGHBOUR_OPERATOR_NAME = "小林 恵"
NEIGHBOUR_OPERATOR_KANA = "コバヤシ メグミ"

NEIGHBOUR_CLINIC = demo_id("tonari:facility:clinic")
NEIGHBOUR_CARE_HOME = demo_id("tonari:facility:care-home")
NEIGHBOUR_FACILITIES: dict[UUID, DemoFacility] = {
    NEIGHBOUR_CLINIC: DemoFacility("となり内科クリニック", "clinic"),
    NEIGHBOUR_CARE_HOME: DemoFacility("小規模多機能ホーム となりの家", "care_facility"),
}
# The same login IDs as some of the demo network's: a login ID is only unique within its network.
NEIGHBOUR_USERS: dict[str, DemoUser] = {
    "doctor": DemoUser(
        demo_id("tonari:user:doctor"),
        NEIGHBOUR_CLINIC,
        "松本 誠",
        "マツモト マコト",
        "doctor",
        ("staff", "facility_admin"),
    ),
    "helper": DemoUser(
        demo_id("tonari:user:helper"),
        NEIGHBOUR_CARE_HOME,
        "中村 由美",
        "ナカムラ ユミ",
        "helper",
        ("staff", "facility_admin"),
    ),
}
NEIGHBOUR_STAFF = ("doctor", "helper")  # the care team of the neighbour's patient

NEIGHBOUR_SUBJECT = demo_id("tonari:subject:1")
NEIGHBOUR_SUBJECTS: dict[UUID, DemoSubject] = {
    # 91, in 日進市 with her son's family; comes to the care home by day, the doctor visits her at home.
    NEIGHBOUR_SUBJECT: DemoSubject(NEIGHBOUR_SUBJECT, "森 ハル", "モリ ハル", date(1935, 11, 3), "female"),
}

# The contractor's demo account for /admin/platform (identity.platform): its first sign-in with PASSWORD asks
# for a password of its own and an authenticator app, as any contractor account's does.
CONTRACTOR_LOGIN = "contractor"
CONTRACTOR_NAME = "結システム 契約事業者"


class DemoNetwork(NamedTuple):
    """One demo network as the seeds that act in it see it: its people, the care team of its patients."""

    tenant: str
    users: dict[str, DemoUser]
    staff: tuple[str, ...]
    subjects: dict[UUID, DemoSubject]


DEMO = DemoNetwork(TENANT, USERS, STAFF, SUBJECTS)
NEIGHBOUR = DemoNetwork(NEIGHBOUR_TENANT, NEIGHBOUR_USERS, NEIGHBOUR_STAFF, NEIGHBOUR_SUBJECTS)
NETWORKS = (DEMO, NEIGHBOUR)
