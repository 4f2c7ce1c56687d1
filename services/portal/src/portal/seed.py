"""Seeding the demo network's portal: the first terms of use, published by the operator as any version is, and
the operator's contact and support hours with the year-end closing and the national holidays (idempotent)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import demo
from yui_common.auth import Principal
from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from portal.notices import repository, service
from portal.notices.schemas import PortalSettingsUpdate, TermsCreate

JAPAN = ZoneInfo("Asia/Tokyo")

TERMS_TITLE = "結ネット 利用規約"
TERMS_BODY = """\
第1条（目的）
この規約は、結町 高齢者支援課（以下「運営者」）が運営する地域医療介護連携ネットワーク「結ネット」（以下「本サービス」）の利用について定めます。本サービスは、在宅で療養する方を支える医療・介護の関係者が、本人の同意のもとで必要な情報を共有し、切れ目のない支援を行うことを目的とします。

第2条（利用者）
本サービスを利用できるのは、運営者が参加を承認した医療機関・薬局・訪問看護ステーション・介護事業所等（以下「参加施設」）の職員で、参加施設の管理者が利用者として登録した者に限ります。

第3条（本人の同意）
利用者は、本人（本人が同意できない場合はその代理人）から文書で同意を得た方についてのみ、情報を登録・閲覧します。同意が撤回されたときは、その方の情報の共有を直ちに停止します。

第4条（情報の取扱い）
1 利用者は、担当する方の支援に必要な範囲でのみ情報を閲覧し、登録します。
2 利用者は、本サービスで知り得た情報を、支援の目的以外に利用し、または第三者に提供してはなりません。利用者でなくなった後も同様とします。
3 写真・文書を登録するときは、支援に必要なものに限り、本人や家族が特定される不要な情報が写り込まないよう注意します。

第5条（アカウントと端末の管理）
1 利用者は、自らのログインIDとパスワード、認証アプリおよび端末を適切に管理し、他人に利用させてはなりません。
2 端末の紛失やアカウントの不正利用に気づいたときは、直ちに参加施設の管理者と運営者に届け出ます。

第6条（記録）
本サービスは、誰がいつどの方の情報を閲覧・登録したかを記録します。運営者は、適正な利用を確認するため、必要に応じてこの記録を確認します。

第7条（禁止事項）
利用者は、次の行為をしてはなりません。
・担当していない方の情報を閲覧すること
・虚偽の情報を登録すること
・本サービスの運営を妨げること
・法令またはこの規約に違反すること

第8条（利用の停止）
運営者は、利用者がこの規約に違反したとき、その他必要と認めるときは、事前に通知することなく利用を停止できます。

第9条（サービスの変更・休止）
運営者は、保守や障害対応のため本サービスを一時休止することがあります。計画的な休止および本サービスの終了は、事前にお知らせでお知らせします。

第10条（規約の変更）
運営者は、この規約を変更するときは、変更の内容と効力発生日をお知らせで事前に周知します。利用者は、効力発生日以後の最初のログインで変更後の規約に同意します。

第11条（問い合わせ）
本サービスに関する問い合わせは、お問い合わせフォームまたは運営者の窓口（平日 8時30分〜17時15分、年末年始を除く）で受け付けます。
"""

# Japan's national holidays of 2027 (国民の祝日, substitute holidays included), as the Cabinet Office lists
# them; the operator keeps this list each year, since some dates move (equinoxes, Happy Monday holidays).
NATIONAL_HOLIDAYS_2027 = (
    date(2027, 1, 1),
    date(2027, 1, 11),
    date(2027, 2, 11),
    date(2027, 2, 23),
    date(2027, 3, 22),
    date(2027, 4, 29),
    date(2027, 5, 3),
    date(2027, 5, 4),
    date(2027, 5, 5),
    date(2027, 7, 19),
    date(2027, 8, 11),
    date(2027, 9, 20),
    date(2027, 9, 23),
    date(2027, 10, 11),
    date(2027, 11, 3),
    date(2027, 11, 23),
)

SUPPORT = PortalSettingsUpdate(
    notice_period_months=3,
    operator_name="結町 高齢者支援課（結ネット事務局）",
    operator_phone="0561-00-0000",
    operator_email="yui-net@example.jp",
    support_weekdays=[0, 1, 2, 3, 4],
    support_opens="08:30",
    support_closes="17:15",
    support_closed_periods=["12-29..01-03"],
    support_holidays=list(NATIONAL_HOLIDAYS_2027),
)


def operator() -> Principal:
    user = demo.USERS["operator"]
    return Principal(
        user_id=user.user_id,
        tenant=demo.TENANT,
        facility_id=user.facility_id,
        roles=frozenset(user.roles),
        name=user.name,
    )


async def seed_portal(session: AsyncSession) -> list[str]:
    """The terms and the settings when missing; returns what was added. An operator's later edits stay."""
    added: list[str] = []
    actor = operator()
    if await repository.terms_version(session, tenant=demo.TENANT, version=demo.TERMS_VERSION) is None:
        # In force since the first of last month (Japan time): every user accepts it at their first sign-in.
        first_of_month = date.today().replace(day=1)
        effective_on = (first_of_month - timedelta(days=1)).replace(day=1)
        await service.publish_terms(
            session,
            actor=actor,
            terms=TermsCreate(
                version=demo.TERMS_VERSION,
                title=TERMS_TITLE,
                body=TERMS_BODY,
                summary_of_changes="結ネットの利用規約を制定しました。",
                effective_at=datetime.combine(effective_on, time(0, 0), tzinfo=JAPAN),
            ),
        )
        added.append("terms")
    current = await repository.portal_settings(session, tenant=demo.TENANT)
    # Missing, or only made with the defaults when the network was announced: nobody set the hours yet.
    if current is None or not (current.operator_phone or current.support_holidays):
        await service.update_settings(session, actor=actor, changes=SUPPORT)
        added.append("support hours")
    return added


async def seed(settings: CommonSettings) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            added = await seed_portal(session)
        print(f"portal: demo {' and '.join(added)} seeded" if added else "portal: demo terms already present")
        return 0
    finally:
        await engine.dispose()
