"""n1: the in-app inbox, fed by timeline, consent and identity events; unread count, mark read, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify import service
from sqlalchemy import text
from uuid6 import uuid7
from yui_common.events.consent import ExceptionalAccessGrantedV1
from yui_common.events.identity import CertificateIssuedV1, FacilityAppliedV1, UserCreatedV1
from yui_common.events.timeline import (
    PostCreatedV1,
    ReplyCreatedV1,
    SupportRequestAnsweredV1,
    SupportRequestedV1,
    UserMentionedV1,
)

from services.notify.tests.notify_support import deliver_and_wait, envelope, inbox, kinds_of, team
from tests.support.stack import Stack


class TestWhatIsNotified:
    async def test_n1_a_new_post_tells_the_care_team_but_not_its_author_nor_those_it_mentions(
        self, stack: Stack
    ) -> None:
        author, nurse, pharmacist, stranger = (stack.staff() for _ in range(4))
        subject_id = await team(stack, author, nurse, pharmacist)
        post_id = uuid7()
        await deliver_and_wait(
            stack,
            envelope(
                PostCreatedV1(
                    subject_id=subject_id,
                    post_id=post_id,
                    author_id=author.user_id,
                    mentioned_user_ids=[pharmacist.user_id],
                ),
                subject=subject_id,
            ),
        )
        [told] = (await inbox(stack, nurse))["items"]
        assert told["kind"] == "post.created" and told["subject_id"] == str(subject_id)
        assert told["params"]["post_id"] == str(post_id) and told["read_at"] is None and told["created_at"]
        assert await kinds_of(stack, author) == []
        assert await kinds_of(stack, pharmacist) == []  # told by the mention instead
        assert await kinds_of(stack, stranger) == []

    async def test_n1_mentions_replies_and_support_requests_reach_the_people_addressed(
        self, stack: Stack
    ) -> None:
        author, mentioned, parent_author = stack.staff(), stack.staff(), stack.staff()
        facility_colleague = stack.staff()
        subject_id = await team(stack, author, mentioned, parent_author)
        await deliver_and_wait(
            stack,
            envelope(
                UserCreatedV1(
                    user_id=facility_colleague.user_id,
                    facility_id=facility_colleague.facility_id,
                    roles=["staff"],
                )
            ),
        )
        post_id = uuid7()
        for data in (
            UserMentionedV1(
                post_id=post_id,
                author_id=author.user_id,
                mentioned_user_ids=[mentioned.user_id],
                subject_id=subject_id,
            ),
            ReplyCreatedV1(
                post_id=post_id,
                parent_id=uuid7(),
                author_id=author.user_id,
                parent_author_id=parent_author.user_id,
                subject_id=subject_id,
            ),
            SupportRequestedV1(
                subject_id=subject_id,
                post_id=post_id,
                author_id=author.user_id,
                addressed_facility_id=facility_colleague.facility_id,
            ),
            SupportRequestAnsweredV1(
                subject_id=subject_id,
                post_id=post_id,
                answer_post_id=uuid7(),
                answered_by=facility_colleague.user_id,
                requester_id=author.user_id,
            ),
        ):
            await deliver_and_wait(stack, envelope(data, subject=subject_id))

        assert await kinds_of(stack, mentioned) == ["post.mention"]
        assert await kinds_of(stack, parent_author) == ["post.reply"]
        # Not on the care team, yet addressed through their facility (T2).
        assert await kinds_of(stack, facility_colleague) == ["support.requested"]
        assert await kinds_of(stack, author) == ["support.answered"]

    async def test_n1_exceptional_access_my_certificate_and_applications_waiting_for_the_operator(
        self, stack: Stack
    ) -> None:
        member, grantee = stack.staff(), stack.staff()
        tenant = f"net-{uuid7().hex[:8]}"
        operator = stack.staff(tenant=tenant, roles=("operator",))
        applicant_side_staff = stack.staff(tenant=tenant)
        subject_id = await team(stack, member)
        await deliver_and_wait(
            stack,
            envelope(
                ExceptionalAccessGrantedV1(
                    grant_id=uuid7(),
                    subject_id=subject_id,
                    user_id=grantee.user_id,
                    ground="disaster",
                    approved_by=uuid7(),
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                ),
                subject=subject_id,
            ),
        )
        await deliver_and_wait(
            stack,
            envelope(
                CertificateIssuedV1(
                    certificate_id=uuid7(),
                    user_id=member.user_id,
                    facility_id=member.facility_id,
                    terminal_label="訪問用タブレット",
                    serial_number="01",
                    fingerprint_sha256="00" * 32,
                    not_after=datetime.now(UTC) + timedelta(days=365),
                )
            ),
        )
        for user, roles in ((operator, ["operator"]), (applicant_side_staff, ["staff"])):
            await deliver_and_wait(
                stack,
                envelope(
                    UserCreatedV1(user_id=user.user_id, facility_id=user.facility_id, roles=roles),
                    tenant=tenant,
                ),
            )
        await deliver_and_wait(
            stack,
            envelope(
                FacilityAppliedV1(facility_id=uuid7(), name="結訪問看護", kind="nursing"), tenant=tenant
            ),
        )

        assert await kinds_of(stack, member) == ["certificate.issued", "subject.exceptional_access_granted"]
        assert await kinds_of(stack, grantee) == []
        assert await kinds_of(stack, operator) == ["facility.application_waiting"]
        assert await kinds_of(stack, applicant_side_staff) == []


class TestReadMarks:
    async def test_n1_unread_count_and_mark_all_read(self, stack: Stack) -> None:
        me = stack.staff()
        subject_id = await team(stack, me)
        async with stack["notify"].sessionmaker() as session, session.begin():
            for _ in range(3):
                await service.notify_team(
                    session,
                    tenant="demo",
                    subject_id=subject_id,
                    kind="post.created",
                    source_event_id=uuid7(),
                )
        client = stack["notify"].client
        assert (await client.get("/notifications/unread-count", headers=me.headers)).json() == {"unread": 3}
        marked = await client.post("/notifications/read-all", headers=me.headers)
        assert marked.status_code == 200 and marked.json() == {"marked": 3}
        assert (await client.get("/notifications/unread-count", headers=me.headers)).json() == {"unread": 0}
        assert all(n["read_at"] for n in (await inbox(stack, me))["items"])
        again = await client.post("/notifications/read-all", headers=me.headers)
        assert again.json() == {"marked": 0}


class TestRetention:
    async def test_n1_notifications_are_kept_as_long_as_the_network_says_then_purged(
        self, stack: Stack
    ) -> None:
        tenant = f"net-{uuid7().hex[:8]}"
        operator, me = stack.staff(tenant=tenant, roles=("operator",)), stack.staff(tenant=tenant)
        kept = await stack["notify"].client.put(
            "/notifications/network-defaults", json={"retention_days": 30}, headers=operator.headers
        )
        assert kept.status_code == 200, kept.text
        subject_id = await team(stack, me, tenant=tenant)
        async with stack["notify"].sessionmaker() as session, session.begin():
            for _ in range(2):
                await service.notify_team(
                    session,
                    tenant=tenant,
                    subject_id=subject_id,
                    kind="post.created",
                    source_event_id=uuid7(),
                )
            # One of them is older than the network keeps.
            await session.execute(
                text(
                    "UPDATE notifications SET created_at = now() - interval '31 days' WHERE id = "
                    "(SELECT id FROM notifications WHERE user_id = :u ORDER BY id LIMIT 1)"
                ),
                {"u": me.user_id},
            )
        async with stack["notify"].sessionmaker() as session, session.begin():
            await service.purge_expired(session)
        assert (await inbox(stack, me))["unread"] == 1
