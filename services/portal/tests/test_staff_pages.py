"""The staff UI through the portal (backend-for-frontend), its clients wired to the in-process services."""

from __future__ import annotations

import io
import re
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from tests.browser.staff_ui import (
    CSRF,
    NEW_PASSWORD,
    PASSWORD,
    Browser,
    Codes,
    Network,
    make_network,
    sign_in,
    trust_identity_keys,
)
from tests.support.stack import FROM_GATEWAY, Stack, eventually

# The smallest valid PNG (1x1): timeline recognises images by their content, not by their name.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


@pytest.fixture
async def network(stack: Stack) -> Network:
    return await make_network(stack)


def location(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.headers["location"])


async def register_subject(browser: Browser, *, kana: str | None = None, form: bytes | None = PNG) -> str:
    kana = kana or f"ユイ {uuid4().hex[:6]}"
    files = {"consent_form": ("consent.png", io.BytesIO(form), "image/png")} if form else None
    opened = await browser.get("/staff/subjects/new")
    token = CSRF.search(opened.text)
    assert token
    answer = await browser.post(
        "/staff/subjects/new",
        data={
            "csrf": token.group(1),
            "name": "結 花子",
            "name_kana": kana,
            "birth_date": "1940-04-01",
            "municipality_code": "232360",
            "given_by": "subject",
            "given_on": "2026-11-01",
        },
        files=files,
    )
    assert answer.status_code == 303, answer.text[:800]
    match = re.search(r"/staff/subjects/([0-9a-f-]{36})", location(answer))
    assert match and "done=registered" in location(answer), location(answer)
    return match.group(1)


async def timeline_knows(stack: Stack, subject_id: str, *members: UUID) -> None:
    """Timeline learns a subject's consent and care team from consent's events (a registration, an accepted
    invitation): wait until it holds the consent and every one of ``members`` on the team, so the timeline
    opens for them, takes their posts and lets them be mentioned or asked."""
    from timeline.models import CareTeamMember, SubjectAccess

    subject = UUID(subject_id)

    async def known() -> bool:
        async with stack["timeline"].sessionmaker() as session:
            access = await session.get(SubjectAccess, subject)
            on_team = await session.scalar(
                sa.select(sa.func.count())
                .select_from(CareTeamMember)
                .where(CareTeamMember.subject_id == subject, CareTeamMember.user_id.in_(members))
            )
        return access is not None and access.consent_active and on_team == len(set(members))

    await eventually(known, what="timeline to learn of the subject's consent and care team")


