"""Issue 10: notifications name the patient and the author and quote the post, but never more than the reader
may see; notify's people and subjects projections keep the newest version; an invitation reaches the invitee."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from notify import deliveries
from notify.models import Notification, Person, Subject
from sqlalchemy import select
from uuid6 import uuid7
from yui_common.events.consent import (
    CareTeamInvitationDeclinedV1,
    CareTeamMemberInvitedV1,
    CareTeamMemberRemovedV1,
    ConsentWithdrawnV1,
    SubjectChangedV1,
)
from yui_common.events.identity import PersonChangedV1
from yui_common.events.timeline import PostCreatedV1, ReplyCreatedV1, UserMentionedV1

from services.notify.tests.notify_support import (
    Mailbox,
    choose,
    deliver,
    deliver_and_wait,
    envelope,
    inbox,
    mail_server,  # noqa: F401 - the `mailbox` fixture
    notify_settings,
    open_stream,
    served,
    team,
)
from tests.support.stack import Stack, Staff, eventually

EXCERPT = "本日の訪問で血圧 150/90。降圧薬の服用を確認しました。"


async def person(stack: Stack, staff: Staff, name: str, *, version: int = 1, **fields: Any) -> None:
    data = PersonChangedV1(
        user_id=staff.user_id,
        name=name,
        name_kana=fields.get("name_kana"),
        profession=fields.get("profession", "visiting_nurse"),
        facility_id=staff.facility_id,
        facility_name=fields.get("facility_name", "結訪問看護ステーション"),
        status=fields.get("status", "active"),
        version=version,
    )
    await deliver_and_wait(stack, envelope(data, tenant=staff.tenant))


async def subject(
    stack: Stack, subject_id: UUID, name: str, *, version: int = 1, status: str = "active"
) -> None:
    data = SubjectChangedV1(
        subject_id=subject_id, name=name, name_kana="ヤマダ タロウ", status=status, version=version
    )
    await deliver_and_wait(stack, envelope(data, subject=subject_id))


async def mention(
    stack: Stack, author: Staff, reader: Staff, subject_id: UUID, *, excerpt: str = EXCERPT
) -> UUID:
    post_id = uuid7()
    await deliver_and_wait(
        stack,
        envelope(
            UserMentionedV1(
                post_id=post_id,
                author_id=author.user_id,
                mentioned_user_ids=[reader.user_id],
                subject_id=subject_id,
                excerpt=excerpt,
            ),
            subject=subject_id,
        ),
    )
    return post_id


async def stored(stack: Stack, model: Any, key: UUID) -> Any:
    async with stack["notify"].sessionmaker() as session:
        return await session.get(model, key)


class TestProjections:
    async def test_people_keep_the_newest_version_whatever_the_order_and_a_replay_changes_nothing(
        self, stack: Stack
    ) -> None:
        someone = stack.staff()
        await person(stack, someone, "山田 花子", version=2)
        await person(stack, someone, "旧姓 花子", version=1)  # late: older than what notify holds
        await person(stack, someone, "山田 花子", version=2)  # the same version again
        row = await stored(stack, Person, someone.user_id)
        assert (row.name, row.version, row.facility_name) == ("山田 花子", 2, "結訪問看護ステーション")
        await person(stack, someone, "鈴木 花子", version=3)
        assert (await stored(stack, Person, someone.user_id)).name == "鈴木 花子"

    async def test_subjects_keep_the_newest_version_whatever_the_order(self, stack: Stack) -> None:
        subject_id = uuid7()
        await subject(stack, subject_id, "山田 太郎", version=3)
        await subject(stack, subject_id, "山田 太", version=2)
        await subject(stack, subject_id, "山田 太郎", version=3)
        row = await stored(stack, Subject, subject_id)
        assert (row.name, row.name_kana, row.status, row.version) == (
            "山田 太郎",
            "ヤマダ タロウ",
            "active",
            3,
        )


class TestContent:
    async def test_a_mention_names_the_patient_the_author_and_quotes_the_post(self, stack: Stack) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        await person(stack, author, "佐藤 医師", profession="doctor", facility_name="結クリニック")
        await subject(stack, subject_id, "山田 太郎")
        post_id = await mention(stack, author, reader, subject_id)

        [item] = (await inbox(stack, reader))["items"]
        assert item["kind"] == "post.mention"
        assert item["subject"] == {
            "id": str(subject_id),
            "name": "山田 太郎",
            "name_kana": "ヤマダ タロウ",
            "status": "active",
        }
        assert item["author"]["name"] == "佐藤 医師"
        assert (item["author"]["profession"], item["author"]["facility_name"]) == ("doctor", "結クリニック")
        assert item["author_id"] == str(author.user_id)
        assert item["excerpt"] == EXCERPT
        assert item["post_id"] == str(post_id) and item["parent_id"] is None

    async def test_a_reply_carries_its_thread_so_the_link_can_anchor_it(self, stack: Stack) -> None:
        author, replier = stack.staff(), stack.staff()
        subject_id = await team(stack, author, replier)
        parent_id, reply_id = uuid7(), uuid7()
        await deliver_and_wait(
            stack,
            envelope(
                ReplyCreatedV1(
                    post_id=reply_id,
                    parent_id=parent_id,
                    author_id=replier.user_id,
                    parent_author_id=author.user_id,
                    subject_id=subject_id,
                    excerpt="承知しました",
                ),
                subject=subject_id,
            ),
        )
        [item] = (await inbox(stack, author))["items"]
        assert (item["kind"], item["post_id"], item["parent_id"]) == (
            "post.reply",
            str(reply_id),
            str(parent_id),
        )
        assert item["excerpt"] == "承知しました"

    async def test_a_rename_shows_in_notifications_already_made(self, stack: Stack) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        await subject(stack, subject_id, "山田 太郎")
        await person(stack, author, "佐藤 一郎")
        await mention(stack, author, reader, subject_id)
        await subject(stack, subject_id, "山田 太一", version=2)
        await person(stack, author, "佐藤 一朗", version=2)
        [item] = (await inbox(stack, reader))["items"]
        assert (item["subject"]["name"], item["author"]["name"]) == ("山田 太一", "佐藤 一朗")

    async def test_an_author_or_subject_notify_has_not_heard_of_reads_as_unknown_never_as_an_id(
        self, stack: Stack
    ) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        await mention(stack, author, reader, subject_id)
        [item] = (await inbox(stack, reader))["items"]
        assert item["subject"] == {"id": str(subject_id), "name": None, "name_kana": None, "status": "active"}
        assert item["author"]["status"] == "unknown"
        assert str(author.user_id) not in item["author"]["name"]


class TestOrderAndGroups:
    async def test_newest_first_and_grouped_per_patient_with_the_newest_group_first(
        self, stack: Stack
    ) -> None:
        author, reader = stack.staff(), stack.staff()
        first, second = await team(stack, author, reader), await team(stack, author, reader)
        await subject(stack, first, "山田 太郎")
        await subject(stack, second, "鈴木 花子")
        posts = [
            await mention(stack, author, reader, first, excerpt="一"),
            await mention(stack, author, reader, second, excerpt="二"),
            await mention(stack, author, reader, first, excerpt="三"),
        ]
        answer = (
            await stack["notify"].client.get(
                "/notifications", params={"group": "subject"}, headers=reader.headers
            )
        ).json()
        items = answer["items"]
        assert [i["post_id"] for i in items] == [str(p) for p in reversed(posts)]
        keys = [(i["created_at"], i["id"]) for i in items]
        assert keys == sorted(keys, reverse=True)
        groups = answer["groups"]
        assert [g["subject"]["name"] for g in groups] == ["山田 太郎", "鈴木 花子"]
        assert [i["excerpt"] for i in groups[0]["items"]] == ["三", "一"]
        assert (groups[0]["unread"], groups[1]["unread"]) == (2, 1)
        assert groups[0]["newest_at"] == items[0]["created_at"]
        # Without the parameter the answer is the flat list only.
        assert "groups" not in await inbox(stack, reader)

    async def test_an_unknown_grouping_is_refused_as_a_problem(self, stack: Stack) -> None:
        reader = stack.staff()
        response = await stack["notify"].client.get(
            "/notifications", params={"group": "author"}, headers=reader.headers
        )
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")


async def excerpts_of(stack: Stack, subject_id: UUID) -> list[str | None]:
    async with stack["notify"].sessionmaker() as session:
        rows = await session.execute(
            select(Notification.excerpt).where(Notification.subject_id == subject_id)
        )
        return list(rows.scalars())


class TestNeverMoreThanTheReaderMaySee:
    async def test_support_stopped_blanks_every_stored_excerpt(self, stack: Stack) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        await subject(stack, subject_id, "山田 太郎")
        await mention(stack, author, reader, subject_id)
        assert await excerpts_of(stack, subject_id) == [EXCERPT]

        await subject(stack, subject_id, "山田 太郎", version=2, status="support_stopped")
        assert await excerpts_of(stack, subject_id) == [None]

    async def test_a_withdrawal_blanks_the_excerpts_and_only_the_stop_notice_shows(
        self, stack: Stack
    ) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        await subject(stack, subject_id, "山田 太郎")
        await mention(stack, author, reader, subject_id)
        await deliver_and_wait(
            stack,
            envelope(
                ConsentWithdrawnV1(
                    subject_id=subject_id,
                    consent_id=uuid7(),
                    withdrawal_id=uuid7(),
                    withdrawn_at=datetime.now(UTC),
                ),
                subject=subject_id,
            ),
        )
        assert set(await excerpts_of(stack, subject_id)) == {None}
        [item] = (await inbox(stack, reader))["items"]
        assert item["kind"] == "subject.support_stopped" and item["excerpt"] is None
        assert item["subject"]["name"] == "山田 太郎"

    async def test_who_left_the_team_keeps_no_excerpt_and_sees_nothing_of_it(self, stack: Stack) -> None:
        author, leaving, staying = stack.staff(), stack.staff(), stack.staff()
        subject_id = await team(stack, author, leaving, staying)
        for reader in (leaving, staying):
            await mention(stack, author, reader, subject_id)
        await deliver_and_wait(
            stack,
            envelope(
                CareTeamMemberRemovedV1(subject_id=subject_id, user_id=leaving.user_id, reason="left"),
                subject=subject_id,
            ),
        )
        async with stack["notify"].sessionmaker() as session:
            rows = await session.execute(
                select(Notification.user_id, Notification.excerpt).where(
                    Notification.subject_id == subject_id
                )
            )
            excerpts = dict(rows.tuples().all())
        assert excerpts == {leaving.user_id: None, staying.user_id: EXCERPT}
        assert (await inbox(stack, leaving))["items"] == []
        assert [i["excerpt"] for i in (await inbox(stack, staying))["items"]] == [EXCERPT]

    async def test_a_non_member_is_not_told_of_a_post(self, stack: Stack) -> None:
        author, member, outsider = stack.staff(), stack.staff(), stack.staff()
        subject_id = await team(stack, author, member)
        await mention(stack, author, outsider, subject_id)
        assert (await inbox(stack, outsider))["items"] == []


class TestInvitation:
    async def test_ux1_the_invitee_is_told_the_patient_and_the_inviter_before_joining(
        self, stack: Stack
    ) -> None:
        inviter, invitee = stack.staff(), stack.staff()
        subject_id = await team(stack, inviter)
        await subject(stack, subject_id, "山田 太郎")
        await person(stack, inviter, "佐藤 医師", profession="doctor", facility_name="結クリニック")
        invitation_id = uuid7()
        invited = envelope(
            CareTeamMemberInvitedV1(
                subject_id=subject_id,
                invitation_id=invitation_id,
                user_id=invitee.user_id,
                facility_id=invitee.facility_id,
                invited_by=inviter.user_id,
            ),
            subject=subject_id,
        )
        await deliver_and_wait(stack, invited)
        await deliver_and_wait(stack, invited)  # redelivered: still one notification

        [item] = (await inbox(stack, invitee))["items"]
        assert item["kind"] == "care_team.invited"
        assert item["subject"]["name"] == "山田 太郎"
        assert item["author"]["name"] == "佐藤 医師"
        assert item["params"]["invitation_id"] == str(invitation_id)
        assert item["excerpt"] is None
        assert (await inbox(stack, inviter))["items"] == []

        # Declined: the invitation no longer names the patient to them (n5).
        await deliver_and_wait(
            stack,
            envelope(
                CareTeamInvitationDeclinedV1(
                    subject_id=subject_id, invitation_id=invitation_id, user_id=invitee.user_id
                ),
                subject=subject_id,
            ),
        )
        assert (await inbox(stack, invitee))["items"] == []


class TestLive:
    async def test_the_live_stream_says_what_the_inbox_says(self, stack: Stack) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        await subject(stack, subject_id, "山田 太郎")
        await person(stack, author, "佐藤 医師", profession="doctor")
        await asyncio.wait_for(stack["notify"].app.state.live_hub.listening.wait(), 30)
        async with served(stack["notify"].app) as url, open_stream(url, reader) as stream:
            await stream.ready()
            post_id = uuid7()
            await deliver(
                stack,
                envelope(
                    PostCreatedV1(
                        subject_id=subject_id, post_id=post_id, author_id=author.user_id, excerpt=EXCERPT
                    ),
                    subject=subject_id,
                ),
            )
            data = json.loads((await stream.next_event())["data"])
        [item] = (await inbox(stack, reader))["items"]
        assert data["subject"]["name"] == "山田 太郎" and data["author"]["name"] == "佐藤 医師"
        assert (data["excerpt"], data["post_id"]) == (EXCERPT, str(post_id))
        assert {k: v for k, v in data.items() if k != "unread"} == item


class TestEmail:
    async def test_the_e_mail_still_names_no_patient_no_author_and_quotes_nothing(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        author, reader = stack.staff(), stack.staff()
        address = f"{reader.user_id}@example.jp"
        await choose(stack, reader, email=address, channels={"post.mention": "email"})
        subject_id = await team(stack, author, reader)
        await subject(stack, subject_id, "山田 太郎")
        await person(stack, author, "佐藤 医師")
        await mention(stack, author, reader, subject_id)
        async with stack["notify"].sessionmaker() as session, session.begin():
            await deliveries.send_pending_emails(session, settings=notify_settings(stack))
        [message] = await eventually(lambda: mailbox.to(address), what="the e-mail")
        text = str(message["Subject"]) + message.get_content()
        for personal in ("山田", "佐藤", EXCERPT[:10], str(subject_id), str(author.user_id)):
            assert personal not in text
