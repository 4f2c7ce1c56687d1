"""Seeding the demo patients' timelines: a week of posts between the doctor, the visiting nurse, the pharmacist
and the care manager, with photos, replies, a support request and its answer, and who has read what; and a few
posts between the doctor and the care home's helper on the second demo network's patient.

Everything is written through timeline's own use cases (create_post, reply, upload_attachment,
decide_support_request, open_post), so the outbox announces each post, reply and request and notify tells the
team as it would in real use. The use cases need timeline's projection of consent (each patient's consent and
care team), which consent's events fill through the bus: this seed therefore runs once the workers are up
(`make run` runs it after the stack is ready) and first waits for that projection.

The posts are dated over the past week in Japan's daytime, which no use case offers (they stamp "now"): the
seed's session stamps each post, post version and photo it inserts with the scripted time just before the
INSERT (post versions are append-only, so never afterwards), and signs the version and the photo for that
time, so the integrity check (T5) holds; read marks and a request's answered time are moved in the same
transaction. Only the demo's rows are dated so; the audit entries keep the true time of seeding.

Idempotent: a patient's timeline is written only while it is empty, so a second run adds nothing (and a demo
someone already posted on is left as it is). The week itself is in ``timeline.seed_week``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from importlib import resources
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from yui_common import demo
from yui_common.auth import Principal
from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from timeline import objects
from timeline.access import repository as access_repository
from timeline.access.service import Board
from timeline.attachments.service import upload_attachment
from timeline.imports.seed import import_demo_letter
from timeline.integrity.signing import ContentSigner, signer_for
from timeline.medications import master as medication_master
from timeline.medications.matching import facility_key
from timeline.models import Attachment, Medication, Post, PostVersion, ReadMark, Vitals
from timeline.posts import service as posts
from timeline.seed_week import MEDICATIONS, PHOTOS, SCRIPTS, SUMMARIES, Entry
from timeline.settings import Settings
from timeline.summary import service as summary_service
from timeline.summary.schemas import SummaryContent
from timeline.support_requests.service import decide_support_request

JAPAN = ZoneInfo("Asia/Tokyo")
# How long the seed waits for consent's events to reach timeline's projection (the workers have just started).
PROJECTION_WAIT_S = 120.0
# How long after a post each colleague typically opens it.
READ_DELAY = {
    "doctor": timedelta(hours=2, minutes=10),
    "nurse": timedelta(minutes=35),
    "pharmacist": timedelta(hours=1, minutes=20),
    "caremanager": timedelta(minutes=50),
    "helper": timedelta(minutes=40),
}


def principal_of(login_id: str, network: demo.DemoNetwork = demo.DEMO) -> Principal:
    user = network.users[login_id]
    return Principal(
        user_id=user.user_id,
        tenant=network.tenant,
        facility_id=user.facility_id,
        roles=frozenset(user.roles),
        name=user.name,
    )


def moment(today: date, day: int, at: str) -> datetime:
    return datetime.combine(today - timedelta(days=day), clock.fromisoformat(at), tzinfo=JAPAN)


@dataclass
class Seeding:
    """One patient's timeline being written: the posts so far by script key, what was added, and the scripted
    time of the step being written (``clock``), which the session stamps on every row it inserts."""

    session: AsyncSession
    settings: Settings
    signer: ContentSigner
    board: Board
    today: date
    network: demo.DemoNetwork = demo.DEMO
    posts: dict[str, Post] = field(default_factory=dict)
    added: int = 0
    clock: datetime | None = None

    def __post_init__(self) -> None:
        event.listen(self.session.sync_session, "before_flush", self._stamp)

    def _stamp(self, session: Session, _context: object, _instances: object) -> None:
        """Before the INSERT (post versions are append-only): the new rows at the scripted time, the version
        and the photo signed for that time (T5), as if written then."""
        if self.clock is None:
            return
        for row in session.new:
            if isinstance(row, Post):
                row.created_at = self.clock
                if row.request_status is not None:
                    row.request_updated_at = self.clock
            elif isinstance(row, PostVersion):
                row.created_at = self.clock
                row.signature = self.signer.sign(row.content_sha256, row.author_id, self.clock)
            elif isinstance(row, Attachment):
                row.created_at = self.clock
                row.signature = self.signer.sign(row.content_sha256, row.uploaded_by, self.clock)

    async def write(self, entry: Entry) -> None:
        parent = self.posts[entry.reply_to] if entry.reply_to else None
        author = principal_of(entry.author, self.network)
        users = self.network.users
        at = moment(self.today, entry.day, entry.at)
        attachments = []
        if entry.photo:
            self.clock = at - timedelta(minutes=5)  # the photo was uploaded just before the post was sent
            attachments.append(await self.upload(author, entry.photo))
        self.clock = at
        if parent is None:
            post = await posts.create_post(
                self.session,
                principal=author,
                signer=self.signer,
                board=self.board,
                category=entry.category,
                body=entry.body,
                mentions=[users[m].user_id for m in entry.mentions],
                attachment_ids=[a.id for a in attachments],
                addressed_user_id=users[entry.addressed_to].user_id if entry.addressed_to else None,
            )
        else:
            post = await posts.reply(
                self.session,
                principal=author,
                signer=self.signer,
                post_id=parent.id,
                category=entry.category,
                body=entry.body,
                mentions=[users[m].user_id for m in entry.mentions],
                attachment_ids=[a.id for a in attachments],
            )
        if entry.vitals and self.board.subject_id is not None:
            self.session.add(
                Vitals(
                    post_id=post.id,
                    tenant=author.tenant,
                    subject_id=self.board.subject_id,
                    recorded_by=author.user_id,
                    measured_at=at,
                    created_at=at,
                    **dict(entry.vitals),
                )
            )
        # An answer's time is the reply's (record_answer copies it); the requester adopting it is dated here.
        # Each step is flushed before the next, as each request of real use commits (autoflush is off).
        await self.session.flush()
        if parent is not None and entry.adopted_at:
            await decide_support_request(
                self.session,
                principal=principal_of(self.author_of(parent), self.network),
                post_id=parent.id,
                decision="adopted",
            )
            parent.request_updated_at = moment(self.today, entry.day, entry.adopted_at)
        await self.session.flush()
        self.clock = None
        self.posts[entry.key] = post
        self.added += 1

    def author_of(self, post: Post) -> str:
        return next(login for login, user in self.network.users.items() if user.user_id == post.author_id)

    async def upload(self, author: Principal, photo: str) -> Attachment:
        filename, draw = PHOTOS[photo]
        content = await asyncio.to_thread(draw)

        async def chunks() -> AsyncIterator[bytes]:
            yield content

        return await upload_attachment(
            self.session,
            principal=author,
            signer=self.signer,
            store=objects.store_for(self.settings),
            settings=self.settings,
            board=self.board,
            filename=filename,
            declared_length=len(content),
            chunks=chunks(),
        )

    async def read(self, entry: Entry, reader: str, at: datetime) -> None:
        """The colleague opens the post as the timeline does (open_post marks it, and a first post's replies
        so far, read); the marks this made are dated when they read it."""
        post = self.posts[entry.key]
        user_id = self.network.users[reader].user_id
        thread = await posts.open_post(
            self.session, principal=principal_of(reader, self.network), post_id=post.id
        )
        shown = [thread.view.post.id, *(r.post.id for r in thread.replies)]
        # Marks are written by one statement, not as rows of the session: those made just now carry the time
        # of seeding, later than any scripted one, and are moved to the time of this reading.
        await self.session.execute(
            update(ReadMark)
            .where(ReadMark.user_id == user_id, ReadMark.post_id.in_(shown), ReadMark.read_at > at)
            .values(read_at=at)
        )


def week(
    entries: Sequence[Entry], today: date, staff: Sequence[str] = demo.STAFF
) -> list[tuple[datetime, Entry, str | None]]:
    """The week in order: each post written at its time (reader None), then opened by each colleague after
    their delay."""
    steps: list[tuple[datetime, Entry, str | None]] = []
    for entry in entries:
        at = moment(today, entry.day, entry.at)
        steps.append((at, entry, None))
        for reader in staff:
            if reader != entry.author and reader not in entry.unread_by:
                steps.append((at + READ_DELAY[reader], entry, reader))
    return sorted(steps, key=lambda step: (step[0], step[2] is not None))


async def seed_timeline(
    session: AsyncSession,
    settings: Settings,
    subject_id: UUID,
    today: date,
    network: demo.DemoNetwork = demo.DEMO,
) -> int:
    """One patient's week; returns how many posts were added (0 when already seeded)."""
    seeding = Seeding(
        session=session,
        settings=settings,
        signer=signer_for(settings),
        board=Board(tenant=network.tenant, subject_id=subject_id),
        today=today,
        network=network,
    )
    # The seed fills an empty timeline only: once a patient has any post (seeded, or written by someone
    # trying the demo), it is left as it is.
    if (await session.execute(select(Post.id).where(Post.subject_id == subject_id).limit(1))).first():
        return 0
    for when, entry, reader in week(SCRIPTS[subject_id], today, network.staff):
        if reader is None:
            await seeding.write(entry)
        else:
            await seeding.read(entry, reader, when)
    if subject_id in SUMMARIES:
        author, content = SUMMARIES[subject_id]
        await summary_service.save(
            session,
            principal=principal_of(author, network),
            signer=seeding.signer,
            board=seeding.board,
            expected_version=0,
            content=SummaryContent.model_validate(content),
        )
    await seed_medications(session, network, subject_id, today)
    if subject_id == demo.SUBJECT:
        # Her discharge summary from the hospital, uploaded by the nurse two days ago (its post is stamped then),
        # its offers left for the team to take in (or not).
        seeding.clock = moment(today, 2, "15:10")
        await import_demo_letter(
            session,
            tenant=network.tenant,
            subject_id=subject_id,
            uploader_id=network.users["nurse"].user_id,
            signer=seeding.signer,
        )
        seeding.clock = None
    return seeding.added