class TestSignIn:
    async def test_s1_password_and_totp_open_a_session_in_an_encrypted_httponly_cookie(
        self, stack: Stack, network: Network
    ) -> None:
        browser = await sign_in(stack, network.doctor)
        cookie = next(h for h in browser.set_cookie_headers if h.startswith("yui_staff="))
        assert "HttpOnly" in cookie and "Secure" in cookie and "samesite=lax" in cookie.lower()
        # No token in clear: an access token is a JWT (base64url JSON starting "eyJ").
        assert "eyJ" not in browser.cookies["yui_staff"]
        home = await browser.get("/staff")
        assert home.status_code == 200
        assert "山田 太郎" in home.text
        assert home.headers["cache-control"] == "no-store"

    async def test_s1_a_wrong_code_is_refused_with_the_one_answer(
        self, stack: Stack, network: Network
    ) -> None:
        await trust_identity_keys(stack)
        browser = Browser(stack["portal"].client)
        answer = await browser.form(
            "/staff/login",
            "/staff/login",
            {"tenant": network.tenant, "login_id": "doctor", "password": PASSWORD, "totp_code": "000000"},
        )
        assert answer.status_code == 401
        assert "ログインできませんでした" in answer.text
        assert "yui_staff" not in browser.cookies

    async def test_signed_out_pages_send_you_to_the_login_page_and_back(self, stack: Stack) -> None:
        answer = await Browser(stack["portal"].client).get("/staff/subjects?kana=%E3%83%A6")
        assert answer.status_code == 303
        assert location(answer).startswith("/staff/login?next=%2Fstaff%2Fsubjects")

    async def test_the_login_form_refuses_a_post_without_its_csrf_cookie(
        self, stack: Stack, network: Network
    ) -> None:
        answer = await stack["portal"].client.post(
            "/staff/login",
            data={"tenant": network.tenant, "login_id": "doctor", "password": PASSWORD, "csrf": "forged"},
        )
        assert answer.status_code == 403

    async def test_a_signed_in_form_without_its_csrf_token_is_refused(
        self, stack: Stack, network: Network
    ) -> None:
        browser = await sign_in(stack, network.doctor)
        answer = await browser.post("/staff/groups", data={"name": "研修"})
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("application/problem+json")
        forged = await browser.post("/staff/groups", data={"name": "研修", "csrf": "x" * 32})
        assert forged.status_code == 403

    async def test_i12_sessions_are_listed_and_logout_ends_the_session(
        self, stack: Stack, network: Network
    ) -> None:
        browser = await sign_in(stack, network.doctor)
        sessions = await browser.get("/staff/sessions")
        assert sessions.status_code == 200 and "この端末" in sessions.text
        out = await browser.form("/staff", "/staff/logout", {})
        assert out.status_code == 303 and "done=signed_out" in location(out)
        assert "yui_staff" not in browser.cookies
        assert (await browser.get("/staff")).status_code == 303

    async def test_i4_first_login_chooses_a_password_and_enrols_the_authenticator(
        self, stack: Stack, network: Network
    ) -> None:
        admin = await sign_in(stack, network.doctor)
        created = await admin.form(
            "/staff/facility/users",
            "/staff/facility/users",
            {"login_id": "pharmacist", "display_name": "鈴木 薬子", "profession": "pharmacist"},
        )
        assert created.status_code == 200, created.text[:500]
        initial = re.search(r'id="issued-password">([^<]+)<', created.text)
        assert initial, "the initial password is shown once"
        newcomer = Browser(stack["portal"].client)
        first = await newcomer.form(
            "/staff/login",
            "/staff/login",
            {"tenant": network.tenant, "login_id": "pharmacist", "password": initial.group(1)},
        )
        assert first.status_code == 303 and location(first).endswith("/staff/first-login")
        enrol = await newcomer.get("/staff/first-login")
        secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text)
        assert secret, enrol.text[:800]
        codes = Codes(secret.group(1))
        token = CSRF.search(enrol.text)
        assert token
        changed = await newcomer.post(
            "/staff/first-login",
            data={
                "csrf": token.group(1),
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
                "totp_code": codes.next(),
            },
        )
        assert changed.status_code == 303 and "password_changed" in location(changed), changed.text[:500]
        signed_in = await newcomer.form(
            "/staff/login",
            "/staff/login",
            {
                "tenant": network.tenant,
                "login_id": "pharmacist",
                "password": NEW_PASSWORD,
                "totp_code": codes.next(),
            },
        )
        assert signed_in.status_code == 303
        assert "鈴木 薬子" in (await newcomer.get("/staff")).text


