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


async def join(stack: Stack, inviter: Staff, subject_id: UUID, member: Staff) -> None:
    consent = stack["consent"].client
    invited = await consent.post(
        f"/subjects/{subject_id}/care-team", json={"user_id": str(member.user_id)}, headers=inviter.headers
    )
    assert invited.status_code == 201, invited.text
    accepted = await consent.post(
        f"/care-team/invitations/{invited.json()['id']}/accept", headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text


async def team_of(stack: Stack, subject_id: UUID, reader: Staff) -> list[dict[str, object]]:
    answer = await stack["consent"].client.get(f"/subjects/{subject_id}/care-team", headers=reader.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def audit_actions(stack: Stack, tenant: str, subject_id: UUID) -> list[tuple[str, dict[str, object]]]:
    operator = stack.staff(tenant=tenant, roles=("operator",))
    entries = await stack["consent"].client.get(
        "/audit-entries", params={"subject_id": str(subject_id)}, headers=operator.headers
    )
    return [(e["action"], e.get("detail") or {}) for e in entries.json()["entries"]]


class TestWhoMayRemoveAMember:
    async def test_ux8_a_nurse_cannot_remove_the_doctor_but_may_leave(self, stack: Stack) -> None:
        tenant = f"team-{uuid4().hex[:8]}"
        doctor, nurse = stack.staff(tenant=tenant), stack.staff(tenant=tenant)
        subject_id = await subject_of(stack, doctor, name="班 一郎", name_kana="ハン イチロウ")
        await join(stack, doctor, subject_id, nurse)
        flags = {m["user_id"]: m["may_remove"] for m in await team_of(stack, subject_id, nurse)}
        assert flags == {str(doctor.user_id): False, str(nurse.user_id): True}

        refused = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{doctor.user_id}", headers=nurse.headers
        )
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("not-allowed-to-remove")
        assert len(await team_of(stack, subject_id, doctor)) == 2

        left = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{nurse.user_id}", headers=nurse.headers
        )
        assert left.status_code == 204

    async def test_the_lead_removes_any_member_and_passes_the_lead_on_leaving(self, stack: Stack) -> None:
        tenant = f"team-{uuid4().hex[:8]}"
        doctor, nurse, pharmacist = (stack.staff(tenant=tenant) for _ in range(3))
        subject_id = await subject_of(stack, doctor, name="班 二郎", name_kana="ハン ジロウ")
        for member in (nurse, pharmacist):
            await join(stack, doctor, subject_id, member)
        assert all(m["may_remove"] for m in await team_of(stack, subject_id, doctor))
        consent = stack["consent"].client
        removed = await consent.delete(
            f"/subjects/{subject_id}/care-team/{pharmacist.user_id}", headers=doctor.headers
        )
        assert removed.status_code == 204
        left = await consent.delete(
            f"/subjects/{subject_id}/care-team/{doctor.user_id}", headers=doctor.headers
        )
        assert left.status_code == 204
        [nurse_now] = await team_of(stack, subject_id, nurse)
        assert nurse_now["is_lead"] is True
        actions = await audit_actions(stack, tenant, subject_id)
        assert ("care_team.removed", {"member": str(pharmacist.user_id), "ground": "lead"}) in actions
        assert (
            "care_team.left",
            {"member": str(doctor.user_id), "ground": "self", "new_lead": str(nurse.user_id)},
        ) in actions

    async def test_the_administrator_of_the_members_facility_removes_them_even_from_outside_the_team(
        self, stack: Stack
    ) -> None:
        tenant, station = f"team-{uuid4().hex[:8]}", uuid4()
        doctor = stack.staff(tenant=tenant)
        nurse = stack.staff(tenant=tenant, facility_id=station)
        station_admin = stack.staff(tenant=tenant, facility_id=station, roles=("facility_admin", "staff"))
        other_admin = stack.staff(tenant=tenant, roles=("facility_admin", "staff"))
        subject_id = await subject_of(stack, doctor, name="班 三郎", name_kana="ハン サブロウ")
        await join(stack, doctor, subject_id, nurse)
        consent = stack["consent"].client
        # Another facility's administrator, not on the team: the subject does not exist for them.
        outside = await consent.delete(
            f"/subjects/{subject_id}/care-team/{nurse.user_id}", headers=other_admin.headers
        )
        assert outside.status_code == 404
        # The station's administrator may not remove the doctor, who is not theirs.
        theirs = await consent.delete(
            f"/subjects/{subject_id}/care-team/{doctor.user_id}", headers=station_admin.headers
        )
        assert theirs.status_code == 404
        removed = await consent.delete(
            f"/subjects/{subject_id}/care-team/{nurse.user_id}", headers=station_admin.headers
        )
        assert removed.status_code == 204, removed.text
        assert [m["user_id"] for m in await team_of(stack, subject_id, doctor)] == [str(doctor.user_id)]
        actions = await audit_actions(stack, tenant, subject_id)
        assert ("care_team.removed", {"member": str(nurse.user_id), "ground": "facility_admin"}) in actions


