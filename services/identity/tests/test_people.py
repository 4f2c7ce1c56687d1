"""People as data (issue 10): identity.person-changed.v1 on every path that creates or changes a person, the
staff directory (GET /people, GET /people/{id}) and the republish backfill."""

from __future__ import annotations

from uuid import UUID

from identity.models import User
from identity.people.professions import profession_of
from identity.people.service import republish_people
from sqlalchemy import update

from services.identity.tests.test_accounts import (
    APPLICATION,
    Site,
    apply,
    assert_problem,
    audit_actions,
    events,
    make_site,
    token_of,
    user_row,
)
from tests.support.stack import Stack

PERSON_CHANGED = "identity.person-changed.v1"


async def person_events(stack: Stack, tenant: str, user_id: UUID) -> list[dict]:
    return [e for e in await events(stack, tenant, PERSON_CHANGED) if e["user_id"] == str(user_id)]


async def name_people(stack: Stack, site: Site) -> None:
    """Kana and professions, as administrators would have entered them."""
    people = {
        site.clinic_admin.id: ("山田 太郎", "ヤマダ タロウ", "doctor"),
        site.nurse.id: ("佐藤 花子", "サトウ ハナコ", "nurse"),
        site.station_admin.id: ("結城 ゆい", "ユウキ ユイ", "visiting_nurse"),
    }
    async with stack["identity"].sessionmaker() as session, session.begin():
        for user_id, (name, kana, profession) in people.items():
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(display_name=name, name_kana=kana, profession=profession)
            )


class TestProfessionsFromOccupations:
    def test_known_words_in_japanese_and_english_map_to_a_profession(self) -> None:
        assert profession_of("看護師") == "nurse"
        assert profession_of("訪問看護師") == "visiting_nurse"
        assert profession_of("ｹｱﾏﾈｼﾞｬｰ") == "care_manager"  # half-width kana, NFKC
        assert profession_of(" Pharmacist ") == "pharmacist"
        assert profession_of("介護福祉士") == "helper"
        assert profession_of("理学療法士") == "therapist"

    def test_anything_else_is_other(self) -> None:
        assert profession_of("事務") == "other"
        assert profession_of(None) == "other"
        assert profession_of("") == "other"


