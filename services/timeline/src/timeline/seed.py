"""Seeding the demo patients' timelines: a week of posts between the doctor, the visiting nurse, the pharmacist
and the care manager, with photos, replies, a support request and its answer, and who has read what.

Everything is written through timeline's own use cases (create_post, reply, upload_attachment,
decide_support_request, open_post), so the outbox announces each post, reply and request and notify tells the
team as it would in real use. The use cases need timeline's projection of consent (each patient's consent and
care team), which consent's events fill through the bus: this seed therefore runs once the workers are up
(`make run` runs it after the stack is ready) and first waits for that projection.

The posts are dated over the past week in Japan's daytime, which no use case offers (they stamp "now"): the
seed's session stamps each post, post version and photo it inserts with the scripted time just before the
INSERT (post versions are append-only, so never afterwards), and signs the version and the photo for that
time, so the integrity check (T5) holds; read marks and a request's answered time are moved in the same
transaction. Only the demo's rows are dated so; the audit entries keep the true time of seeding. Idempotent: a post already on the timeline (same author, thread
and text) is not written again, and a second run adds nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
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
from timeline.integrity.signing import ContentSigner, signer_for
from timeline.models import Attachment, Post, PostVersion, ReadMark
from timeline.posts import service as posts
from timeline.seed_photos import medication_calendar_photo, wound_photo
from timeline.settings import Settings
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
}


@dataclass(frozen=True)
class Entry:
    """One post of the script. ``day``: days before the seed's day (1 = yesterday); ``at``: Japan time."""

    key: str
    day: int
    at: str
    author: str
    category: str
    body: str
    reply_to: str | None = None
    addressed_to: str | None = None  # a support request (T2) to this colleague
    adopted_at: str | None = None  # the requester adopts the answer at this time of the answer's day
    mentions: tuple[str, ...] = ()
    photo: str | None = None  # a key of PHOTOS
    # Who has not opened it yet: the newest posts stay unread for the doctor and the nurse, so the demo's
    # timeline shows its unread marker to whoever signs in as them.
    unread_by: tuple[str, ...] = ()


NEWEST = ("doctor", "nurse")

PHOTOS = {
    "wound-week-ago": ("褥瘡_仙骨部.jpg", lambda: wound_photo(size_cm=(2.5, 2.0), redness=0.9)),
    "wound-improving": ("褥瘡_仙骨部_往診時.jpg", lambda: wound_photo(size_cm=(2.2, 1.8), redness=0.4)),
    "medication-calendar": ("服薬カレンダー.jpg", lambda: medication_calendar_photo(taken_through=3, seed=7)),
}