class TestSubjects:
    async def test_c2_registers_a_subject_with_consent_and_the_scanned_form(
        self, stack: Stack, network: Network
    ) -> None:
        browser = await sign_in(stack, network.doctor)
        subject_id = await register_subject(browser)
        page = await browser.get(f"/staff/subjects/{subject_id}")
        assert page.status_code == 200
        assert "同意あり" in page.text
        form_link = f"/staff/subjects/{subject_id}/consents/"
        assert form_link in page.text
        href = re.search(rf'href="({form_link}[0-9a-f-]+/form)"', page.text)
        assert href
        scanned = await browser.get(href.group(1))
        assert scanned.status_code == 200 and scanned.content == PNG
        home = await browser.get("/staff")
        assert "結 花子" in home.text

    async def test_c9_a_likely_duplicate_is_shown_before_a_second_registration(
        self, stack: Stack, network: Network
    ) -> None:
        browser = await sign_in(stack, network.doctor)
        kana = f"ユイ {uuid4().hex[:6]}"
        await register_subject(browser, kana=kana)
        opened = await browser.get("/staff/subjects/new")
        token = CSRF.search(opened.text)
        assert token
        fields = {
            "csrf": token.group(1),
            "name": "結 花子",
            "name_kana": kana,
            "birth_date": "1940-04-01",
            "municipality_code": "232360",
            "given_on": "2026-11-01",
        }
        again = await browser.post("/staff/subjects/new", data=fields)
        assert again.status_code == 409
        assert "同じ方が登録済みかもしれません" in again.text and 'name="confirm_not_duplicate"' in again.text
        confirmed = await browser.post(
            "/staff/subjects/new", data={**fields, "confirm_not_duplicate": "true"}
        )
        assert confirmed.status_code == 303

    async def test_c6_outsiders_see_a_refusal_not_the_subject(self, stack: Stack, network: Network) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor)
        nurse = await sign_in(stack, network.nurse)
        refused = await nurse.get(f"/staff/subjects/{subject_id}")
        assert refused.status_code == 404
        assert "結 花子" not in refused.text


