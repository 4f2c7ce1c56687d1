"""What makes two medications the same for the duplicate check (rec2): the active ingredient with its salt and
hydrate taken off (アムロジピンベシル酸塩 and アムロジピン are one ingredient), by route (an oral and a topical
loxoprofen are not a duplicate prescription), and a short list of classes where two different ingredients
together are a known duplicate (two acid suppressants, two NSAIDs, two sleeping pills of the benzodiazepine
receptor kind, two anticoagulants, …). Names are compared NFKC-folded, without spaces, katakana for hiragana.

The classes are the ones Japanese pharmacists' 重複投薬 checks name most; they are matched on the ingredient's
base name, so they hold whichever drug master the operator imported."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Counter-ions, hydrates and esters the list's 成分名 carries after the base name (longest first).
_SUFFIXES = tuple(
    sorted(
        (
            "水和物",
            "無水物",
            "塩酸塩",
            "硫酸塩",
            "リン酸塩",
            "酒石酸塩",
            "マレイン酸塩",
            "フマル酸塩",
            "ベシル酸塩",
            "メシル酸塩",
            "トシル酸塩",
            "クエン酸塩",
            "臭化水素酸塩",
            "酢酸塩",
            "ナトリウム",
            "カリウム",
            "カルシウム",
            "マグネシウム",
            "メドキソミル",
            "シレキセチル",
        ),
        key=len,
        reverse=True,
    )
)

ORAL = "内用薬"


def fold(text: str) -> str:
    """NFKC, no spaces of any width, hiragana as katakana, Latin letters upper-case: how names are compared."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(ch for ch in folded if not ch.isspace())
    folded = "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in folded)
    return folded.upper()


def ingredient_base(ingredient: str) -> str:
    """The ingredient without its salt or hydrate: 「ロキソプロフェンナトリウム水和物」 → 「ロキソプロフェン」."""
    base = fold(ingredient)
    stripped = True
    while stripped:
        stripped = False
        for suffix in _SUFFIXES:
            if base.endswith(suffix) and len(base) - len(suffix) >= 3:
                base = base[: -len(suffix)]
                stripped = True
                break
    return base


def ingredient_key(ingredient: str, kind: str = "") -> str:
    """The duplicate check's key: base ingredient and route (a medication typed in without a master entry
    counts as oral, as almost every home-care prescription is)."""
    return f"{ingredient_base(ingredient)}|{kind or ORAL}"


def facility_key(facility: str) -> str:
    return fold(facility)


@dataclass(frozen=True)
class DuplicateClass:
    label: str
    members: tuple[str, ...]
    oral_only: bool = True

    def holds(self, key: str) -> bool:
        base, _, kind = key.partition("|")
        if self.oral_only and kind != ORAL:
            return False
        return any(base.startswith(fold(member)) for member in self.members)


CLASSES = (
    DuplicateClass(
        "胃酸分泌抑制薬（PPI・P-CAB・H2 遮断薬）",
        (
            "ランソプラゾール",
            "オメプラゾール",
            "ラベプラゾール",
            "エソメプラゾール",
            "ボノプラザン",
            "ファモチジン",
            "ラニチジン",
            "ニザチジン",
            "ラフチジン",
            "シメチジン",
            "ロキサチジン",
        ),
    ),
    DuplicateClass(
        "非ステロイド性抗炎症薬（NSAIDs）",
        (
            "ロキソプロフェン",
            "セレコキシブ",
            "ジクロフェナク",
            "イブプロフェン",
            "メロキシカム",
            "エトドラク",
            "ナプロキセン",
        ),
    ),
    DuplicateClass(
        "睡眠薬・抗不安薬（ベンゾジアゼピン受容体作動薬）",
        (
            "ブロチゾラム",
            "トリアゾラム",
            "ゾルピデム",
            "ゾピクロン",
            "エスゾピクロン",
            "エチゾラム",
            "アルプラゾラム",
            "ロラゼパム",
            "フルニトラゼパム",
            "ジアゼパム",
        ),
    ),
    DuplicateClass(
        "抗凝固薬", ("ワルファリン", "アピキサバン", "エドキサバン", "リバーロキサバン", "ダビガトラン")
    ),
    DuplicateClass(
        "カルシウム拮抗薬（ジヒドロピリジン系）",
        ("アムロジピン", "ニフェジピン", "シルニジピン", "アゼルニジピン", "ベニジピン"),
    ),
    DuplicateClass(
        "アンジオテンシン II 受容体拮抗薬（ARB）",
        (
            "オルメサルタン",
            "テルミサルタン",
            "カンデサルタン",
            "バルサルタン",
            "ロサルタン",
            "イルベサルタン",
            "アジルサルタン",
        ),
    ),
    DuplicateClass(
        "DPP-4 阻害薬",
        ("シタグリプチン", "ビルダグリプチン", "アログリプチン", "リナグリプチン", "テネリグリプチン"),
    ),
    DuplicateClass(
        "スタチン",
        ("アトルバスタチン", "ロスバスタチン", "プラバスタチン", "ピタバスタチン", "シンバスタチン"),
    ),
)
