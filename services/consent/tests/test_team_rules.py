"""Care-team rules of issue 10: who may remove a member, withdrawn subjects off the working list with their
contact details hidden, and the operators' lookup of subjects by name for the audit search."""

from __future__ import annotations

from uuid import UUID, uuid4

from tests.support.stack import Stack, Staff


async def subject_of(stack: Stack, staff: Staff, *, name: str, name_kana: str, **fields: object) -> UUID:
    created = await stack["consent"].client.post(
        "/subjects",
        json={"name": name, "name_kana": name_kana, "municipality_code": "232360", **fields},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return UUID(created.json()["id"])


class TestOperatorLookup:
    async def test_the_operator_finds_subjects_by_part_of_the_name_or_kana(self, stack: Stack) -> None:
        tenant = f"lookup-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=tenant)
        operator = stack.staff(tenant=tenant, roles=("operator",))
        first = await subject_of(stack, doctor, name="検索 一郎", name_kana="ケンサク イチロウ")
        second = await subject_of(stack, doctor, name="検索 二郎", name_kana="ケンサク ジロウ")
        consent = stack["consent"].client
        by_name = await consent.get("/subjects/lookup", params={"name": "検索"}, headers=operator.headers)
        assert by_name.status_code == 200, by_name.text
        assert {i["id"] for i in by_name.json()["items"]} == {str(first), str(second)}
        assert set(by_name.json()["items"][0]) == {"id", "name", "name_kana"}
        # Kana typed in hiragana, part of the given name only.
        by_kana = await consent.get("/subjects/lookup", params={"name": "じろう"}, headers=operator.headers)
        assert [i["id"] for i in by_kana.json()["items"]] == [str(second)]
        assert by_kana.json()["items"][0]["name"] == "検索 二郎"

    async def test_names_of_ids_come_only_from_the_operators_own_network(self, stack: Stack) -> None:
        tenant = f"lookup-{uuid4().hex[:8]}"
        doctor, stranger = stack.staff(tenant=tenant), stack.staff(tenant=f"other-{uuid4().hex[:8]}")
        operator = stack.staff(tenant=tenant, roles=("operator",))
        ours = await subject_of(stack, doctor, name="名前 太郎", name_kana="ナマエ タロウ")
        theirs = await subject_of(stack, stranger, name="他所 太郎", name_kana="ヨソ タロウ")
        named = await stack["consent"].client.post(
            "/subjects/names", json={"ids": [str(ours), str(theirs), str(uuid4())]}, headers=operator.headers
        )
        assert named.status_code == 200, named.text
        assert named.json() == {"items": [{"id": str(ours), "name": "名前 太郎"}]}
        other_lookup = await stack["consent"].client.get(
            "/subjects/lookup", params={"name": "他所"}, headers=operator.headers
        )
        assert other_lookup.json() == {"items": []}

    async def test_only_the_operator_may_look_subjects_up_and_each_lookup_is_audited(
        self, stack: Stack
    ) -> None:
        tenant = f"lookup-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=tenant)
        subject_id = await subject_of(stack, doctor, name="監査 花子", name_kana="カンサ ハナコ")
        consent = stack["consent"].client
        for caller in (doctor, stack.staff(tenant=tenant, roles=("contractor",))):
            lookup = await consent.get("/subjects/lookup", params={"name": "監査"}, headers=caller.headers)
            assert lookup.status_code == 403
            assert lookup.headers["content-type"].startswith("application/problem+json")
            names = await consent.post(
                "/subjects/names", json={"ids": [str(subject_id)]}, headers=caller.headers
            )
            assert names.status_code == 403
        operator = stack.staff(tenant=tenant, roles=("operator",))
        assert (
            await consent.get("/subjects/lookup", params={"name": ""}, headers=operator.headers)
        ).status_code == 422
        found = await consent.get("/subjects/lookup", params={"name": "監査"}, headers=operator.headers)
        assert [i["id"] for i in found.json()["items"]] == [str(subject_id)]
        entries = await consent.get(
            "/audit-entries", params={"user_id": str(operator.user_id)}, headers=operator.headers
        )
        assert entries.status_code == 200, entries.text
        actions = {e["action"] for e in entries.json()["entries"]}
        assert "subject.lookup" in actions
