"""The signed tokens of a referral's exchange.

- The **assertion**: the peer's federation signs, for one request, who is asking (the peer user's id, name,
  profession and facility), about which referral, for one minute; for a post, also the hash of the body. Home
  verifies it with the peer's published keys, as it verifies a message.
- The **grant**: home's federation, having checked agreement, referral, consent and assertion, signs what
  timeline may do for that user (grants.py in timeline verifies it with the same published keys).
- The **proof**: a signed request (the feed's pull proof) for the peer's directory of facilities.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import jwt
from uuid6 import uuid7

from federation.keys.service import SigningKey

ASSERTION_HEADER = "Yui-Assertion"
ASSERTION_TYPE = "yui-federation-assertion+jwt"
ASSERTION_LIFETIME_S = 60
GRANT_TYPE = "yui-federation-grant+jwt"
GRANT_LIFETIME_S = 60


def peer_user_id(peer_source: str, user_id: str) -> UUID:
    """Who a peer network's user is at home: derived from the peer network and the id it asserted, so a peer can
    only ever name its own users, never one of home's people or another peer's (timeline keeps them apart)."""
    return uuid5(NAMESPACE_URL, f"{peer_source}#user:{user_id}")


def author_key(author_id: UUID) -> str:
    """A post's author as a notice names them to the peer: the peer can recognise its own user (through
    ``peer_user_id``) and learns no id of home's people."""
    return hashlib.sha256(str(author_id).encode()).hexdigest()


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def assertion(
    key: SigningKey,
    *,
    peer_source: str,
    home_source: str,
    referral_id: UUID,
    user: dict[str, Any],
    body: bytes | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": peer_source,
        "aud": home_source,
        "sub": str(user["user_id"]),
        "referral": str(referral_id),
        "name": user["name"],
        "name_kana": user.get("name_kana"),
        "profession": user["profession"],
        "facility_id": str(user["facility_id"]),
        "facility_name": user["facility_name"],
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_S,
        "jti": str(uuid7()),
    }
    if body is not None:
        claims["body_sha256"] = body_hash(body)
    return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": ASSERTION_TYPE})


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims before the key is known (ValueError when it is not an assertion)."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise ValueError("unreadable assertion") from error
    if (
        header.get("typ") != ASSERTION_TYPE
        or header.get("alg") != "EdDSA"
        or not isinstance(header.get("kid"), str)
    ):
        raise ValueError("not a Yui federation assertion")
    return header, claims


def verified(token: str, key: Any, *, issuer: str, audience: str) -> dict[str, Any]:
    """The claims once the signature, issuer, audience and lifetime hold (ValueError otherwise)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=["EdDSA"],
            issuer=issuer,
            audience=audience,
            leeway=5,
            options={"require": ["iat", "exp", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise ValueError(type(error).__name__) from error
    if int(claims["exp"]) - int(claims["iat"]) > ASSERTION_LIFETIME_S:
        raise ValueError("the assertion lives too long")
    return claims


def grant(
    key: SigningKey,
    *,
    tenant: str,
    subject_id: UUID,
    referral_id: UUID,
    claims: dict[str, Any],
    network_name: str,
    peer_source: str,
    categories: list[str],
    write: bool,
) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "iss": "yui-federation",
            "aud": "yui-timeline",
            "sub": str(peer_user_id(peer_source, str(claims["sub"]))),
            "peer_user": str(claims["sub"]),  # the id the peer knows its user by (for the audit log)
            "tenant": tenant,
            "subject": str(subject_id),
            "referral": str(referral_id),
            "name": claims["name"],
            "name_kana": claims.get("name_kana"),
            "profession": claims["profession"],
            "facility_id": claims["facility_id"],
            "facility_name": claims["facility_name"],
            "network_name": network_name,
            "peer_source": peer_source,
            "categories": categories,
            "write": write,
            "iat": now,
            "exp": now + GRANT_LIFETIME_S,
            "jti": str(uuid7()),
        },
        key.private,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": GRANT_TYPE},
    )
