"""Reference numbers (受付番号) people can read out on the phone, derived from a record's id.

An applicant is told one after applying; the operator finds the application by it. Eight characters of
Crockford's base32 (no I, L, O or U, so nothing is misread) in two groups of four: "K7QM-2XPD". Derived from a
hash of the id, so it needs no column and no sequence, and says nothing about when or in which order the
record was made. 40 bits: two of a network's applications sharing one is not a practical worry, and the
operator's lookup lists every match anyway.
"""

from __future__ import annotations

import hashlib
from uuid import UUID

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TYPED_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def reference_number(record_id: UUID | str) -> str:
    digest = int.from_bytes(hashlib.sha256(str(record_id).lower().encode()).digest()[:5], "big")
    characters = "".join(ALPHABET[(digest >> shift) & 31] for shift in range(35, -1, -5))
    return f"{characters[:4]}-{characters[4:]}"


def normalise_reference_number(typed: str) -> str:
    """What a person typed (any case, with or without the hyphen or spaces) in the printed form."""
    cleaned = "".join(typed.upper().split()).replace("-", "").translate(_TYPED_AS)
    return f"{cleaned[:4]}-{cleaned[4:]}" if len(cleaned) == 8 else cleaned