class TestTimeline:
    async def test_t1_care_team_post_with_photo_read_mark_then_withdrawal_stops_support(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor)
        invited = await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/care-team",
            {"user_id": str(network.nurse.user_id), "facility_id": str(network.station_id)},
        )
        assert invited.status_code == 303, invited.text[:500]
        nurse = await sign_in(stack, network.nurse)
        home = await nurse.get("/staff")
        accept = re.search(r'action="(/staff/invitations/[0-9a-f-]+/accept)"', home.text)
        assert accept, home.text[:1500]
        joined = await nurse.form("/staff", accept.group(1), {})
        assert joined.status_code == 303
        # An answered invitation is no longer offered.
        assert "/accept" not in (await nurse.get("/staff")).text
        await timeline_knows(stack, subject_id, network.doctor.user_id, network.nurse.user_id)

        timeline = f"/staff/subjects/{subject_id}/timeline"
        opened = await doctor.get(timeline)
        token = CSRF.search(opened.text)
        assert token and "post-form" in opened.text
        posted = await doctor.post(
            f"/staff/subjects/{subject_id}/posts",
            data={
                "csrf": token.group(1),
                "body": "本日訪問。褥瘡の写真です。",
                "category": "visit",
                "mentions": str(network.nurse.user_id),
            },
            files={"files": ("wound.png", io.BytesIO(PNG), "image/png")},
        )
        assert posted.status_code == 303, posted.text[:800]
        post_id = location(posted).split("#post-")[1]
        page = await doctor.get(timeline)
        assert "本日訪問。褥瘡の写真です。" in page.text and "wound.png" in page.text
        assert "既読 0" in page.text

        read = await nurse.get(f"/staff/posts/{post_id}")
        assert read.status_code == 200 and "本日訪問" in read.text
        # The photo opens in the page's viewer (inline); its download link asks for an attachment.
        download = re.search(r'href="(/staff/attachments/[0-9a-f-]+/content\?download=1)"', read.text)
        assert download
        photo = await nurse.get(download.group(1))
        assert photo.status_code == 200 and photo.content == PNG
        assert photo.headers["content-disposition"].startswith("attachment")
        shown = await nurse.get(download.group(1).removesuffix("?download=1"))
        assert shown.status_code == 200 and shown.headers["content-disposition"] == "inline"
        thread = await doctor.get(f"/staff/posts/{post_id}")
        assert "佐藤 花子" in thread.text  # the read mark names the reader
        assert "既読 1" in (await doctor.get(timeline)).text

        withdrawn = await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/withdrawals",
            {"requested_by": "subject", "confirmed": "true"},
        )
        assert withdrawn.status_code == 303 and "done=withdrawn" in location(withdrawn)

        async def stopped_for(browser: Browser) -> bool:
            answer = await browser.get(timeline)
            return "支援を停止しました" in answer.text and "post-form" not in answer.text

        await eventually(lambda: stopped_for(doctor), what="the author to see support stopped")
        await eventually(lambda: stopped_for(nurse), what="the colleague to see support stopped")

        async def cascade_done() -> bool:
            return (
                "支援停止が完了しました"
                in (await doctor.get(f"/staff/subjects/{subject_id}/withdrawals")).text
            )

        await eventually(cascade_done, what="the cascade's progress to show done")

    async def test_t_an_upload_with_progress_streams_to_timeline_and_attaches_by_id(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor, form=None)
        await timeline_knows(stack, subject_id, network.doctor.user_id)
        opened = await doctor.get(f"/staff/subjects/{subject_id}/timeline")
        token = CSRF.search(opened.text)
        assert token
        uploaded = await doctor.post(
            f"/staff/subjects/{subject_id}/attachments",
            params={"filename": "写真.png"},
            content=PNG,
            headers={"X-CSRF-Token": token.group(1), "Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
        attachment_id = uploaded.json()["id"]
        posted = await doctor.post(
            f"/staff/subjects/{subject_id}/posts",
            data={"csrf": token.group(1), "body": "写真を添付", "attachment_id": attachment_id},
        )
        assert posted.status_code == 303
        assert "写真.png" in (await doctor.get(f"/staff/subjects/{subject_id}/timeline")).text
        refused = await doctor.post(
            f"/staff/subjects/{subject_id}/attachments", params={"filename": "x.png"}, content=PNG
        )
        assert refused.status_code == 403  # no CSRF header

    async def test_t5_reply_edit_versions_and_search(self, stack: Stack, network: Network) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor, form=None)
        await timeline_knows(stack, subject_id, network.doctor.user_id)
        posted = await doctor.form(
            f"/staff/subjects/{subject_id}/timeline",
            f"/staff/subjects/{subject_id}/posts",
            {"body": "血圧 128/76", "category": "vital_signs"},
        )
        post_id = location(posted).split("#post-")[1]
        replied = await doctor.form(
            f"/staff/posts/{post_id}", f"/staff/posts/{post_id}/replies", {"body": "了解"}
        )
        assert replied.status_code == 303
        edited = await doctor.form(
            f"/staff/posts/{post_id}", f"/staff/posts/{post_id}/versions", {"body": "血圧 130/80"}
        )
        assert edited.status_code == 303
        versions = await doctor.get(f"/staff/posts/{post_id}/versions")
        assert "血圧 128/76" in versions.text and "血圧 130/80" in versions.text
        thread = await doctor.get(f"/staff/posts/{post_id}")
        assert "了解" in thread.text and "第2版" in thread.text

        async def found() -> bool:
            hits = await doctor.get(f"/staff/subjects/{subject_id}/timeline", params={"q": "血圧"})
            return "血圧 130/80" in hits.text

        await eventually(found, what="search to find the post")


class TestGroupsAndNotifications:
    async def test_t6_a_group_is_created_and_posted_to(self, stack: Stack, network: Network) -> None:
        doctor = await sign_in(stack, network.doctor)
        created = await doctor.form(
            "/staff/groups", "/staff/groups", {"name": "地域連携研修", "purpose": "training"}
        )
        assert created.status_code == 303
        group_page = location(created).split("?")[0]
        posted = await doctor.form(group_page, group_page + "/posts", {"body": "来月の研修の資料です"})
        assert posted.status_code == 303
        page = await doctor.get(group_page)
        assert "来月の研修の資料です" in page.text
        assert "地域連携研修" in (await doctor.get("/staff/groups")).text

    async def test_notifications_reach_the_inbox_and_can_be_marked_read(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor, form=None)
        await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/care-team",
            {"user_id": str(network.nurse.user_id), "facility_id": str(network.station_id)},
        )
        nurse = await sign_in(stack, network.nurse)
        accept = re.search(
            r'action="(/staff/invitations/[0-9a-f-]+/accept)"', (await nurse.get("/staff")).text
        )
        assert accept
        await nurse.form("/staff", accept.group(1), {})
        await timeline_knows(stack, subject_id, network.doctor.user_id, network.nurse.user_id)
        posted = await doctor.form(
            f"/staff/subjects/{subject_id}/timeline",
            f"/staff/subjects/{subject_id}/posts",
            {"body": "ご確認ください", "mentions": str(network.nurse.user_id)},
        )
        assert posted.status_code == 303, posted.text[:500]

        async def mentioned() -> bool:
            return "あなた宛ての投稿があります" in (await nurse.get("/staff/notifications")).text

        await eventually(mentioned, what="the mention to reach the nurse's inbox")
        cleared = await nurse.form("/staff/notifications", "/staff/notifications/read-all", {})
        assert cleared.status_code == 303
        assert "未読: 0 件" in (await nurse.get("/staff/notifications")).text


