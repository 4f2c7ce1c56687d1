"""ten3: a suspended network refuses every staff request (identity, consent, timeline, notify, portal) and shows
a clear public page, its sign-in is refused with the same message, and resuming brings everything back intact."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import httpx
from identity.platform import service as platform
from identity.platform.schemas import NetworkCreate
from sqlalchemy import text

from tests.support.stack import Stack, Staff, eventually

SERVICES = ("identity", "consent", "timeline", "notify", "portal")
SUSPENDED = "urn:yui:problem:network-suspended"


async def provision(stack: Stack, *, codes: tuple[str, ...] = ("082171",)) -> tuple[str, str]:
    """A network made as the contractor makes one; its slug and its first operator's initial password."""
    slug = f"ten3-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        created = await platform.create_network(
            session,
            actor="test-contractor",
            data=NetworkCreate(
                slug=slug,
                name="取手市 在宅医療介護ネット",
                municipality_codes=list(codes),
                operator_office="取手市 高齢福祉課",
                operator_login_id="operator",
                operator_name="取手 一郎",
            ),
        )
    return slug, created.operator_initial_password


async def known_everywhere(stack: Stack, slug: str, status: str = "active") -> None:
    async def check() -> bool:
        for svc in SERVICES:
            async with stack[svc].sessionmaker() as session:
                found = (
                    await session.execute(
                        text("SELECT status FROM network_states WHERE tenant = :t"), {"t": slug}
                    )
                ).scalar_one_or_none()
            if found != status:
                return False
        return True

    await eventually(check, timeout=60, what=f"every service to know {slug} as {status}")


def probes(subject_id: UUID) -> dict[str, str]:
    return {
        "identity": "/me",
        "consent": f"/subjects/{subject_id}",
        "timeline": f"/subjects/{subject_id}/posts",
        "notify": "/notifications",
        # The portal's JSON API for signed-in staff: the gate answers before any route.
        "portal": "/staff",
    }


async def answers(stack: Stack, staff: Staff, subject_id: UUID) -> dict[str, httpx.Response]:
    found = {}
    for svc, path in probes(subject_id).items():
        found[svc] = await stack[svc].client.get(
            path, headers={**staff.headers, "Accept": "application/json"}
        )
    return found


def refused(response: httpx.Response) -> bool:
    return (
        response.status_code == 403
        and response.headers["content-type"].startswith("application/problem+json")
        and response.json()["type"] == SUSPENDED
    )


async def subject_with_a_post(stack: Stack, doctor: Staff) -> tuple[UUID, UUID]:
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": "取手 花", "name_kana": "トリデ ハナ", "municipality_code": "082171"},
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text

    async def posted() -> UUID | None:
        response = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts",
            json={"category": "visit", "body": "訪問しました"},
            headers=doctor.headers,
        )
        return UUID(response.json()["id"]) if response.status_code == 201 else None

    post_id = await eventually(posted, what="the timeline to accept a post for the new subject")
    return subject_id, post_id


class TestSuspendedNetwork:
    async def test_ten3_every_service_refuses_a_suspended_network_and_resume_brings_it_back(
        self, stack: Stack
    ) -> None:
        slug, _ = await provision(stack)
        await known_everywhere(stack, slug)
        doctor = stack.staff(tenant=slug, roles=("staff", "facility_admin"))
        subject_id, post_id = await subject_with_a_post(stack, doctor)
        other = stack.staff()  # the demo network: untouched by the suspension
        before = await answers(stack, doctor, subject_id)
        assert not any(refused(r) for r in before.values()), {s: r.text for s, r in before.items()}

        async with stack["identity"].sessionmaker() as session, session.begin():
            await platform.suspend_network(
                session, actor="test-contractor", slug=slug, reason="契約更新の手続き中"
            )
        # Identity holds it in the suspending transaction; the others by event.
        assert refused(await stack["identity"].client.get("/me", headers=doctor.headers))
        await known_everywhere(stack, slug, "suspended")
        during = await answers(stack, doctor, subject_id)
        assert all(refused(r) for r in during.values()), {
            s: (r.status_code, r.text[:200]) for s, r in during.items()
        }
        assert (
            "停止" in during["consent"].json()["detail"] and "suspended" in during["consent"].json()["detail"]
        )
        assert not refused(await stack["consent"].client.get("/subjects", headers=other.headers))

        # The public pages of the network say so, in Japanese first.
        page = await stack["portal"].client.get(f"/?tenant={slug}", headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert "このネットワークは停止中です" in page.text
        public_api = await stack["portal"].client.get(f"/api/notices?tenant={slug}")
        assert refused(public_api)
        demo_page = await stack["portal"].client.get("/?tenant=demo", headers={"Accept": "text/html"})
        assert demo_page.status_code == 200

        # Signing in is refused with the same message.
        login = await stack["identity"].client.post(
            "/auth/token", json={"tenant": slug, "login_id": "operator", "password": "whatever-it-is-1!"}
        )
        assert refused(login)
        admin_login = await stack["identity"].client.post(
            "/admin/login", data={"tenant": slug, "login_id": "operator", "password": "whatever-it-is-1!"}
        )
        assert admin_login.status_code == 403 and "このネットワークは停止中です" in admin_login.text

        async with stack["identity"].sessionmaker() as session, session.begin():
            await platform.resume_network(session, actor="test-contractor", slug=slug)
        await known_everywhere(stack, slug, "active")

        after = await answers(stack, doctor, subject_id)
        assert not any(refused(r) for r in after.values()), {s: r.text[:200] for s, r in after.items()}
        assert after["consent"].status_code == 200 and after["consent"].json()["name"] == "取手 花"
        assert after["timeline"].status_code == 200
        assert str(post_id) in after["timeline"].text
        page = await stack["portal"].client.get(f"/?tenant={slug}", headers={"Accept": "text/html"})
        assert page.status_code == 200

    async def test_ten3_a_network_being_ended_refuses_sign_in_as_a_suspended_one_does(
        self, stack: Stack
    ) -> None:
        """Ending follows a suspension; a network in 'ending' or 'ended' is no more open to sign-in than one
        suspended (identity once refused 'suspended' alone)."""
        slug, password = await provision(stack)
        for status in ("ending", "ended"):
            async with stack["identity"].sessionmaker() as session, session.begin():
                await session.execute(
                    text("UPDATE networks SET status = :status WHERE slug = :slug"),
                    {"status": status, "slug": slug},
                )
            login = await stack["identity"].client.post(
                "/auth/token", json={"tenant": slug, "login_id": "operator", "password": password}
            )
            assert refused(login), (status, login.status_code, login.text[:200])
            assert login.json()["type"] == SUSPENDED