class TestPersonChangedIsPublished:
    async def test_a_user_created_by_the_facility_administrator_is_published(self, stack: Stack) -> None:
        site = await make_site(stack)
        created = await stack["identity"].client.post(
            "/users",
            json={
                "login_id": "pharm-1",
                "display_name": "鈴木 薬子",
                "name_kana": "スズキ ヤクコ",
                "profession": "pharmacist",
            },
            headers=token_of(stack, site.clinic_admin).headers,
        )
        assert created.status_code == 201, created.text
        user_id = UUID(created.json()["user"]["id"])
        assert created.json()["user"]["profession"] == "pharmacist"
        [event] = await person_events(stack, site.tenant, user_id)
        assert event == {
            "user_id": str(user_id),
            "name": "鈴木 薬子",
            "name_kana": "スズキ ヤクコ",
            "profession": "pharmacist",
            "facility_id": str(site.clinic.id),
            "facility_name": "結クリニック",
            "status": "active",
            "version": 1,
        }

    async def test_the_old_free_text_occupation_is_still_accepted_and_mapped(self, stack: Stack) -> None:
        site = await make_site(stack)
        created = await stack["identity"].client.post(
            "/users",
            json={"login_id": "kango-9", "display_name": "看護 九子", "occupation": "看護師"},
            headers=token_of(stack, site.clinic_admin).headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["user"]["profession"] == "nurse"

    async def test_an_unknown_profession_code_is_refused(self, stack: Stack) -> None:
        site = await make_site(stack)
        refused = await stack["identity"].client.post(
            "/users",
            json={"login_id": "x-1", "display_name": "不明 職種", "profession": "astronaut"},
            headers=token_of(stack, site.clinic_admin).headers,
        )
        assert_problem(refused, 422, "validation-error")

    async def test_operator_issued_and_csv_imported_users_are_published(self, stack: Stack) -> None:
        site = await make_site(stack, operator_issues_users=True)
        issued = await stack["identity"].client.post(
            "/users",
            json={"login_id": "teacher-1", "display_name": "教員 一郎", "facility_id": str(site.clinic.id)},
            headers=token_of(stack, site.operator).headers,
        )
        assert issued.status_code == 201, issued.text
        assert len(await person_events(stack, site.tenant, UUID(issued.json()["user"]["id"]))) == 1
        imported = await stack["identity"].client.post(
            "/users/import",
            content="login_id,display_name,roles,name_kana,profession\ncare-1,介護 一郎,staff,カイゴ イチロウ,ケアマネ\n".encode(),
            headers={**token_of(stack, site.clinic_admin).headers, "Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        [row] = imported.json()["rows"]
        [event] = await person_events(stack, site.tenant, UUID(row["user_id"]))
        assert (event["name_kana"], event["profession"]) == ("カイゴ イチロウ", "care_manager")

    async def test_the_administrator_of_an_approved_facility_is_published(self, stack: Stack) -> None:
        site = await make_site(stack)
        applied = await apply(stack, site.tenant, login_id="pharmacy-admin")
        assert applied.status_code == 202, applied.text
        approved = await stack["identity"].client.post(
            f"/facility-applications/{applied.json()['id']}/approval",
            headers=token_of(stack, site.operator).headers,
        )
        assert approved.status_code == 200, approved.text
        administrator = UUID(approved.json()["administrator_user_id"])
        [event] = await person_events(stack, site.tenant, administrator)
        assert event["name"] == APPLICATION["administrator_name"]
        assert event["facility_name"] == APPLICATION["name"]

    async def test_name_kana_and_profession_changes_are_published_with_a_growing_version(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        admin = token_of(stack, site.clinic_admin).headers
        changed = await stack["identity"].client.patch(
            f"/users/{site.nurse.id}",
            json={"display_name": "佐藤 花子", "name_kana": "さとう はなこ", "profession": "nurse"},
            headers=admin,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["name_kana"] == "さとう はなこ"
        again = await stack["identity"].client.patch(
            f"/users/{site.nurse.id}", json={"profession": "visiting_nurse"}, headers=admin
        )
        assert again.status_code == 200, again.text
        unchanged = await stack["identity"].client.patch(
            f"/users/{site.nurse.id}", json={"profession": "visiting_nurse"}, headers=admin
        )
        assert unchanged.status_code == 200
        published = await person_events(stack, site.tenant, site.nurse.id)
        assert [(e["profession"], e["version"]) for e in published] == [("nurse", 1), ("visiting_nurse", 2)]
        assert published[0]["name"] == "佐藤 花子"

    async def test_suspension_reinstatement_and_disabling_are_published(self, stack: Stack) -> None:
        site = await make_site(stack)
        operator = token_of(stack, site.operator).headers
        suspended = await stack["identity"].client.post(
            "/suspensions",
            json={"target_kind": "user", "target_id": str(site.nurse.id), "reason": "調査のため"},
            headers=operator,
        )
        assert suspended.status_code in (201, 202), suspended.text
        lifted = await stack["identity"].client.post(
            f"/suspensions/{suspended.json()['id']}/lifting", headers=operator
        )
        assert lifted.status_code == 200, lifted.text
        disabled = await stack["identity"].client.post(
            f"/users/{site.nurse.id}/disabling", headers=token_of(stack, site.clinic_admin).headers
        )
        assert disabled.status_code == 200, disabled.text
        published = await person_events(stack, site.tenant, site.nurse.id)
        assert [(e["status"], e["version"]) for e in published] == [
            ("suspended", 1),
            ("active", 2),
            ("disabled", 3),
        ]

    async def test_a_facility_rename_publishes_every_user_of_it(self, stack: Stack) -> None:
        site = await make_site(stack)
        renamed = await stack["identity"].client.patch(
            f"/facilities/{site.clinic.id}",
            json={"name": "結ファミリークリニック"},
            headers=token_of(stack, site.clinic_admin).headers,
        )
        assert renamed.status_code == 200, renamed.text
        published = await events(stack, site.tenant, PERSON_CHANGED)
        assert {e["user_id"] for e in published} == {str(site.clinic_admin.id), str(site.nurse.id)}
        assert {e["facility_name"] for e in published} == {"結ファミリークリニック"}

    async def test_republishing_gives_every_user_a_newer_version(self, stack: Stack) -> None:
        site = await make_site(stack)
        async with stack["identity"].sessionmaker() as session, session.begin():
            count = await republish_people(session, tenant=site.tenant)
        assert count == 5
        published = await events(stack, site.tenant, PERSON_CHANGED)
        assert len(published) == 5 and {e["version"] for e in published} == {1}
        assert (await user_row(stack, site.nurse.id)).person_version == 1


class TestStaffDirectory:
    async def test_ux1_colleagues_are_found_by_kana_in_hiragana_or_katakana_in_kana_order(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        await name_people(stack, site)
        headers = token_of(stack, site.nurse).headers
        by_hiragana = await stack["identity"].client.get("/people", params={"q": "やまだ"}, headers=headers)
        assert by_hiragana.status_code == 200, by_hiragana.text
        [doctor] = by_hiragana.json()["items"]
        assert doctor == {
            "id": str(site.clinic_admin.id),
            "name": "山田 太郎",
            "name_kana": "ヤマダ タロウ",
            "profession": "doctor",
            "facility_id": str(site.clinic.id),
            "facility_name": "結クリニック",
            "status": "active",
        }
        half_width = await stack["identity"].client.get("/people", params={"q": "ﾕｳｷ"}, headers=headers)
        assert [p["name"] for p in half_width.json()["items"]] == ["結城 ゆい"]
        without_space = await stack["identity"].client.get("/people", params={"q": "佐藤花"}, headers=headers)
        assert [p["name"] for p in without_space.json()["items"]] == ["佐藤 花子"]
        everyone = await stack["identity"].client.get("/people", headers=headers)
        names = [p["name"] for p in everyone.json()["items"]]
        # Kana order (サ, ヤ, ユ); people without kana sort by their name.
        assert names.index("佐藤 花子") < names.index("山田 太郎") < names.index("結城 ゆい")

    async def test_facility_and_profession_narrow_the_search(self, stack: Stack) -> None:
        site = await make_site(stack)
        await name_people(stack, site)
        headers = token_of(stack, site.nurse).headers
        station = await stack["identity"].client.get(
            "/people", params={"facility_id": str(site.station.id)}, headers=headers
        )
        assert [p["name"] for p in station.json()["items"]] == ["結城 ゆい"]
        doctors = await stack["identity"].client.get(
            "/people", params={"profession": "doctor"}, headers=headers
        )
        assert [p["name"] for p in doctors.json()["items"]] == ["山田 太郎"]
        limited = await stack["identity"].client.get("/people", params={"limit": 2}, headers=headers)
        assert len(limited.json()["items"]) == 2
        wrong = await stack["identity"].client.get("/people", params={"profession": "pilot"}, headers=headers)
        assert_problem(wrong, 422, "validation-error")

    async def test_only_active_users_of_the_same_network_are_listed(self, stack: Stack) -> None:
        site = await make_site(stack)
        other = await make_site(stack)
        await name_people(stack, site)
        await name_people(stack, other)
        async with stack["identity"].sessionmaker() as session, session.begin():
            await session.execute(update(User).where(User.id == site.nurse.id).values(status="disabled"))
        found = await stack["identity"].client.get(
            "/people", params={"q": "サトウ"}, headers=token_of(stack, site.clinic_admin).headers
        )
        assert found.status_code == 200 and found.json()["items"] == []
        mine = await stack["identity"].client.get(
            "/people", params={"q": "ヤマダ"}, headers=token_of(stack, site.clinic_admin).headers
        )
        assert [p["id"] for p in mine.json()["items"]] == [str(site.clinic_admin.id)]

    async def test_one_person_is_read_within_the_network_and_is_not_found_outside_it(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        other = await make_site(stack)
        await name_people(stack, site)
        inside = await stack["identity"].client.get(
            f"/people/{site.clinic_admin.id}", headers=token_of(stack, site.station_admin).headers
        )
        assert inside.status_code == 200, inside.text
        assert inside.json()["name"] == "山田 太郎"
        outside = await stack["identity"].client.get(
            f"/people/{site.clinic_admin.id}", headers=token_of(stack, other.nurse).headers
        )
        body = assert_problem(outside, 404, "not-found")
        assert body["detail"] == "Nothing here is available to you."

    async def test_a_contractor_may_not_search_and_reads_are_audited(self, stack: Stack) -> None:
        site = await make_site(stack)
        refused = await stack["identity"].client.get(
            "/people", headers=token_of(stack, site.contractor).headers
        )
        assert_problem(refused, 403, "forbidden")
        headers = token_of(stack, site.nurse).headers
        await stack["identity"].client.get("/people", params={"q": "やまだ"}, headers=headers)
        await stack["identity"].client.get(f"/people/{site.clinic_admin.id}", headers=headers)
        actions = await audit_actions(stack, site.tenant)
        assert ("people.searched", None) in actions
        assert ("person.read", f"user:{site.clinic_admin.id}") in actions
