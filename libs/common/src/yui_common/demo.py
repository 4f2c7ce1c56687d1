"""The demo network's fixed identifiers, shared by each service's seed command and `make run`'s login hints."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

TENANT = "demo"
PASSWORD = "yui-demo-2026!"  # noqa: S105 - printed by `make run`; demo data only


def demo_id(name: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"yui-demo:{name}")


CLINIC = demo_id("facility:clinic")
NURSING_STATION = demo_id("facility:nursing-station")
OPERATOR_OFFICE = demo_id("facility:operator")

# login id -> (user id, facility id, display name, roles)
USERS: dict[str, tuple[UUID, UUID, str, tuple[str, ...]]] = {
    "doctor": (demo_id("user:doctor"), CLINIC, "山田 太郎 (医師)", ("staff", "facility_admin")),
    "nurse": (demo_id("user:nurse"), NURSING_STATION, "佐藤 花子 (訪問看護師)", ("staff",)),
    "operator": (demo_id("user:operator"), OPERATOR_OFFICE, "市役所 高齢者支援課", ("operator",)),
}
SUBJECT = demo_id("subject:1")
