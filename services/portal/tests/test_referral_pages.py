"""Referral pages of the staff UI (issue 12, item 4) against the real in-process stack: home's care team refers a
subject from the subject page (facility chosen by name, categories the agreement allows, bad input answered on the
form), the peer's permitted nurse finds the subject under 「他地域から共有」, reads the timeline fetched from home and
replies, which lands at home; a profession outside the agreement sees nothing; ending and withdrawal are said in
words on both sides. No page shows an id."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from yui_common import networks
from yui_common.events.identity import NetworkStateV1
from yui_common.web import today_in_japan

from services.federation.tests.referral_support import give_professions, referral_agreement
from services.portal.tests.public_site_support import cookie_of
from services.portal.tests.test_agreement_pages import CSRF, UUID_TEXT, visible_text
from tests.support.networks import NetworkWorld, build_networks
from tests.support.stack import Stack, eventually

SHARED_LINK = re.compile(r'href="/staff/shared/([0-9a-f-]{36})"')


def cookie(stack: Stack, world: NetworkWorld, who: str) -> dict[str, str]:
    """A browser signed in to the staff UI as one of the network's people (their real token)."""
    token = world.headers(who)["Authorization"].removeprefix("Bearer ")
    return cookie_of(stack, SimpleNamespace(token=token))  # type: ignore[arg-type]


