"""Folding Japanese kana names so that the same name typed differently compares equal (c9 duplicates)."""

from __future__ import annotations

import unicodedata

_HIRAGANA_FIRST, _HIRAGANA_LAST = "\u3041", "\u3096"
_KATAKANA_OFFSET = 0x60
_SEPARATORS = "・･"


def fold_kana(name: str) -> str:
    """NFKC (half-width ｶﾅ → カナ, full-width letters → ASCII, 'ﾞ' joined), hiragana → katakana, no spaces."""
    folded = unicodedata.normalize("NFKC", name)
    folded = "".join(
        chr(ord(c) + _KATAKANA_OFFSET) if _HIRAGANA_FIRST <= c <= _HIRAGANA_LAST else c for c in folded
    )
    return "".join(c for c in folded if not c.isspace() and c not in _SEPARATORS).upper()