class TestFacilityAdministrator:
    async def test_i3_the_administrator_creates_a_user_and_downloads_a_device_certificate(
        self, stack: Stack, network: Network
    ) -> None:
        admin = await sign_in(stack, network.doctor)
        created = await admin.form(
            "/staff/facility/users",
            "/staff/facility/users",
            {"login_id": "clerk", "display_name": "事務 一郎"},
        )
        assert created.status_code == 200 and 'id="issued-password"' in created.text
        # The page names the new user, never shows their id: the id is only in the form's option value.
        user_id = re.search(r'<option value="([0-9a-f-]+)">事務 一郎</option>', created.text)
        assert user_id
        certificate = await admin.form(
            "/staff/facility/users",
            "/staff/facility/certificates",
            {"user_id": user_id.group(1), "terminal_label": "tablet-1", "pin": "483920"},
        )
        assert certificate.status_code == 200, certificate.text[:500]
        assert certificate.headers["content-type"] == "application/x-pkcs12"
        assert "attachment" in certificate.headers["content-disposition"]
        listed = await admin.get("/staff/facility/users")
        assert "tablet-1" in listed.text

    async def test_staff_without_the_role_are_refused_the_facility_pages(
        self, stack: Stack, network: Network
    ) -> None:
        nurse = await sign_in(stack, network.nurse)
        assert (await nurse.get("/staff/facility/users")).status_code == 403

    async def test_english_pages_are_english(self, stack: Stack, network: Network) -> None:
        doctor = await sign_in(stack, network.doctor)
        page = await doctor.get("/staff", params={"lang": "en"})
        assert "My patients" in page.text and "担当の利用者" not in page.text


