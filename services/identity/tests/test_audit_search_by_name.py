"""The operator's audit search by name (issue 10, item 7): a patient's name (through consent's operator-only
lookup), a user's name, a facility chosen by name, a period; paged; the results naming people, not ids."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from uuid import UUID, uuid4

from identity.audit_search.names import EntryNames
from identity.models import Facility, Network, User
from yui_common.audit_api import AuditEntryRead, encode_cursor

from tests.support.stack import Stack, Staff

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ENTRY = re.compile(r'data-entry="([a-z]+):([0-9a-f-]{36})"')


def visible_text(page: str) -> str:
    """What the page shows before anything is opened: no tags, attributes, or collapsed details."""
    shown = re.sub(r"<details>.*?</details>", "", page, flags=re.S)
    shown = re.sub(r"<(script|style)\b.*?</\1>", "", shown, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", shown))


class Scene:
    tenant: str
    clinic: Facility
    station: Facility
    doctor: User
    nurse: User
    operator: Staff
    subjects: dict[str, UUID]

    def staff(self, stack: Stack, user: User) -> Staff:
        return stack.staff(
            tenant=self.tenant, facility_id=user.facility_id, user_id=user.id, roles=("staff",)
        )


async def scene(stack: Stack) -> Scene:
    """Two facilities, a doctor and a nurse (both called 結), an operator; three patients, two of them called
    山田, registered and read by the doctor, and a fourth the nurse registered."""
    found = Scene()
    found.tenant = tenant = f"audit-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="監査テスト"))
        await session.flush()
        found.clinic = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        found.station = Facility(
            id=uuid4(), tenant=tenant, name="結訪問看護ステーション", kind="visiting_nurse"
        )
        office = Facility(id=uuid4(), tenant=tenant, name="結町 高齢者支援課", kind="municipality")
        session.add_all([found.clinic, found.station, office])
        await session.flush()
        people = []
        for facility, login_id, name, kana, profession, roles in (
            (found.clinic, "doctor", "結 一郎", "ユイ イチロウ", "doctor", ["staff"]),
            (found.station, "nurse", "結 花子", "ユイ ハナコ", "visiting_nurse", ["staff"]),
            (office, "operator", "運用 太郎", "ウンヨウ タロウ", "municipal_staff", ["operator"]),
        ):
            user = User(
                id=uuid4(),
                tenant=tenant,
                facility_id=facility.id,
                login_id=login_id,
                display_name=name,
                name_kana=kana,
                profession=profession,
                password_hash="unused",
                roles=roles,
            )
            session.add(user)
            people.append(user)
    found.doctor, found.nurse, operator = people
    found.operator = stack.staff(
        tenant=tenant, facility_id=office.id, user_id=operator.id, roles=("operator",)
    )
    doctor, nurse = found.staff(stack, found.doctor), found.staff(stack, found.nurse)
    consent = stack["consent"].client
    found.subjects = {}
    for name, kana in (
        ("山田 太郎", "ヤマダ タロウ"),
        ("山田 次郎", "ヤマダ ジロウ"),
        ("佐藤 一子", "サトウ イチコ"),
    ):
        created = await consent.post(
            "/subjects",
            json={
                "name": name,
                "name_kana": kana,
                "municipality_code": "232360",
                "confirm_not_duplicate": True,
            },
            headers=doctor.headers,
        )
        assert created.status_code == 201, created.text
        found.subjects[name] = UUID(created.json()["id"])
    for subject_id in found.subjects.values():
        for _ in range(2):
            assert (await consent.get(f"/subjects/{subject_id}", headers=doctor.headers)).status_code == 200
    own = await consent.post(
        "/subjects",
        json={
            "name": "高橋 四郎",
            "name_kana": "タカハシ シロウ",
            "municipality_code": "232360",
            "confirm_not_duplicate": True,
        },
        headers=nurse.headers,
    )
    assert own.status_code == 201, own.text
    return found


def results_text(page: str) -> str:
    """The visible text of the results table alone."""
    table = re.search(r'<table class="cards audit-entries">.*?</table>', page, flags=re.S)
    return visible_text(table.group(0)) if table else ""


async def audit_page(stack: Stack, found: Scene, **params: str) -> str:
    response = await stack["identity"].client.get(
        "/admin/audit", params=params, headers=found.operator.headers
    )
    assert response.status_code == 200, response.text
    return response.text


class TestAuditSearchByName:
    async def test_ux7_a_patient_is_found_by_name_and_the_results_show_names_not_ids(
        self, stack: Stack
    ) -> None:
        found = await scene(stack)
        page = await audit_page(stack, found, subject_name="さとう")  # kana typed in hiragana
        entries = ENTRY.findall(page)
        assert entries and {service for service, _ in entries} == {"consent"}
        shown = visible_text(page)
        assert "対象者: 佐藤 一子（サトウ イチコ）" in shown
        assert "結 一郎（医師、結クリニック）" in shown  # the actor: name (profession, facility)
        assert "結クリニック" in shown and "佐藤 一子" in shown
        assert "山田" not in shown
        assert not UUID_TEXT.search(shown), UUID_TEXT.findall(shown)[:3]
        assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+|\+00:00|\d{4}-\d{2}-\d{2}T\d", shown)

    async def test_ux7_a_name_that_matches_several_patients_asks_which_one(self, stack: Stack) -> None:
        found = await scene(stack)
        page = await audit_page(stack, found, subject_name="山田")
        assert not ENTRY.findall(page)  # nothing searched yet
        assert "「山田」に当てはまる対象者が複数います" in page
        choices = dict(
            (html.unescape(label).strip(), value)
            for value, label in re.findall(
                r'name="subject_id" value="([0-9a-f-]{36})"[^>]*>([^<]+)</label>', page
            )
        )
        assert set(choices) == {"山田 太郎（ヤマダ タロウ）", "山田 次郎（ヤマダ ジロウ）"}
        chosen = choices["山田 次郎（ヤマダ ジロウ）"]
        assert chosen == str(found.subjects["山田 次郎"])
        page = await audit_page(stack, found, subject_name="山田", subject_id=chosen)
        shown = visible_text(page)
        assert ENTRY.findall(page) and "対象者: 山田 次郎（ヤマダ ジロウ）" in shown
        assert "山田 太郎" not in shown

    async def test_ux7_users_are_found_by_name_and_facilities_chosen_by_name(self, stack: Stack) -> None:
        found = await scene(stack)
        several = await audit_page(stack, found, user_name="結")
        assert "「結」に当てはまる利用者が複数います" in several and not ENTRY.findall(several)
        assert "結 花子（訪問看護師、結訪問看護ステーション）" in visible_text(several)
        page = await audit_page(stack, found, user_name="はなこ")
        shown = visible_text(page)
        assert "利用者: 結 花子（訪問看護師、結訪問看護ステーション）" in shown
        assert ENTRY.findall(page) and "結 一郎" not in results_text(page)
        nobody = await audit_page(stack, found, user_name="存在しない人")
        assert "その氏名の利用者は見つかりませんでした" in nobody and not ENTRY.findall(nobody)
        # The facility list offers names; the choice travels as the facility's id.
        assert f'<option value="{found.station.id}">結訪問看護ステーション</option>' in page
        by_facility = await audit_page(stack, found, facility_id=str(found.station.id))
        rows = ENTRY.findall(by_facility)
        results = results_text(by_facility)
        assert rows and "高橋 四郎" in results and "結 一郎" not in results
        nowhere = await audit_page(stack, found, facility_id=str(found.clinic.id), since="2999-01-01T00:00")
        assert not ENTRY.findall(nowhere)

    async def test_ux7_pages_of_a_name_search_carry_the_chosen_person(self, stack: Stack) -> None:
        found = await scene(stack)
        seen: list[tuple[str, str]] = []
        query: str | None = "subject_name=%E4%BD%90%E8%97%A4&limit=2"  # 佐藤
        pages = 0
        while query:
            response = await stack["identity"].client.get(
                f"/admin/audit?{html.unescape(query)}", headers=found.operator.headers
            )
            assert response.status_code == 200, response.text
            shown = ENTRY.findall(response.text)
            assert 0 < len(shown) <= 2
            seen += shown
            pages += 1
            following = re.search(r'rel="next" href="/admin/audit\?([^"]+)"', response.text)
            query = following.group(1) if following else None
            if query:
                assert f"subject_id={found.subjects['佐藤 一子']}" in html.unescape(query)
        assert pages >= 2 and len(seen) == len(set(seen))
        exported = await stack["identity"].client.get(
            "/admin/audit.csv", params={"subject_name": "佐藤"}, headers=found.operator.headers
        )
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        assert str(found.subjects["佐藤 一子"]) in exported.text

    async def test_ux7_a_patient_name_nobody_has_says_so(self, stack: Stack) -> None:
        found = await scene(stack)
        page = await audit_page(stack, found, subject_name="鈴木")
        assert "その氏名の対象者は見つかりませんでした" in page and not ENTRY.findall(page)


def entry(**fields: object) -> AuditEntryRead:
    moment = datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)
    values: dict[str, object] = {
        "service": "identity", "position": 1, "id": str(uuid4()), "occurred_at": moment, "tenant": "t",
        "actor_id": "system", "facility_id": None, "subject_id": None, "action": "x", "target": None,
        "detail": {}, "trace_id": None, "prev_hash": None, "hash": "f" * 64, "cursor": encode_cursor(moment, 1),
        **fields,
    }  # fmt: skip
    return AuditEntryRead.model_validate(values)


class TestEntryNames:
    def test_ux7_targets_and_actors_read_as_words_and_names(self) -> None:
        user, facility = str(uuid4()), str(uuid4())
        names = EntryNames(
            "ja", people={user: "結 花子（看護師、結クリニック）"}, facilities={facility: "結クリニック"}
        )
        assert names.target(entry(target=f"user:{user}")) == "利用者: 結 花子（看護師、結クリニック）"
        assert names.target(entry(target=f"facility:{facility}")) == "施設: 結クリニック"
        assert names.target(entry(target=f"post:{uuid4()}")) == "投稿"
        assert names.target(entry(target="maintenance:demo")) == "メンテナンス: demo"
        assert names.actor(entry(actor_id=str(uuid4()))) == "（不明な利用者）"
        assert names.actor(entry(actor_id="applicant:a@example.jp")) == "申請者（a@example.jp）"
        assert names.actor(entry(actor_id=user)) == "結 花子（看護師、結クリニック）"
        assert names.subject(entry(subject_id=str(uuid4()))) == "（不明な対象者）"
        assert names.detail("2026-11-22T03:04:05.678901+00:00") == "2026-11-22 12:04"
        assert names.detail("note") == "note"