async def seed_medications(
    session: AsyncSession, network: demo.DemoNetwork, subject_id: UUID, today: date
) -> None:
    """The patient's medication list, from the network's drug master (rows, not posts: the demo week's posts
    tell the story; the list is what the team found when it started)."""
    for login_id, code, dose, days, facility, prescriber in MEDICATIONS.get(subject_id, []):
        product = await medication_master.product(session, tenant=network.tenant, code=code)
        if product is None:
            continue
        at = moment(today, days, "10:00")
        session.add(
            Medication(
                tenant=network.tenant,
                subject_id=subject_id,
                drug_code=code,
                name=product.name,
                ingredient=product.ingredient,
                ingredient_key=product.ingredient_key,
                dose=dose,
                start_date=today - timedelta(days=days),
                prescriber=prescriber,
                facility=facility,
                facility_key=facility_key(facility),
                recorded_by=network.users[login_id].user_id,
                created_at=at,
                updated_at=at,
            )
        )
    await session.flush()


async def seed_drug_master(session: AsyncSession, network: demo.DemoNetwork) -> None:
    """The shipped extract of the drug price list, for a demo network whose operator has imported none."""
    if (await medication_master.status(session, tenant=network.tenant)).count == 0:
        sample = resources.files("timeline.medications").joinpath("drug_master_sample.csv").read_bytes()
        await medication_master.replace(session, tenant=network.tenant, data=sample)