# 結 キヨ (88): at home with her daughter; a pressure ulcer on the sacrum, eating less.
KIYO: tuple[Entry, ...] = (
    Entry(
        "k-wound",
        7,
        "09:40",
        "nurse",
        "treatment",
        "訪問しました。仙骨部の褥瘡は 2.5×2.0cm、浅い潰瘍で滲出液は少量、周囲に軽い発赤があります。"
        "洗浄後、ハイドロコロイド材で保護しました。体位変換は日中2時間ごとに娘さんが行っています。",
        photo="wound-week-ago",
    ),
    Entry(
        "k-wound-r1",
        7,
        "13:10",
        "doctor",
        "treatment",
        "写真ありがとうございます。感染徴候はなさそうです。今の処置を続けてください。次回の往診で確認します。",
        reply_to="k-wound",
    ),
    Entry(
        "k-vitals-1",
        7,
        "10:05",
        "nurse",
        "vital_signs",
        "血圧 128/72、脈拍 76、体温 36.4℃、SpO2 96%（室内気）。朝食は6割、水分は 900mL/日 程度です。",
    ),
    Entry(
        "k-care",
        6,
        "11:30",
        "caremanager",
        "daily_living",
        "娘さんから、日中の介護の負担が大きいとご相談がありました。訪問介護（身体介護）を週3回に増やす方向で"
        "調整します。エアマットは福祉用具の事業所に交換を依頼し、明日納品の予定です。",
    ),
    Entry(
        "k-care-r1",
        6,
        "15:20",
        "nurse",
        "daily_living",
        "ありがとうございます。エアマット交換後の体圧は次回訪問で確認します。",
        reply_to="k-care",
    ),
    Entry(
        "k-medication",
        5,
        "14:00",
        "pharmacist",
        "medication",
        "居宅療養管理指導で訪問しました。酸化マグネシウムは飲めていますが、夕食後のアムロジピンが2回分"
        "残っていました。娘さんと相談し、一包化した薬を服薬カレンダーにセットしました。",
    ),
    Entry(
        "k-nutrition",
        5,
        "16:30",
        "doctor",
        "instruction",
        "栄養状態の改善のため、栄養補助食品（エンシュア・H）を1日1本、処方に追加しました。明日から開始して"
        "ください。",
    ),
    Entry(
        "k-nutrition-r1",
        5,
        "17:05",
        "pharmacist",
        "instruction",
        "承知しました。明日の配達時にお届けし、飲み方をご説明します。",
        reply_to="k-nutrition",
    ),
    Entry(
        "k-request",
        4,
        "10:15",
        "nurse",
        "treatment",
        "山田先生、褥瘡周囲の発赤が1cmほど広がっています。熱感・腫脹はなく、体温は 36.8℃ です。"
        "ハイドロコロイド材を続けてよいか、処置の変更が必要か、ご指示をお願いします。",
        addressed_to="doctor",
    ),
    Entry(
        "k-request-answer",
        4,
        "12:40",
        "doctor",
        "treatment",
        "ご連絡ありがとうございます。ハイドロコロイド材は中止し、洗浄後にアズノール軟膏を塗布してガーゼで"
        "保護してください。明後日の往診で確認します。38℃以上の発熱があればすぐ連絡をください。",
        reply_to="k-request",
    ),
    Entry(
        "k-vitals-2",
        4,
        "10:20",
        "nurse",
        "vital_signs",
        "血圧 132/70、脈拍 80、体温 36.8℃、SpO2 95%。朝食5割、昼食は半分程度。水分 800mL/日。",
    ),
    Entry(
        "k-visit",
        3,
        "14:30",
        "doctor",
        "visit",
        "往診しました。褥瘡は 2.2×1.8cm と縮小傾向で、発赤も軽くなっています。アズノール軟膏での処置を"
        "続けてください。採血（Alb、CRP）をしました。結果は出しだい共有します。次回の往診は2週間後です。",
        photo="wound-improving",
    ),
    Entry(
        "k-visit-r1",
        3,
        "16:00",
        "nurse",
        "visit",
        "確認しました。処置の方法をステーション内で統一します。",
        reply_to="k-visit",
    ),
    Entry(
        "k-visit-r2",
        3,
        "16:45",
        "caremanager",
        "visit",
        "ご家族にも共有しました。",
        reply_to="k-visit",
    ),
    Entry(
        "k-meeting",
        2,
        "11:00",
        "caremanager",
        "support_progress",
        "サービス担当者会議を来週火曜 14時からご自宅で開きます。山田先生はご都合がつかないため、ご意見を"
        "事前にいただけると助かります。",
        mentions=("doctor",),
    ),
    Entry(
        "k-meeting-r1",
        2,
        "18:10",
        "doctor",
        "support_progress",
        "褥瘡は改善傾向で、栄養補助食品は継続します。ベッド上でのポジショニングの統一をお願いします。",
        reply_to="k-meeting",
    ),
    Entry(
        "k-today-visit",
        1,
        "10:30",
        "nurse",
        "visit",
        "訪問しました。褥瘡は 2.0×1.5cm、滲出液少量で、周囲の発赤は消えています。昼食は7割食べられ、"
        "エンシュアも毎日1本飲めています。",
        unread_by=NEWEST,
    ),
    Entry(
        "k-labs",
        1,
        "15:00",
        "doctor",
        "test_result",
        "採血の結果：Alb 3.0 g/dL（前回 2.8）、CRP 0.3 mg/dL。栄養状態はやや改善しています。",
        unread_by=NEWEST,
    ),
)

