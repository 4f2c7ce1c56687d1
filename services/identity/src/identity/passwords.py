"""Password hashing with argon2id at OWASP's recommended parameters."""

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verifying against this keeps the time of an unknown-login attempt the same as a known one.
DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Japan's medical-information safety guideline (v6.0): letters, digits and symbols mixed, at least 8
# characters where a second factor is used, at least 13 where it is not.
MIN_LENGTH_WITH_SECOND_FACTOR = 8
MIN_LENGTH_WITHOUT_SECOND_FACTOR = 13
_INITIAL_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no look-alikes (l/1, O/0)
_INITIAL_SYMBOLS = "-_!#%+"


def password_rule_violations(password: str, *, second_factor: bool) -> list[str]:
    """Which of the guideline's rules a new password breaks (empty when it is acceptable)."""
    minimum = MIN_LENGTH_WITH_SECOND_FACTOR if second_factor else MIN_LENGTH_WITHOUT_SECOND_FACTOR
    broken = []
    if len(password) < minimum:
        broken.append(f"at least {minimum} characters")
    if not any(c.isalpha() for c in password):
        broken.append("a letter")
    if not any(c.isdigit() for c in password):
        broken.append("a digit")
    if all(c.isalnum() for c in password):
        broken.append("a symbol")
    return broken


def initial_password() -> str:
    """A one-time password the administrator hands over; it only lets the user choose their own."""
    body = "".join(secrets.choice(_INITIAL_ALPHABET) for _ in range(14))
    return f"{body[:7]}{secrets.choice(_INITIAL_SYMBOLS)}{secrets.randbelow(10)}{body[7:]}"


def reuses_a_recent_password(password: str, hashes: list[str]) -> bool:
    return any(verify_password(old, password) for old in hashes)