ADDRESS, PHONE, FAMILY_PHONE = "結市中央1-2-3", "0561-00-1234", "090-0000-5678"


async def withdrawn_subject(stack: Stack, doctor: Staff) -> UUID:
    subject_id = await subject_of(
        stack,
        doctor,
        name="撤回 花子",
        name_kana="テッカイ ハナコ",
        birth_date="1940-04-01",
        address=ADDRESS,
        phone=PHONE,
        postal_code="480-1100",
        family_contacts=[
            {"name": "撤回 一郎", "relation": "長男", "phone": FAMILY_PHONE, "address": ADDRESS}
        ],
    )
    consent = stack["consent"].client
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": "2026-11-01"}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text
    withdrawn = await consent.post(
        f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
    )
    assert withdrawn.status_code == 201, withdrawn.text
    return subject_id


class TestWithdrawnSubjects:
    async def test_ux8_the_working_list_holds_active_subjects_and_a_filter_shows_the_stopped_marked(
        self, stack: Stack
    ) -> None:
        tenant = f"stop-{uuid4().hex[:8]}"
        nurse = stack.staff(tenant=tenant)
        active = await subject_of(stack, nurse, name="支援 太郎", name_kana="シエン タロウ")
        stopped = await withdrawn_subject(stack, nurse)
        consent = stack["consent"].client

        async def listed(**params: str) -> list[tuple[str, str]]:
            answer = await consent.get("/subjects", params=params, headers=nurse.headers)
            assert answer.status_code == 200, answer.text
            return [(s["id"], s["status"]) for s in answer.json()]

        assert await listed() == [(str(active), "active")]
        assert await listed(status="support_stopped") == [(str(stopped), "support_stopped")]
        assert sorted(await listed(status="all")) == sorted(
            [(str(active), "active"), (str(stopped), "support_stopped")]
        )
        assert (
            await consent.get("/subjects", params={"status": "gone"}, headers=nurse.headers)
        ).status_code == 422

    async def test_ux8_no_read_route_returns_a_stopped_subjects_contact_details(self, stack: Stack) -> None:
        tenant = f"stop-{uuid4().hex[:8]}"
        nurse = stack.staff(tenant=tenant)
        subject_id = await withdrawn_subject(stack, nurse)
        consent = stack["consent"].client
        read = await consent.get(f"/subjects/{subject_id}", headers=nurse.headers)
        assert read.status_code == 200
        body = read.json()
        assert (body["name"], body["name_kana"], body["status"]) == (
            "撤回 花子",
            "テッカイ ハナコ",
            "support_stopped",
        )
        assert body["address"] is None and body["phone"] is None and body["postal_code"] is None
        assert body["family_contacts"] == [] and body["birth_date"] is None
        answers = [
            read,
            await consent.get(f"/subjects/{subject_id}/fhir", headers=nurse.headers),
            await consent.get("/subjects", params={"status": "all"}, headers=nurse.headers),
            await consent.get(f"/subjects/{subject_id}/care-team", headers=nurse.headers),
            await consent.get(f"/subjects/{subject_id}/consents", headers=nurse.headers),
            await consent.get(f"/subjects/{subject_id}/withdrawals", headers=nurse.headers),
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            for detail in (ADDRESS, PHONE, FAMILY_PHONE, "480-1100", "1940-04-01", "撤回 一郎"):
                assert detail not in answer.text, (answer.url, detail)
        # Nor is any written any more.
        edit = await consent.patch(
            f"/subjects/{subject_id}", json={"phone": "0561-99-9999"}, headers=nurse.headers
        )
        assert edit.status_code == 409 and edit.json()["type"].endswith("support-stopped")
        family = await consent.post(
            f"/subjects/{subject_id}/family-contacts",
            json={"name": "某", "relation": "甥"},
            headers=nurse.headers,
        )
        assert family.status_code == 409

    async def test_registering_renaming_and_stopping_are_announced_with_growing_versions(
        self, stack: Stack
    ) -> None:
        from services.consent.tests.test_care_team import events_about

        tenant = f"stop-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=tenant)
        subject_id = await subject_of(stack, doctor, name="改名 前", name_kana="カイメイ マエ", phone=PHONE)
        consent = stack["consent"].client
        renamed = await consent.patch(
            f"/subjects/{subject_id}",
            json={"name": "改名 後", "name_kana": "かいめい あと"},
            headers=doctor.headers,
        )
        assert renamed.status_code == 200, renamed.text
        # A change of contact details alone is not announced.
        assert (
            await consent.patch(
                f"/subjects/{subject_id}", json={"phone": "0561-11-2222"}, headers=doctor.headers
            )
        ).status_code == 200
        await consent.post(
            f"/subjects/{subject_id}/consents", json={"given_on": "2026-11-01"}, headers=doctor.headers
        )
        await consent.post(f"/subjects/{subject_id}/withdrawals", json={}, headers=doctor.headers)
        changes = [d for t, d in await events_about(stack, subject_id) if t == "consent.subject-changed.v1"]
        assert [(c["name"], c["name_kana"], c["status"], c["version"]) for c in changes] == [
            ("改名 前", "カイメイ マエ", "active", 1),
            ("改名 後", "かいめい あと", "active", 2),
            ("改名 後", "かいめい あと", "support_stopped", 3),
        ]
        assert all("phone" not in c and "address" not in c for c in changes)
        # The renamed kana is what the kana search finds now.
        found = await consent.get(
            "/subjects", params={"kana": "カイメイア", "status": "all"}, headers=doctor.headers
        )
        assert [s["id"] for s in found.json()] == [str(subject_id)]


class TestOtherNetworks:
    async def test_a_subject_of_another_network_is_404_on_every_route(self, stack: Stack) -> None:
        doctor = stack.staff(tenant=f"net-{uuid4().hex[:8]}")
        # The same user id signed in to another network, and that network's operator.
        impostor = stack.staff(tenant=f"net-{uuid4().hex[:8]}", user_id=doctor.user_id)
        subject_id = await subject_of(stack, doctor, name="網 太郎", name_kana="アミ タロウ")
        consent = stack["consent"].client
        for method, path, body in (
            ("GET", f"/subjects/{subject_id}", None),
            ("PATCH", f"/subjects/{subject_id}", {"name": "乗っ取り"}),
            ("GET", f"/subjects/{subject_id}/care-team", None),
            ("GET", f"/subjects/{subject_id}/care-team/invitations", None),
            ("POST", f"/subjects/{subject_id}/care-team", {"user_id": str(doctor.user_id)}),
            ("DELETE", f"/subjects/{subject_id}/care-team/{doctor.user_id}", None),
        ):
            answer = await consent.request(method, path, json=body, headers=impostor.headers)
            assert answer.status_code == 404, (method, path, answer.text)
        assert (
            await consent.get("/subjects", params={"status": "all"}, headers=impostor.headers)
        ).json() == []


async def give_network_municipalities(stack: Stack, tenant: str, places: dict[str, str]) -> None:
    """As identity's network events leave them in consent's tables (consumers/networks.py)."""
    from consent.models import Network, NetworkMunicipality

    async with stack["consent"].sessionmaker() as session, session.begin():
        session.add(Network(tenant=tenant, name="テスト ネット", withdrawal_mode="stop"))
        await session.flush()
        for code, name in places.items():
            session.add(NetworkMunicipality(tenant=tenant, municipality_code=code, name=name))


class TestNetworkMunicipalities:
    async def test_staff_read_their_own_networks_municipalities_by_name(self, stack: Stack) -> None:
        tenant = f"muni-{uuid4().hex[:8]}"
        await give_network_municipalities(stack, tenant, {"232360": "結市", "232378": "結町"})
        mine = await stack["consent"].client.get(
            "/municipalities", headers=stack.staff(tenant=tenant).headers
        )
        assert mine.status_code == 200
        assert mine.json() == [
            {"municipality_code": "232360", "name": "結市"},
            {"municipality_code": "232378", "name": "結町"},
        ]
        other = stack.staff(tenant=f"muni-{uuid4().hex[:8]}")
        assert (await stack["consent"].client.get("/municipalities", headers=other.headers)).json() == []
