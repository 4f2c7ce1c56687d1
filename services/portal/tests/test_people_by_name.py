"""People by name in the staff UI (issue 10): a group's member invites a colleague found in identity's directory,
and the facility's certificates name their holder; no page asks for or shows an id."""

from __future__ import annotations

import re

import pytest

from tests.browser.staff_ui import Network, make_network, sign_in
from tests.support.stack import Stack

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
VISIBLE_INPUT = re.compile(r"<input(?![^>]*type=\"hidden\")[^>]*>")


@pytest.fixture
async def network(stack: Stack) -> Network:
    return await make_network(stack)


def visible_inputs(html: str) -> list[str]:
    return VISIBLE_INPUT.findall(html)


class TestGroupInvitationByName:
    async def test_ux1_a_member_finds_a_colleague_by_name_and_invites_them_with_one_button(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        created = await doctor.form("/staff/groups", "/staff/groups", {"name": "地域連携研修"})
        assert created.status_code == 303, created.text[:500]
        group_page = created.headers["location"].split("?")[0]

        opened = await doctor.get(group_page)
        assert "同僚を探してグループに招待" in opened.text
        assert not any('name="user_id"' in field for field in visible_inputs(opened.text))

        found = await doctor.get(group_page, params={"colleague": "佐藤"})
        assert found.status_code == 200
        assert "佐藤 花子" in found.text
        assert "佐藤 花子 さんをグループに招待する" in found.text
        invite = re.search(
            r'action="(/staff/groups/[0-9a-f-]+/invitations)"[^>]*>\s*'
            r'<input type="hidden" name="csrf" value="([^"]+)">\s*'
            r'<input type="hidden" name="user_id" value="([0-9a-f-]+)">',
            found.text,
        )
        assert invite, found.text[:2000]
        assert invite.group(3) == str(network.nurse.user_id)
        # Only the doctor is a member: the doctor is not offered to themself.
        assert "山田 太郎 さんをグループに招待する" not in found.text

        invited = await doctor.post(
            invite.group(1), data={"csrf": invite.group(2), "user_id": invite.group(3)}
        )
        assert invited.status_code == 303, invited.text[:500]
        after = await doctor.get(group_page, params={"colleague": "佐藤"})
        members = after.text.split('id="members-h"')[1]
        assert "佐藤 花子" in members.split("colleague-search")[0]  # listed as invited
        assert "佐藤 花子 さんをグループに招待する" not in after.text  # and not offered again

        nurse = await sign_in(stack, network.nurse)
        assert "地域連携研修" in (await nurse.get("/staff/groups")).text


class TestCertificatesByName:
    async def test_ux1_a_certificate_names_its_holder_from_the_facilitys_users(
        self, stack: Stack, network: Network
    ) -> None:
        admin = await sign_in(stack, network.doctor)
        created = await admin.form(
            "/staff/facility/users",
            "/staff/facility/users",
            {"login_id": "clerk", "display_name": "事務 一郎"},
        )
        assert created.status_code == 200, created.text[:500]
        holder = re.search(r'<option value="([0-9a-f-]+)">事務 一郎</option>', created.text)
        assert holder
        issued = await admin.form(
            "/staff/facility/users",
            "/staff/facility/certificates",
            {"user_id": holder.group(1), "terminal_label": "tablet-1", "pin": "483920"},
        )
        assert issued.status_code == 200, issued.text[:500]
        listed = await admin.get("/staff/facility/users")
        assert re.search(r"<tr><td>事務 一郎</td><td>tablet-1</td>", listed.text), listed.text[-3000:]
        certificates = re.findall(r"<table>.*?</table>", listed.text, re.S)[-1]
        shown = re.sub(r"<[^>]+>", " ", certificates)
        assert not UUID_PATTERN.search(shown) and not re.search(r"#[0-9a-f]{8}(?![0-9a-f])", shown)


class TestExceptionalAccessWithoutAnId:
    async def test_ux1_a_patient_outside_the_team_is_found_at_registration_and_asked_for_without_an_id(
        self, stack: Stack, network: Network
    ) -> None:
        from services.portal.tests.test_staff_pages import register_subject

        doctor, nurse = await sign_in(stack, network.doctor), await sign_in(stack, network.nurse)
        await register_subject(doctor, kana="ユイ キヨ", form=None)

        start = await nurse.get("/staff/exceptional-access")
        assert "新規登録の画面で利用者を探す" in start.text
        assert 'name="subject_id"' not in start.text  # nothing asks for the patient's id

        opened = await nurse.get("/staff/subjects/new")
        token = re.search(r'name="csrf" value="([^"]+)"', opened.text)
        assert token
        found = await nurse.post(
            "/staff/subjects/new",
            data={
                "csrf": token.group(1),
                "name": "結 キヨ",
                "name_kana": "ユイ キヨ",
                "birth_date": "1940-04-01",
                "municipality_code": "232360",
                "given_on": "2026-11-01",
            },
        )
        assert found.status_code == 409
        # A button posts the patient it found: no name or birth date goes into a URL, which logs keep.
        assert "/staff/exceptional-access?" not in found.text
        button = re.search(
            r'formaction="/staff/exceptional-access/found"[^>]* name="found" value="([^"]+)"', found.text
        )
        assert button, found.text[:2000]
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.text))
        request_page = await nurse.post(
            "/staff/exceptional-access/found", data={**hidden, "found": button.group(1)}
        )
        assert "申請する利用者: ユイ キヨ" in request_page.text
        assert "1940-04-01 生まれ" in request_page.text
        subject_field = re.search(
            r'<input type="hidden" name="subject_id" value="([0-9a-f-]{36})">', request_page.text
        )
        assert subject_field
        assert not any('name="subject_id"' in field for field in visible_inputs(request_page.text))

        asked = await nurse.post(
            "/staff/exceptional-access",
            data={
                "csrf": token.group(1),
                "subject_id": subject_field.group(1),
                "ground": "disaster",
                "reason": "避難所で服薬状況の確認が必要",
            },
        )
        assert asked.status_code == 303, asked.text[:300]
        assert "審査中" in (await nurse.get("/staff/exceptional-access")).text