async def projection_ready(
    session: AsyncSession, subject_id: UUID, network: demo.DemoNetwork = demo.DEMO
) -> bool:
    """Whether consent's events about this patient reached timeline: consent given, the whole team there."""
    for login_id in network.staff:
        access = await access_repository.access_of(
            session, tenant=network.tenant, subject_id=subject_id, user_id=network.users[login_id].user_id
        )
        if access is None or not access.consent_active:
            return False
    return True


async def seed(settings: CommonSettings, *, wait_s: float = PROJECTION_WAIT_S) -> int:
    assert isinstance(settings, Settings)
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    today = datetime.now(JAPAN).date()
    try:
        deadline = time.monotonic() + wait_s
        patients = [(network, subject_id) for network in demo.NETWORKS for subject_id in network.subjects]
        for network, subject_id in patients:
            while True:
                async with sessions() as session:
                    if await projection_ready(session, subject_id, network):
                        break
                if time.monotonic() > deadline:
                    print(
                        f"timeline: the demo patients' consent and care teams did not arrive within {wait_s:.0f} s "
                        "(is the consent worker running?); the demo timelines were not seeded"
                    )
                    return 1
                await asyncio.sleep(0.5)
        added = 0
        for network in demo.NETWORKS:
            async with sessions() as session, session.begin():
                await seed_drug_master(session, network)
        for network, subject_id in patients:
            async with sessions() as session, session.begin():
                added += await seed_timeline(session, settings, subject_id, today, network)
        print(
            f"timeline: a week of demo posts seeded ({added} posts)"
            if added
            else "timeline: demo timelines already present"
        )
        return 0
    finally:
        await engine.dispose()
