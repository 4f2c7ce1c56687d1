"""A patient's medications in the staff UI (issue 16 rec2) through the portal against the real timeline: two
facilities' staff add one ingredient under two brands and both see the duplicate warning (on the page and the
timeline's banner), the form refused and shown again, ending and removing, the drug search's fragment, the
operator's drug master import, and no id in the page. One network and patient serve the module (CI time)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from uuid import UUID

import httpx
import pytest
from portal.clients.timeline import DuplicateWarning
from yui_common.web import DISPLAY_TIMEZONE

from services.portal.tests.public_site_support import cookie_of
from services.portal.tests.test_staff_pages import location, register_subject, timeline_knows
from tests.browser.staff_ui import CSRF, Browser, Network, make_network, sign_in
from tests.support.stack import Stack

SAMPLE = resources.files("timeline.medications").joinpath("drug_master_sample.csv").read_bytes()
NORVASC, AMLODIPINE_SAWAI = "2171022F2025", "2171022F2220"  # アムロジピンベシル酸塩 under two brands
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
TODAY = datetime.now(DISPLAY_TIMEZONE).date()


@dataclass
class Team:
    network: Network
    subject_id: str
    doctor: Browser  # 山田 太郎, 結クリニック
    nurse: Browser  # 佐藤 花子, 結訪問看護

    @property
    def page(self) -> str:
        return f"/staff/subjects/{self.subject_id}/medications"


@pytest.fixture(scope="module")
async def team(stack: Stack) -> Team:
    """A patient whose care team holds a clinic's doctor and a nursing station's nurse, in a network whose drug
    master holds the sample extract of the price list."""
    network = await make_network(stack)
    doctor, nurse = await sign_in(stack, network.doctor), await sign_in(stack, network.nurse)
    subject_id = await register_subject(doctor, form=None)
    invited = await doctor.form(
        f"/staff/subjects/{subject_id}",
        f"/staff/subjects/{subject_id}/care-team",
        {"user_id": str(network.nurse.user_id), "facility_id": str(network.nurse.facility_id)},
    )
    assert invited.status_code == 303, invited.text[:500]
    home = await nurse.get("/staff")
    accept = re.search(r'action="(/staff/invitations/[0-9a-f-]+/accept)"', home.text)
    assert accept, home.text[:800]
    assert (await nurse.form("/staff", accept.group(1), {})).status_code == 303
    await timeline_knows(stack, subject_id, network.doctor.user_id, network.nurse.user_id)
    operator = stack.staff(tenant=network.tenant, roles=("operator",))
    imported = await stack["timeline"].client.put(
        "/drug-master", content=SAMPLE, headers={**operator.headers, "content-type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    return Team(network, subject_id, doctor, nurse)


def visible_text(page: str) -> str:
    """What a reader sees: the markup's text without tags, scripts, styles or attribute values."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


async def send_form(browser: Browser, team: Team, fields: dict[str, str]) -> tuple[str, httpx.Response]:
    """The add form as the page gives it (its CSRF token); returns the page as opened and the answer."""
    opened = await browser.get(team.page)
    assert opened.status_code == 200, opened.text[:800]
    token = CSRF.search(opened.text)
    assert token
    answer = await browser.post(team.page, data={"csrf": token.group(1), "action": "add", **fields})
    return opened.text, answer


def own_facility(page: str) -> str:
    found = re.search(r'id="med-facility" name="facility" type="text" value="([^"]*)"', page)
    assert found, page[:2000]
    return html.unescape(found.group(1))