async def portal(
    stack: Stack, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    return await stack["portal"].client.request(method, path, headers=headers, **kwargs)


def no_id_shown(page: str) -> str:
    text = visible_text(page)
    assert not UUID_TEXT.search(text), UUID_TEXT.findall(text)
    return text


async def referral_offered(stack: Stack, home: NetworkWorld, doctor: dict[str, str]) -> str:
    """The subject page once federation heard of the subject, its consent and care team (and offers the agreement)."""

    async def offered() -> str | None:
        page = await portal(stack, "GET", f"/staff/subjects/{home.ids['subject']}", doctor)
        assert page.status_code == 200, page.text[:800]
        return page.text if 'name="choice"' in page.text else None

    return await eventually(offered, what="the refer form on the subject page")


def refer_form(home: NetworkWorld, agreement_id: str, facility_id: object, **changes: Any) -> dict[str, Any]:
    today = today_in_japan()
    return {
        **CSRF,
        "choice": f"{agreement_id}:{facility_id}",
        "purpose": "退院後の訪問看護のため",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(),
        "categories": ["visit"],
        "consent_basis": "consent",
        **changes,
    }


async def shared_at_peer(stack: Stack, nurse: dict[str, str]) -> str:
    async def listed() -> str | None:
        page = await portal(stack, "GET", "/staff/shared", nurse)
        assert page.status_code == 200, page.text[:800]
        return page.text if SHARED_LINK.search(page.text) else None

    return await eventually(listed, what="the subject under 他地域から共有")


async def referred(stack: Stack) -> tuple[NetworkWorld, NetworkWorld, str]:
    home, peer = await build_networks(stack, 2)
    # The peer's clinic nurse may see visits, vitals and その他; its doctor's profession is outside the agreement.
    await give_professions(stack, peer, {"nurse": "nurse", "doctor": "doctor"})
    await give_professions(stack, home, {"doctor": "doctor"})
    # Federation knows both networks by name (identity's network event fills its projection so).
    async with stack["federation"].sessionmaker() as session, session.begin():
        for world in (home, peer):
            await networks.apply(
                session, world.tenant, NetworkStateV1(slug=world.tenant, name=world.name, version=1)
            )
    agreement_id = await referral_agreement(stack, home, peer)
    return home, peer, agreement_id


class TestReferralThroughThePages:
    async def test_fed2_home_refers_on_the_subject_page_and_the_peer_nurse_reads_and_replies(
        self, stack: Stack
    ) -> None:
        home, peer, agreement_id = await referred(stack)
        doctor, nurse = cookie(stack, home, "doctor"), cookie(stack, peer, "nurse")
        subject_id = home.ids["subject"]

        page = await referral_offered(stack, home, doctor)
        text = no_id_shown(page)
        assert "他地域への紹介" in text and "まだ紹介はありません" in text
        # The facility is chosen by name under its network; only what the agreement allows is offered.
        assert f'value="{agreement_id}:{peer.clinic_id}"' in page and f"{peer.label}クリニック" in text
        # The timeline's post categories only: a record section the agreement names (vitals) is not shared by a
        # referral.
        assert 'name="categories" value="visit"' in page and 'name="categories" value="vitals"' not in page
        assert 'name="categories" value="medication"' not in page
        assert "訪問" in text and "本人同意" in text and "代諾" in text
        today = today_in_japan()
        assert (
            f'value="{today.isoformat()}"' in page
            and f'value="{(today + timedelta(days=30)).isoformat()}"' in page
        )

        # The categories follow the chosen facility's agreement (htmx asks for them).
        fragment = await portal(
            stack,
            "GET",
            f"/staff/subjects/{subject_id}/referrals/categories",
            {**doctor, "HX-Request": "true"},
            params={"choice": f"{agreement_id}:{peer.clinic_id}"},
        )
        assert fragment.status_code == 200 and fragment.text.lstrip().startswith(
            '<fieldset id="referral-categories"'
        )

        # Bad input is answered on the form, as typed, never a 500.
        yesterday = (today - timedelta(days=1)).isoformat()
        late = await portal(
            stack,
            "POST",
            f"/staff/subjects/{subject_id}/referrals",
            doctor,
            data=refer_form(home, agreement_id, peer.clinic_id, ends_on=yesterday, purpose="入力を残す"),
        )
        assert late.status_code == 422, late.text[:800]
        assert "期間が正しくありません" in late.text and "入力を残す" in late.text
        outside = await portal(
            stack,
            "POST",
            f"/staff/subjects/{subject_id}/referrals",
            doctor,
            data=refer_form(home, agreement_id, peer.clinic_id, categories=["medication"]),
        )
        assert outside.status_code == 422 and "協定で認められていない情報" in outside.text
        nothing = await portal(
            stack,
            "POST",
            f"/staff/subjects/{subject_id}/referrals",
            doctor,
            data=refer_form(home, agreement_id, peer.clinic_id, categories=[], choice="not-a-choice"),
        )
        assert nothing.status_code == 422 and "入力内容を確認してください" in nothing.text
        no_id_shown(nothing.text)

        made = await portal(
            stack,
            "POST",
            f"/staff/subjects/{subject_id}/referrals",
            doctor,
            data=refer_form(home, agreement_id, peer.clinic_id, categories=["visit", "other"]),
        )
        assert made.status_code == 303, made.text[:800]
        listed = no_id_shown((await portal(stack, "GET", made.headers["location"], doctor)).text)
        assert (
            "紹介しました" in listed
            and "共有中" in listed
            and f"{peer.name}・{peer.label}クリニック" in listed
        )
        assert "訪問、その他" in listed and f"{today.year}年{today.month}月{today.day}日〜" in listed
        assert f"網{home.label}秘匿 医師（医師、{home.label}クリニック）" in listed

        # The peer's nurse: the nav entry, the subject shared from home, who referred them.
        shared = await shared_at_peer(stack, nurse)
        text = no_id_shown(shared)
        assert ">他地域から共有<" in shared
        assert f"網{home.label}秘匿 太郎" in text and "ヒトクコウ タロウ" in text
        assert f"{home.name}から共有" in text and "退院後の訪問看護のため" in text
        assert f"網{home.label}秘匿 医師（医師、{home.label}クリニック）" in text
        link = SHARED_LINK.search(shared)
        assert link
        referral_page = f"/staff/shared/{link.group(1)}"

        timeline = await portal(stack, "GET", referral_page, nurse)
        assert timeline.status_code == 200, timeline.text[:800]
        text = no_id_shown(timeline.text)
        assert f"網{home.label}秘匿 訪問しました" in text
        assert f"網{home.label}秘匿 医師（医師、{home.label}クリニック）" in text and "訪問" in text
        assert "時点の内容" not in text  # read from home just now, not from the cache
        # The new post offers only the categories shared with this nurse that are posts.
        assert '<option value="visit"' in timeline.text and '<option value="other"' in timeline.text
        assert '<option value="medication"' not in timeline.text
        visit = re.search(r'name="parent_id" value="([0-9a-f-]{36})"', timeline.text)
        assert visit

        replied = await portal(
            stack,
            "POST",
            f"{referral_page}/posts",
            nurse,
            data={**CSRF, "parent_id": visit.group(1), "category": "visit", "body": "施設で受け入れました"},
        )
        assert replied.status_code == 303, replied.text[:800]
        again = no_id_shown((await portal(stack, "GET", replied.headers["location"], nurse)).text)
        assert "投稿しました" in again and "施設で受け入れました" in again
        assert f"{peer.label}看護 花子（看護師、{peer.label}クリニック" in again
        # 既読 as local staff see it: her first visit marked the posts read at home, so now she is among the readers.
        assert "既読 1" in again and f"{peer.label}看護 花子（看護師、{peer.label}クリニック（" in again
        # It landed at home: home's doctor reads the reply on the subject's own timeline.
        home_timeline = await portal(stack, "GET", f"/staff/posts/{visit.group(1)}", doctor)
        assert "施設で受け入れました" in visible_text(home_timeline.text)

        # A category not shared is answered on the new-post form with what was typed.
        refused = await portal(
            stack,
            "POST",
            f"{referral_page}/posts",
            nurse,
            data={**CSRF, "category": "medication", "body": "お薬の件"},
        )
        assert (
            refused.status_code == 422 and "共有されていません" in refused.text and "お薬の件" in refused.text
        )

        # The peer's doctor (a profession the agreement does not name) sees nothing of it.
        peer_doctor = cookie(stack, peer, "doctor")
        assert (
            "他地域から共有されている方はいません"
            in (await portal(stack, "GET", "/staff/shared", peer_doctor)).text
        )
        assert (await portal(stack, "GET", referral_page, peer_doctor)).status_code == 404

        # Home ends the referral after a confirmation; the peer's page is gone.
        subject_page = await portal(stack, "GET", f"/staff/subjects/{subject_id}", doctor)
        end_link = re.search(
            r'href="(/staff/subjects/[0-9a-f-]{36}/referrals/[0-9a-f-]{36}/end)"', subject_page.text
        )
        assert end_link
        confirm = await portal(stack, "GET", end_link.group(1), doctor)
        assert confirm.status_code == 200 and "紹介を終了しますか" in no_id_shown(confirm.text)
        ended = await portal(stack, "POST", end_link.group(1), doctor, data=CSRF)
        assert ended.status_code == 303
        after = no_id_shown((await portal(stack, "GET", ended.headers["location"], doctor)).text)
        assert "紹介を終了しました" in after and "終了" in after and "紹介を終了する" not in after

        async def gone_at_peer() -> bool:
            return (await portal(stack, "GET", referral_page, nurse)).status_code == 404

        await eventually(gone_at_peer, what="the ended referral gone at the peer")

    async def test_fed3_withdrawal_at_home_ends_the_shared_page_and_home_sees_the_acknowledgement(
        self, stack: Stack
    ) -> None:
        home, peer, agreement_id = await referred(stack)
        doctor, nurse = cookie(stack, home, "doctor"), cookie(stack, peer, "nurse")
        subject_id = home.ids["subject"]
        await referral_offered(stack, home, doctor)
        made = await portal(
            stack,
            "POST",
            f"/staff/subjects/{subject_id}/referrals",
            doctor,
            data=refer_form(home, agreement_id, peer.clinic_id),
        )
        assert made.status_code == 303, made.text[:800]
        link = SHARED_LINK.search(await shared_at_peer(stack, nurse))
        assert link
        referral_page = f"/staff/shared/{link.group(1)}"
        assert (await portal(stack, "GET", referral_page, nurse)).status_code == 200

        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals",
            json={"requested_by": "subject"},
            headers=home.headers("doctor"),
        )
        assert withdrawn.status_code in (200, 201, 202), withdrawn.text

        async def refused_at_peer() -> httpx.Response | None:
            page = await portal(stack, "GET", referral_page, nurse)
            return page if page.status_code == 410 else None

        page = await eventually(refused_at_peer, what="the peer's page refused after the withdrawal")
        assert "同意を撤回したため" in no_id_shown(page.text)

        async def acknowledged() -> str | None:
            text = visible_text((await portal(stack, "GET", f"/staff/subjects/{subject_id}", doctor)).text)
            return text if "連携先が削除を確認しました" in text else None

        text = await eventually(acknowledged, what="the peer's acknowledgement on home's subject page")
        assert "同意撤回により終了" in text
