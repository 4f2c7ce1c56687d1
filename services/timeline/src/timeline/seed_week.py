"""The demo's week on its two patients, as timeline's seed writes it: who posts what, when, in which thread,
with which photo, and who has not read it yet. Invented people and patients; realistic home care."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from yui_common import demo

from timeline.seed_photos import medication_calendar_photo, wound_photo


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
    # The measures the body says, kept as data too (timeline.vitals): the patient's chart has points.
    vitals: tuple[tuple[str, float], ...] = ()


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
        vitals=(("systolic", 128), ("diastolic", 72), ("pulse", 76), ("temperature", 36.4), ("spo2", 96)),
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
        vitals=(("systolic", 132), ("diastolic", 70), ("pulse", 80), ("temperature", 36.8), ("spo2", 95)),
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
        vitals=(("weight", 62.4), ("systolic", 146), ("diastolic", 84), ("pulse", 88), ("spo2", 94)),
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
        vitals=(("weight", 62.1), ("systolic", 138), ("diastolic", 80), ("pulse", 82), ("spo2", 95)),
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

# 森 ハル (91), in the second demo network (となりまちネット): by day at the care home, seen at home by the doctor.
# A few posts between the clinic's doctor and the care home's helper (login IDs of that network).
HARU: tuple[Entry, ...] = (
    Entry(
        "h-stay",
        4,
        "10:30",
        "helper",
        "daily_living",
        "通いの日でした。昼食は全量召し上がり、午後はレクリエーションに参加されました。夕方、少し足元が"
        "ふらつく場面がありました。",
    ),
    Entry(
        "h-visit",
        3,
        "15:00",
        "doctor",
        "visit",
        "往診しました。血圧 142/80、脈拍 72。ふらつきは降圧薬の影響も考え、朝の薬を半量にします。"
        "転倒に気をつけて様子を見てください。",
        mentions=("helper",),
    ),
    Entry(
        "h-visit-r1",
        3,
        "17:20",
        "helper",
        "visit",
        "承知しました。通いの日は移動の際に付き添います。",
        reply_to="h-visit",
    ),
    Entry(
        "h-vitals",
        1,
        "11:00",
        "helper",
        "vital_signs",
        "血圧 128/74、脈拍 70、体温 36.5℃。ふらつきはありませんでした。",
        vitals=(("systolic", 128), ("diastolic", 74), ("pulse", 70), ("temperature", 36.5)),
        unread_by=("doctor",),
    ),
)

SCRIPTS: dict[UUID, tuple[Entry, ...]] = {
    demo.SUBJECT: KIYO,
    demo.SUBJECT_2: MASAO,
    demo.NEIGHBOUR_SUBJECT: HARU,
}


# Each demo patient's summary (基本情報・緊急時情報) as the visiting nurse first wrote it: what the ambulance crew
# and a new colleague need at a glance (the emergency sheet prints it).
SUMMARIES: dict[UUID, tuple[str, dict[str, object]]] = {
    demo.SUBJECT: (
        "nurse",
        {
            "family_doctor": {"name": "山田 太郎", "facility": "結クリニック", "phone": "0561-00-1001"},
            "visiting_nurse_station": {"name": "結訪問看護ステーション", "phone": "0561-00-1002"},
            "emergency_contacts": [
                {"name": "結 春子", "relation": "長女（同居）", "phone": "090-0000-1001"},
                {"name": "結 一郎", "relation": "長男（名古屋市）", "phone": "090-0000-1002"},
            ],
            "problems": [
                {"name": "仙骨部褥瘡", "since": "2026年11月", "note": "ハイドロコロイド材から軟膏処置へ変更"},
                {"name": "アルツハイマー型認知症", "since": "2021年"},
                {"name": "高血圧症", "since": "2010年頃"},
            ],
            "allergies": [{"substance": "ロキソプロフェン", "reaction": "じんましん"}],
            "care_level": "care_4",
            "adl": "ベッド上の生活。寝返りは一部介助、食事はセッティングで自己摂取（5〜6割）。排泄はおむつ。",
            "acp": {
                "wishes": "住み慣れた家で、娘と暮らし続けたい。延命のための管や機械はつけたくない（2026年10月、本人と長女）。",
                "dnar": "yes",
            },
            "living_situation": "長女と二人暮らし。長女は日中パート勤務（9〜15時）。",
        },
    ),
    demo.SUBJECT_2: (
        "nurse",
        {
            "family_doctor": {"name": "山田 太郎", "facility": "結クリニック", "phone": "0561-00-1001"},
            "visiting_nurse_station": {"name": "結訪問看護ステーション", "phone": "0561-00-1002"},
            "emergency_contacts": [
                {"name": "青木 恵", "relation": "長女（名古屋市）", "phone": "090-0000-2001"}
            ],
            "problems": [
                {"name": "慢性心不全", "since": "2019年", "note": "体重が2日で2kg増えたら連絡"},
                {"name": "2型糖尿病", "since": "2015年"},
            ],
            "no_known_allergies": True,
            "care_level": "care_1",
            "adl": "屋内は伝い歩きで自立。入浴はデイサービスで介助。薬の管理は一包化とカレンダーで見守り。",
            "acp": {
                "wishes": "できるだけ家で過ごしたいが、苦しいときは入院してもよい。",
                "dnar": "undecided",
            },
            "living_situation": "ひとり暮らし。毎朝ヘルパーが訪問。長女が週1回電話。",
        },
    ),
}


# Each demo patient's medications as the team listed them: (who recorded, YJ code, dose, days since it started,
# prescribing facility, prescriber). 青木 正男 came home from the city hospital with amlodipine under another
# brand than the clinic's: the list shows everyone the duplicate (rec2), as the pharmacist would catch it.
MEDICATIONS: dict[UUID, list[tuple[str, str, str, int, str, str]]] = {
    demo.SUBJECT: [
        ("doctor", "2329023F2020", "1回1錠 1日1回 朝食後", 120, "結クリニック", "山田 太郎"),
        ("doctor", "2344009F2022", "1回1錠 1日3回 毎食後", 120, "結クリニック", "山田 太郎"),
        ("doctor", "1141007F1063", "1回2錠 痛いとき（1日3回まで）", 20, "結クリニック", "山田 太郎"),
    ],
    demo.SUBJECT_2: [
        ("doctor", "2139005F1029", "1回1錠 1日1回 朝食後", 400, "結クリニック", "山田 太郎"),
        ("doctor", "2133001F1022", "1回1錠 1日1回 朝食後", 400, "結クリニック", "山田 太郎"),
        ("doctor", "2171022F2033", "1回1錠 1日1回 朝食後", 300, "結クリニック", "山田 太郎"),
        ("doctor", "3962002F2025", "1回1錠 1日2回 朝夕食後", 900, "結クリニック", "山田 太郎"),
        ("pharmacist", "2171022F2220", "1回1錠 1日1回 朝食後", 6, "みよし市民病院", "循環器内科 加藤"),
    ],
}