# 青木 正男 (84): lives alone; heart failure, forgotten tablets, weight and swelling watched.
MASAO: tuple[Entry, ...] = (
    Entry(
        "m-plan",
        7,
        "09:30",
        "caremanager",
        "support_progress",
        "ケアプランを更新しました。ひとり暮らしで、薬の飲み忘れが続いています。訪問介護は毎朝で、服薬の"
        "声かけもお願いしています。長女さん（名古屋在住）とは週1回電話で連絡を取っています。",
    ),
    Entry(
        "m-vitals-1",
        7,
        "14:20",
        "nurse",
        "vital_signs",
        "体重 62.4kg（先週より +1.2kg）、血圧 146/84、脈拍 88、SpO2 94%。両下腿に圧痕の残るむくみがあります。"
        "息切れの訴えは軽度です。",
    ),
    Entry(
        "m-vitals-1-r1",
        7,
        "16:50",
        "doctor",
        "vital_signs",
        "体重増加とむくみを確認しました。飲み忘れの影響も考えられます。しばらく毎日の体重測定をお願いします"
        "（ヘルパーさんにも）。",
        reply_to="m-vitals-1",
    ),
    Entry(
        "m-calendar",
        6,
        "10:00",
        "pharmacist",
        "medication",
        "服薬カレンダー（朝・昼・夕・寝る前）を設置し、一包化した薬を1週間分セットしました。残薬を確認した"
        "ところ、朝のフロセミドが3回分残っていました。",
        photo="medication-calendar",
    ),
    Entry(
        "m-calendar-r1",
        6,
        "11:15",
        "caremanager",
        "medication",
        "ヘルパーさんに、朝の訪問でカレンダーのポケットが空になっているか確認してもらうよう伝えました。",
        reply_to="m-calendar",
    ),
    Entry(
        "m-meals",
        5,
        "15:30",
        "nurse",
        "daily_living",
        "体重 62.9kg。昨日の夕食はコンビニ弁当とカップ味噌汁でした。塩分と水分の摂り方をご本人にお話し"
        "しました（水分は1日 1.2L 程度を目安に）。",
    ),
    Entry(
        "m-request",
        4,
        "13:00",
        "pharmacist",
        "medication",
        "山田先生、フロセミド 20mg 朝1回の処方ですが、朝の飲み忘れが多いため、昼のヘルパー訪問（12時）に"
        "合わせて昼食後へ服用時間を変えることはできますでしょうか。夜間の頻尿を避けるため、昼までの服用が"
        "よいと考えます。",
        addressed_to="doctor",
    ),
    Entry(
        "m-request-answer",
        4,
        "17:20",
        "doctor",
        "medication",
        "昼食後への変更で問題ありません。処方を「フロセミド 20mg 1日1回 昼食後」に変更します。体重が 63kg を"
        "超えたら連絡をください。",
        reply_to="m-request",
        adopted_at="17:40",
    ),
    Entry(
        "m-request-r2",
        4,
        "17:45",
        "pharmacist",
        "medication",
        "承知しました。本日中に一包化を組み直し、カレンダーを入れ替えます。",
        reply_to="m-request",
    ),
    Entry(
        "m-vitals-2",
        3,
        "10:10",
        "nurse",
        "vital_signs",
        "体重 62.1kg、血圧 138/80、脈拍 82、SpO2 95%。むくみは軽くなりました。カレンダーの昼のポケットは"
        "空になっていました。",
    ),
    Entry(
        "m-vitals-2-r1",
        3,
        "12:00",
        "pharmacist",
        "vital_signs",
        "よかったです。残薬の確認は来週の訪問で行います。",
        reply_to="m-vitals-2",
    ),
    Entry(
        "m-visit",
        2,
        "16:00",
        "doctor",
        "visit",
        "往診しました。心音・呼吸音に大きな変化はなく、体重は減ってきています。利尿薬は今のまま続けます。"
        "次回の往診で BNP を採血します。",
    ),
    Entry(
        "m-meeting",
        2,
        "16:30",
        "caremanager",
        "support_progress",
        "サービス担当者会議を来週木曜 10時からご自宅で開く予定です。訪問看護と薬局の皆さまもご参加を"
        "お願いします。",
        mentions=("nurse", "pharmacist"),
    ),
    Entry(
        "m-meeting-r1",
        2,
        "17:30",
        "nurse",
        "support_progress",
        "参加します。",
        reply_to="m-meeting",
    ),
    Entry(
        "m-meeting-r2",
        1,
        "09:00",
        "pharmacist",
        "support_progress",
        "参加します。服薬の状況をまとめてお持ちします。",
        reply_to="m-meeting",
        unread_by=NEWEST,
    ),
    Entry(
        "m-today-visit",
        1,
        "14:00",
        "nurse",
        "visit",
        "訪問しました。体重 61.8kg、むくみはありません。「カレンダーだと飲んだか分かりやすい」とのことです。"
        "入浴介助を行い、皮膚のトラブルはありません。",
        unread_by=NEWEST,
    ),
    Entry(
        "m-family",
        1,
        "17:30",
        "caremanager",
        "daily_living",
        "長女さんから電話があり、来月1週間ほど帰省して一緒に過ごされるとのことです。その間、朝の訪問介護は"
        "お休みします。",
        unread_by=NEWEST,
    ),
)

SCRIPTS: dict[UUID, tuple[Entry, ...]] = {demo.SUBJECT: KIYO, demo.SUBJECT_2: MASAO}