class TestSessionsAndSecondFactors:
    async def test_an_access_token_near_its_end_is_refreshed_and_the_cookie_replaced(
        self, stack: Stack, network: Network, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import portal.session

        browser = await sign_in(stack, network.doctor)
        first = browser.cookies["yui_staff"]
        # Every token now counts as about to end: each request refreshes (and identity rotates the refresh token).
        monkeypatch.setattr(portal.session, "REFRESH_MARGIN_S", 10**6)
        for _ in range(2):
            page = await browser.get("/staff")
            assert page.status_code == 200 and "山田 太郎" in page.text
            assert any(h.startswith("yui_staff=") for h in page.headers.get_list("set-cookie"))
        assert browser.cookies["yui_staff"] != first

    async def test_s1_password_and_client_certificate_sign_in_and_the_session_needs_that_certificate(
        self, stack: Stack, network: Network
    ) -> None:
        from urllib.parse import quote

        from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

        admin = await sign_in(stack, network.doctor)
        issued = await admin.form(
            "/staff/facility/users",
            "/staff/facility/certificates",
            {"user_id": str(network.doctor.user_id), "terminal_label": "clinic-tablet", "pin": "271828"},
        )
        assert issued.status_code == 200, issued.text[:300]
        _, certificate, _ = pkcs12.load_key_and_certificates(issued.content, b"271828")
        assert certificate is not None
        # What the gateway adds after verifying the browser's certificate against our CA.
        presented = {
            **FROM_GATEWAY,
            "X-Client-Verify": "SUCCESS",
            "X-Client-Cert": quote(certificate.public_bytes(Encoding.PEM).decode(), safe=""),
        }
        terminal = Browser(stack["portal"].client)
        login_page = await terminal.get("/staff/login", headers=presented)
        assert "確認コードは不要です" in login_page.text
        token = CSRF.search(login_page.text)
        assert token
        signed_in = await terminal.post(
            "/staff/login",
            data={
                "csrf": token.group(1),
                "tenant": network.tenant,
                "login_id": "doctor",
                "password": PASSWORD,
            },
            headers=presented,
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        with_certificate = await terminal.get("/staff", headers=presented)
        assert with_certificate.status_code == 200 and "山田 太郎" in with_certificate.text
        # The session is bound to the certificate: the same cookie without it is not signed in.
        assert (await terminal.get("/staff")).status_code == 303


class TestRequestsBetweenPeople:
    async def test_t2_a_support_request_reaches_the_addressee(self, stack: Stack, network: Network) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor, form=None)
        await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/care-team",
            {"user_id": str(network.nurse.user_id), "facility_id": str(network.station_id)},
        )
        nurse = await sign_in(stack, network.nurse)
        accept = re.search(
            r'action="(/staff/invitations/[0-9a-f-]+/accept)"', (await nurse.get("/staff")).text
        )
        assert accept
        await nurse.form("/staff", accept.group(1), {})
        await timeline_knows(stack, subject_id, network.doctor.user_id, network.nurse.user_id)
        asked = await doctor.form(
            f"/staff/subjects/{subject_id}/timeline",
            f"/staff/subjects/{subject_id}/posts",
            {"body": "創部の処置方法を教えてください", "addressee": str(network.nurse.user_id)},
        )
        assert asked.status_code == 303
        received = await nurse.get("/staff/support-requests")
        assert "創部の処置方法を教えてください" in received.text and "支援依頼中" in received.text
        sent = await doctor.get("/staff/support-requests", params={"box": "sent"})
        assert "創部の処置方法を教えてください" in sent.text

    async def test_c5_exceptional_access_is_requested_for_a_subject_outside_my_team(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor, form=None)
        nurse = await sign_in(stack, network.nurse)
        asked = await nurse.form(
            f"/staff/exceptional-access?subject_id={subject_id}",
            "/staff/exceptional-access",
            {"subject_id": subject_id, "ground": "disaster", "reason": "避難所で服薬状況の確認が必要"},
        )
        assert asked.status_code == 303, asked.text[:300]
        listed = await nurse.get("/staff/exceptional-access")
        assert "審査中" in listed.text and "災害" in listed.text


class TestNotificationKinds:
    async def test_a_notification_kind_newer_than_the_catalogue_is_shown_as_is(
        self, stack: Stack, network: Network
    ) -> None:
        from notify.models import Notification

        async with stack["notify"].sessionmaker() as session, session.begin():
            session.add(
                Notification(
                    tenant=network.tenant,
                    user_id=network.doctor.user_id,
                    kind="survey.opened",
                    source_event_id=uuid4(),
                )
            )
        doctor = await sign_in(stack, network.doctor)
        for path in ("/staff", "/staff/notifications"):
            page = await doctor.get(path)
            assert page.status_code == 200 and "survey.opened" in page.text


