"""What makes two medications the same for the duplicate check (rec2): the active ingredients with their salt and
hydrate taken off (アムロジピンベシル酸塩 and アムロジピン are one ingredient; a combination product such as
テルミサルタン・アムロジピンベシル酸塩 holds two, each matched on its own), by route (an oral and a topical
loxoprofen are not a duplicate prescription), and a short list of classes where two different ingredients
together are a known duplicate (two acid suppressants, two NSAIDs, two sleeping pills of the benzodiazepine
receptor kind, two anticoagulants, …). Names are compared NFKC-folded, without spaces, katakana for hiragana.

The classes are the ones Japanese pharmacists' 重複投薬 checks name most; they are matched on the ingredient's
base name, so they hold whichever drug master the operator imported."""

from __future__ import annotations

import re
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

# Counter-ions that are the drug itself when what precedes them is an acid (L-アスパラギン酸カリウム, クエン酸
# ナトリウム: potassium and sodium supplements), so they stay on the name.
_CATIONS = ("ナトリウム", "カリウム", "カルシウム", "マグネシウム")
# How the list writes a combination product's ingredients: 「テルミサルタン・アムロジピンベシル酸塩」.
_COMBINED = re.compile(r"[・／/＋+]")
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
            if suffix in _CATIONS and base[: -len(suffix)].endswith("酸"):
                continue
            if base.endswith(suffix) and len(base) - len(suffix) >= 3:
                base = base[: -len(suffix)]
                stripped = True
                break
    return base


def components(ingredient: str) -> frozenset[str]:
    """The base of each active ingredient a product holds (one, or several for a combination)."""
    return frozenset(ingredient_base(part) for part in _COMBINED.split(ingredient) if part.strip())


def ingredient_key(ingredient: str, kind: str = "") -> str:
    """The stored key: base ingredients (sorted, ``+`` between) and route (a medication typed in without a
    master entry counts as oral, as almost every home-care prescription is). The duplicate check reads the
    route from it and the ingredients from the row's ingredient text (``components``), so a better rule for the
    names applies to rows already stored."""
    return f"{'+'.join(sorted(components(ingredient)))}|{kind or ORAL}"


def route_of(key: str) -> str:
    return key.rpartition("|")[2] or ORAL


def facility_key(facility: str) -> str:
    return fold(facility)


@dataclass(frozen=True)
class DuplicateClass:
    label: str
    members: tuple[str, ...]
    label_en: str = ""
    oral_only: bool = True

    def members_in(self, bases: frozenset[str], route: str) -> frozenset[str]:
        """Which of a product's ingredients belong to the class."""
        if self.oral_only and route != ORAL:
            return frozenset()
        return frozenset(b for b in bases if any(b.startswith(fold(m)) for m in self.members))


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
        label_en="Acid suppressants (PPI, P-CAB, H2 blockers)",
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
        label_en="Non-steroidal anti-inflammatory drugs (NSAIDs)",
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
        label_en="Hypnotics and anxiolytics (benzodiazepine receptor agonists)",
    ),
    DuplicateClass(
        "抗凝固薬",
        ("ワルファリン", "アピキサバン", "エドキサバン", "リバーロキサバン", "ダビガトラン"),
        label_en="Anticoagulants",
    ),
    DuplicateClass(
        "カルシウム拮抗薬（ジヒドロピリジン系）",
        ("アムロジピン", "ニフェジピン", "シルニジピン", "アゼルニジピン", "ベニジピン"),
        label_en="Calcium channel blockers (dihydropyridines)",
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
        label_en="Angiotensin II receptor blockers (ARBs)",
    ),
    DuplicateClass(
        "DPP-4 阻害薬",
        ("シタグリプチン", "ビルダグリプチン", "アログリプチン", "リナグリプチン", "テネリグリプチン"),
        label_en="DPP-4 inhibitors",
    ),
    DuplicateClass(
        "スタチン",
        ("アトルバスタチン", "ロスバスタチン", "プラバスタチン", "ピタバスタチン", "シンバスタチン"),
        label_en="Statins",
    ),
)