async def choose(browser: Browser, team: Team, q: str, code: str) -> str:
    """The drug search as htmx asks it: the fragment offers the product as a radio button named drug_code."""
    fragment = await browser.get(f"{team.page}/drugs", params={"q": q}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert f'name="drug_code" value="{code}"' in fragment.text, fragment.text[:1500]
    return code


class TestMedicationsPages:
    async def test_rec2_both_facilities_see_the_duplicate_warning(self, stack: Stack, team: Team) -> None:
        subject_page = await team.doctor.get(f"/staff/subjects/{team.subject_id}")
        assert f'href="{team.page}"' in subject_page.text and "お薬" in subject_page.text

        code = await choose(team.doctor, team, "のるばすく", NORVASC)  # kana folded by timeline
        opened, added = await send_form(
            team.doctor,
            team,
            {"q": "のるばすく", "drug_code": code, "dose": "1回1錠 1日1回 朝食後", "prescriber": "山田 太郎"},
        )
        assert own_facility(opened) == "結クリニック"  # the facility defaults to the signed-in member's
        assert f'id="med-start_date" name="start_date" type="date" value="{TODAY.isoformat()}"' in opened
        assert added.status_code == 422  # the facility was not sent: named
        assert "「処方元」を入力してください。" in added.text
        _, added = await send_form(
            team.doctor,
            team,
            {
                "drug_code": code,
                "dose": "1回1錠 1日1回 朝食後",
                "start_date": TODAY.isoformat(),
                "prescriber": "山田 太郎",
                "facility": own_facility(opened),
            },
        )
        assert added.status_code == 303, added.text[:800]
        assert "done=medication_added" in location(added)

        code = await choose(team.nurse, team, "アムロジピン", AMLODIPINE_SAWAI)
        opened, added = await send_form(
            team.nurse,
            team,
            {
                "drug_code": code,
                "dose": "1回1錠 1日1回 夕食後",
                "start_date": (TODAY - timedelta(days=3)).isoformat(),
                "facility": "結総合病院",  # the nurse records what the hospital prescribed
            },
        )
        assert own_facility(opened) == "結訪問看護"
        assert added.status_code == 303, added.text[:800]

        for browser in (team.doctor, team.nurse):
            page = await browser.get(team.page)
            assert page.status_code == 200
            warning = page.text.split('class="medication-warnings"')[1].split("</section>")[0]
            assert "重複投薬の可能性" in warning and "同じ成分: アムロジピンベシル酸塩" in warning
            assert "ノルバスク錠5mg（結クリニック）" in warning
            assert "アムロジピン錠5mg「サワイ」（結総合病院）" in warning
            listed = page.text.split('id="current-h"')[1]
            assert "1回1錠 1日1回 夕食後" in listed and "山田 太郎（" in listed and "佐藤 花子（" in listed
            started = TODAY - timedelta(days=3)
            assert f"{started.year}年{started.month}月{started.day}日〜" in listed
            timeline = await browser.get(f"/staff/subjects/{team.subject_id}/timeline")
            assert timeline.status_code == 200
            banner = re.search(r'<p class="medication-banner"[^>]*>(.*?)</p>', timeline.text, re.S)
            assert banner, timeline.text[:1500]
            assert "重複投薬の可能性: アムロジピンベシル酸塩" in banner.group(1)
            assert f'href="{team.page}"' in banner.group(1)

    async def test_rec2_a_refused_form_comes_back_with_its_messages_and_nothing_is_saved(
        self, team: Team
    ) -> None:
        _, local = await send_form(
            team.doctor,
            team,
            {"name": "テスト錠", "dose": "", "start_date": "2026-13-40", "facility": "結クリニック"},
        )
        assert local.status_code == 422
        text = local.text
        assert "「成分名」を入力してください。" in text and "「用法・用量」を入力してください。" in text
        assert "「開始日」は日付で入力してください" in text
        assert 'id="med-name" name="name" type="text" value="テスト錠"' in text  # kept as typed
        assert '<details class="medication-add" open>' in text
        token = CSRF.search(text)
        assert token
        english = await team.doctor.post(
            f"{team.page}?lang=en",
            data={"csrf": token.group(1), "action": "add", "name": "テスト錠"},
        )
        assert english.status_code == 422 and 'Please fill in "Ingredient".' in html.unescape(english.text)
        await team.doctor.get(f"{team.page}?lang=ja")  # the language is kept in a cookie: back to Japanese

        _, refused = await send_form(
            team.doctor,
            team,
            {
                "drug_code": "9999999F9999",
                "dose": "1回1錠",
                "start_date": TODAY.isoformat(),
                "facility": "結",
            },
        )
        assert refused.status_code == 422  # timeline's: not in the master
        assert "選んだお薬が医薬品マスターにありません" in refused.text
        page = await team.doctor.get(team.page)
        assert "テスト錠" not in page.text.split('id="add-h"')[0]

    async def test_rec2_a_medication_is_ended_and_another_removed_after_confirming(self, team: Team) -> None:
        started = TODAY - timedelta(days=10)
        for name in ("マグミット錠330mg", "誤入力錠"):
            _, added = await send_form(
                team.nurse,
                team,
                {
                    "name": name,
                    "ingredient": "酸化マグネシウム" if name.startswith("マグ") else "誤入力",
                    "dose": "1回1錠 1日3回 毎食後",
                    "start_date": started.isoformat(),
                    "facility": "結訪問看護",
                },
            )
            assert added.status_code == 303, added.text[:800]
        page = await team.nurse.get(team.page)
        token = CSRF.search(page.text)
        assert token
        ids = _medication_ids(page.text)
        yesterday = TODAY - timedelta(days=1)
        ended = await team.nurse.post(
            f"{team.page}/{ids['マグミット錠330mg']}/end",
            data={"csrf": token.group(1), "end_date": yesterday.isoformat()},
        )
        assert ended.status_code == 303 and "done=medication_ended" in location(ended)
        before_start = await team.nurse.post(
            f"{team.page}/{ids['誤入力錠']}/end",
            data={"csrf": token.group(1), "end_date": (started - timedelta(days=1)).isoformat()},
        )
        assert before_start.status_code == 422 and "中止日を確かめてください" in before_start.text

        asked = await team.nurse.post(f"{team.page}/{ids['誤入力錠']}/remove", data={"csrf": token.group(1)})
        assert asked.status_code == 200 and "「誤入力錠」を誤登録として削除しますか？" in asked.text
        assert 'name="confirmed" value="true"' in asked.text
        assert "誤入力錠" in (await team.nurse.get(team.page)).text  # asking removed nothing
        removed = await team.nurse.post(
            f"{team.page}/{ids['誤入力錠']}/remove", data={"csrf": token.group(1), "confirmed": "true"}
        )
        assert removed.status_code == 303 and "done=medication_removed" in location(removed)

        page = await team.nurse.get(team.page)
        assert "誤入力錠" not in page.text
        current, ended_part = page.text.split('class="medications-ended"')
        assert "マグミット錠330mg" not in current.split('id="current-h"')[1]
        assert "マグミット錠330mg" in ended_part and "終了したお薬（1件）" in ended_part
        assert f"〜{yesterday.year}年{yesterday.month}月{yesterday.day}日" in ended_part

    async def test_rec2_the_drug_search_answers_a_fragment_of_choices(self, team: Team) -> None:
        found = await team.nurse.get(f"{team.page}/drugs", params={"q": "ランソプラゾール"})
        assert found.status_code == 200 and "<html" not in found.text and "staff-nav" not in found.text
        assert found.text.count('type="radio" name="drug_code"') == 3  # two products and 「マスターにない」
        assert "タケプロンOD錠15mg" in found.text and 'value="" checked' in found.text
        none = await team.nurse.get(f"{team.page}/drugs", params={"q": "存在しない薬"})
        assert "「存在しない薬」に当てはまるお薬はマスターにありません" in none.text
        page = await team.nurse.get(team.page)
        assert f'hx-get="{team.page}/drugs"' in page.text and "<script>" not in page.text
        # Without script, 「検索」 sends the form: the page comes back with the choices and what was typed.
        token = CSRF.search(page.text)
        assert token
        searched = await team.nurse.post(
            team.page, data={"csrf": token.group(1), "action": "search", "q": "ガスター", "dose": "1回1錠"}
        )
        assert searched.status_code == 200 and "ガスター錠20mg" in searched.text
        assert 'id="med-dose" name="dose" type="text" value="1回1錠"' in searched.text

    async def test_rec2_no_id_is_shown_on_the_medications_page(self, team: Team) -> None:
        page = await team.doctor.get(team.page)
        assert page.status_code == 200
        assert not UUID_TEXT.search(visible_text(page.text)), UUID_TEXT.findall(visible_text(page.text))
        english = await team.doctor.get(f"{team.page}?lang=en")
        assert "Medications" in english.text and not UUID_TEXT.search(visible_text(english.text))
        await team.doctor.get(f"{team.page}?lang=ja")  # back to Japanese for the module's other tests

    async def test_rec2_the_operator_imports_the_drug_master_and_sees_row_errors(
        self, stack: Stack, team: Team
    ) -> None:
        operator = cookie_of(stack, stack.staff(tenant=team.network.tenant, roles=("operator",)))
        dashboard = await stack["portal"].client.get("/operator", headers=operator)
        assert 'href="/operator/drug-master"' in dashboard.text
        opened = await stack["portal"].client.get("/operator/drug-master", headers=operator)
        assert opened.status_code == 200 and "医薬品マスター" in opened.text
        assert "薬価基準収載品目リスト及び後発医薬品に関する情報について" in opened.text
        csrf = {"csrf": "csrf-token-of-the-test-session"}
        sent = await stack["portal"].client.post(
            "/operator/drug-master",
            data=csrf,
            files={"file": ("list.csv", SAMPLE, "text/csv")},
            headers=operator,
        )
        assert sent.status_code == 303, sent.text[:800]
        done = await stack["portal"].client.get(location(sent), headers=operator)
        rows = SAMPLE.decode("utf-8-sig").strip().count("\n")
        assert f"{rows}品目" in done.text and "医薬品マスターを取り込みました。" in done.text
        imported_at = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', done.text)
        assert imported_at
        moment = datetime.fromisoformat(imported_at.group(1)).astimezone(DISPLAY_TIMEZONE)
        assert imported_at.group(2) == moment.strftime("%Y-%m-%d %H:%M")  # Japan's time

        wrong = SAMPLE.decode("utf-8-sig").replace(NORVASC, "NORVASC", 1).encode("cp932")
        refused = await stack["portal"].client.post(
            "/operator/drug-master",
            data=csrf,
            files={"file": ("list.csv", wrong, "text/csv")},
            headers=operator,
        )
        assert refused.status_code == 422
        assert "2行目" in refused.text and "コードが 12 桁の英数字ではありません" in refused.text
        assert "何も取り込んでいません" in refused.text and f"{rows}品目" in refused.text

        staff = cookie_of(stack, stack.staff(tenant=team.network.tenant))
        assert (await stack["portal"].client.get("/operator/drug-master", headers=staff)).status_code == 403
        # A contractor (who may import through timeline's API) is refused the page as any non-operator is.
        contractor = cookie_of(stack, stack.staff(tenant=team.network.tenant, roles=("contractor",)))
        refused = await stack["portal"].client.get("/operator/drug-master", headers=contractor)
        assert refused.status_code == 403 and refused.json()["type"].endswith("forbidden")


def _medication_ids(page: str) -> dict[str, UUID]:
    """Each listed medication's id by its name, from its forms' actions (never from the page's text)."""
    ids: dict[str, UUID] = {}
    for article in re.findall(r"<article class=\"medication card.*?</article>", page, re.S):
        name = re.search(r'<strong class="medication-name">([^<]+)</strong>', article)
        action = re.search(r"/medications/([0-9a-f-]{36})/remove", article)
        if name and action:
            ids[html.unescape(name.group(1))] = UUID(action.group(1))
    return ids


def test_rec2_a_class_warning_reads_in_english_for_an_english_reader() -> None:
    common = {"medication_ids": [], "facilities": ["結病院", "結クリニック"]}
    by_class = DuplicateWarning.model_validate(
        {**common, "kind": "class", "label": "抗凝固薬", "label_en": "Anticoagulants"}
    )
    by_ingredient = DuplicateWarning.model_validate({**common, "kind": "ingredient", "label": "アムロジピン"})
    assert by_class.label_in("en") == "Anticoagulants" and by_class.label_in("ja") == "抗凝固薬"
    assert by_ingredient.label_en is None and by_ingredient.label_in("en") == "アムロジピン"