class TestMoreOfTheJourney:
    async def test_p2_users_only_notices_show_on_the_staff_home(self, stack: Stack, network: Network) -> None:
        operator = stack.staff(tenant=network.tenant, roles=("operator",))
        posted = await stack["portal"].client.post(
            "/api/operator/notices",
            json={"audience": "users", "title": "訪問記録の書き方講習会", "body": "12月5日に開催します"},
            headers=operator.headers,
        )
        assert posted.status_code == 201, posted.text
        home = await (await sign_in(stack, network.doctor)).get("/staff")
        assert "訪問記録の書き方講習会" in home.text and "12月5日に開催します" in home.text

    async def test_t2_the_requester_adopts_the_addressees_answer(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        subject_id = await register_subject(doctor, form=None)
        await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/care-team",
            {"user_id": str(network.nurse.user_id), "facility_id": str(network.station_id)},
        )
        nurse = await sign_in(stack, network.nurse)
        accept = re.search(
            r'action="(/staff/invitations/[0-9a-f-]+/accept)"', (await nurse.get("/staff")).text
        )
        assert accept
        await nurse.form("/staff", accept.group(1), {})
        await timeline_knows(stack, subject_id, network.doctor.user_id, network.nurse.user_id)
        asked = await doctor.form(
            f"/staff/subjects/{subject_id}/timeline",
            f"/staff/subjects/{subject_id}/posts",
            {"body": "軟膏の種類を相談したい", "addressee": str(network.nurse.user_id)},
        )
        assert asked.status_code == 303, asked.text[:500]
        post_id = location(asked).split("#post-")[1]
        answered = await nurse.form(
            f"/staff/posts/{post_id}",
            f"/staff/posts/{post_id}/replies",
            {"body": "ワセリンで様子を見ましょう"},
        )
        assert answered.status_code == 303
        thread = await doctor.get(f"/staff/posts/{post_id}")
        assert "回答あり" in thread.text and 'value="adopted"' in thread.text
        decided = await doctor.form(
            f"/staff/posts/{post_id}", f"/staff/posts/{post_id}/support-decision", {"decision": "adopted"}
        )
        assert decided.status_code == 303
        assert "採用" in (await doctor.get(f"/staff/posts/{post_id}")).text

    async def test_t6_a_colleague_invited_to_a_group_joins_and_reads_it(
        self, stack: Stack, network: Network
    ) -> None:
        doctor = await sign_in(stack, network.doctor)
        created = await doctor.form("/staff/groups", "/staff/groups", {"name": "多職種連携会議"})
        group_page = location(created).split("?")[0]
        await doctor.form(group_page, group_page + "/posts", {"body": "議事録を共有します"})
        invited = await doctor.form(
            group_page, group_page + "/invitations", {"user_id": str(network.nurse.user_id)}
        )
        assert invited.status_code == 303
        nurse = await sign_in(stack, network.nurse)
        before = await nurse.get(group_page)
        assert "議事録を共有します" not in before.text and "参加する" in before.text
        joined = await nurse.form(group_page, group_page + "/join", {})
        assert joined.status_code == 303
        assert "議事録を共有します" in (await nurse.get(group_page)).text


class TestRevokedSessions:
    async def test_i13_a_suspended_user_is_signed_out_of_the_staff_ui_at_once(
        self, stack: Stack, network: Network
    ) -> None:
        from yui_common.revocations import revoke

        nurse = await sign_in(stack, network.nurse)
        assert (await nurse.get("/staff")).status_code == 200
        # What the portal's worker records when identity.user-suspended.v1 arrives.
        async with stack["portal"].sessionmaker() as session, session.begin():
            await revoke(
                session, kind="user", value=str(network.nurse.user_id), tenant=network.tenant, revoked_at=None
            )
        refused = await nurse.get("/staff")
        assert refused.status_code == 303 and "/staff/login" in refused.headers["location"]


class TestOperatorsWayIn:
    async def test_p2_an_operator_reaches_the_notice_and_maintenance_pages_from_the_staff_ui(
        self, stack: Stack, network: Network
    ) -> None:
        from tests.browser.staff_ui import add_person

        operator = await add_person(
            stack,
            tenant=network.tenant,
            facility_name="結町 高齢者支援課",
            kind="municipality",
            login_id="operator",
            name="市役所 担当",
            roles=["operator", "staff"],
        )
        browser = await sign_in(stack, operator)
        home = await browser.get("/staff")
        assert 'href="/operator"' in home.text and 'href="/admin"' in home.text
        assert (await browser.get("/operator")).status_code == 200
        nurse = await sign_in(stack, network.nurse)
        assert 'href="/operator"' not in (await nurse.get("/staff")).text