def principal_of(login_id: str) -> Principal:
    user = demo.USERS[login_id]
    return Principal(
        user_id=user.user_id,
        tenant=demo.TENANT,
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
        author = principal_of(entry.author)
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
                mentions=[demo.USERS[m].user_id for m in entry.mentions],
                attachment_ids=[a.id for a in attachments],
                addressed_user_id=demo.USERS[entry.addressed_to].user_id if entry.addressed_to else None,
            )
        else:
            post = await posts.reply(
                self.session,
                principal=author,
                signer=self.signer,
                post_id=parent.id,
                category=entry.category,
                body=entry.body,
                mentions=[demo.USERS[m].user_id for m in entry.mentions],
                attachment_ids=[a.id for a in attachments],
            )
        # An answer's time is the reply's (record_answer copies it); the requester adopting it is dated here.
        # Each step is flushed before the next, as each request of real use commits (autoflush is off).
        await self.session.flush()
        if parent is not None and entry.adopted_at:
            await decide_support_request(
                self.session,
                principal=principal_of(self.author_of(parent)),
                post_id=parent.id,
                decision="adopted",
            )
            parent.request_updated_at = moment(self.today, entry.day, entry.adopted_at)
        await self.session.flush()
        self.clock = None
        self.posts[entry.key] = post
        self.added += 1

    def author_of(self, post: Post) -> str:
        return next(login for login, user in demo.USERS.items() if user.user_id == post.author_id)

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
        user_id = demo.USERS[reader].user_id
        thread = await posts.open_post(self.session, principal=principal_of(reader), post_id=post.id)
        shown = [thread.view.post.id, *(r.post.id for r in thread.replies)]
        # Marks are written by one statement, not as rows of the session: those made just now carry the time
        # of seeding, later than any scripted one, and are moved to the time of this reading.
        await self.session.execute(
            update(ReadMark)
            .where(ReadMark.user_id == user_id, ReadMark.post_id.in_(shown), ReadMark.read_at > at)
            .values(read_at=at)
        )


def week(entries: Sequence[Entry], today: date) -> list[tuple[datetime, Entry, str | None]]:
    """The week in order: each post written at its time (reader None), then opened by each colleague after
    their delay."""
    steps: list[tuple[datetime, Entry, str | None]] = []
    for entry in entries:
        at = moment(today, entry.day, entry.at)
        steps.append((at, entry, None))
        for reader in demo.STAFF:
            if reader != entry.author and reader not in entry.unread_by:
                steps.append((at + READ_DELAY[reader], entry, reader))
    return sorted(steps, key=lambda step: (step[0], step[2] is not None))


async def seed_timeline(session: AsyncSession, settings: Settings, subject_id: UUID, today: date) -> int:
    """One patient's week; returns how many posts were added (0 when already seeded)."""
    seeding = Seeding(
        session=session,
        settings=settings,
        signer=signer_for(settings),
        board=Board(tenant=demo.TENANT, subject_id=subject_id),
        today=today,
    )
    # The seed fills an empty timeline only: once a patient has any post (seeded, or written by someone
    # trying the demo), it is left as it is.
    if (await session.execute(select(Post.id).where(Post.subject_id == subject_id).limit(1))).first():
        return 0
    for when, entry, reader in week(SCRIPTS[subject_id], today):
        if reader is None:
            await seeding.write(entry)
        else:
            await seeding.read(entry, reader, when)
    return seeding.added


async def projection_ready(session: AsyncSession, subject_id: UUID) -> bool:
    """Whether consent's events about this patient reached timeline: consent given, the whole team there."""
    for login_id in demo.STAFF:
        access = await access_repository.access_of(
            session, tenant=demo.TENANT, subject_id=subject_id, user_id=demo.USERS[login_id].user_id
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
        for subject_id in SCRIPTS:
            while True:
                async with sessions() as session:
                    if await projection_ready(session, subject_id):
                        break
                if time.monotonic() > deadline:
                    print(
                        f"timeline: the demo patients' consent and care teams did not arrive within {wait_s:.0f} s "
                        "(is the consent worker running?); the demo timelines were not seeded"
                    )
                    return 1
                await asyncio.sleep(0.5)
        added = 0
        for subject_id in SCRIPTS:
            async with sessions() as session, session.begin():
                added += await seed_timeline(session, settings, subject_id, today)
        print(
            f"timeline: a week of demo posts seeded ({added} posts)"
            if added
            else "timeline: demo timelines already present"
        )
        return 0
    finally:
        await engine.dispose()
