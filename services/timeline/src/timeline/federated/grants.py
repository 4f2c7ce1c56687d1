"""The grant federation hands timeline for one peer user's read or post on one referred subject.

Federation checks the agreement, the referral, the consent it holds and the peer's signed assertion naming the
user; it then signs a grant (EdDSA, its federation key, at most two minutes) naming the network, the subject,
the data categories the user may see and who they are. Timeline verifies it against the keys federation
publishes (`/.well-known/yui-federation`, fetched like identity's), and checks the subject's own state (support
stopped) itself: a grant never outlives a withdrawal timeline has heard of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from fastapi import Request
from yui_common.auth import JwksKeySet
from yui_common.problems import Problem

GRANT_HEADER = "Yui-Federation-Grant"
GRANT_TYPE = "yui-federation-grant+jwt"
ISSUER = "yui-federation"
AUDIENCE = "yui-timeline"
MAX_LIFETIME_S = 120


@dataclass(frozen=True)
class Grant:
    tenant: str
    subject_id: UUID
    referral_id: UUID
    user_id: UUID
    name: str
    name_kana: str | None
    profession: str
    facility_id: UUID
    facility_name: str
    network_name: str
    peer_source: str
    categories: tuple[str, ...]
    write: bool
    peer_user: str = ""  # the id the peer network knows its user by (``user_id`` is derived from it at home)

    @property
    def actor(self) -> str:
        """Who the audit log names: the peer network's user."""
        return f"peer-user:{self.user_id}"


def _refused(detail: str) -> Problem:
    return Problem(401, "federation-grant-invalid", "Grant refused", detail)


async def grant_of(request: Request, *, subject_id: UUID, write: bool) -> Grant:
    token = request.headers.get(GRANT_HEADER)
    if not token:
        raise _refused("A federated read carries federation's grant.")
    keys: JwksKeySet = request.app.state.federation_keys
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != GRANT_TYPE or header.get("alg") != "EdDSA":
            raise _refused("Not a federation grant.")
        key = await keys.key_for(str(header.get("kid")))
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError:
        raise _refused("The grant does not verify.") from None
    except Problem as problem:
        raise _refused(problem.detail or "The grant's key is unknown.") from None
    if int(claims["exp"]) - int(claims["iat"]) > MAX_LIFETIME_S:
        raise _refused("The grant lives too long.")
    try:
        grant = Grant(
            tenant=str(claims["tenant"]),
            subject_id=UUID(str(claims["subject"])),
            referral_id=UUID(str(claims["referral"])),
            user_id=UUID(str(claims["sub"])),
            name=str(claims["name"]),
            name_kana=claims.get("name_kana"),
            profession=str(claims["profession"]),
            facility_id=UUID(str(claims["facility_id"])),
            facility_name=str(claims["facility_name"]),
            network_name=str(claims["network_name"]),
            peer_source=str(claims["peer_source"]),
            categories=tuple(str(c) for c in claims["categories"]),
            write=bool(claims.get("write")),
            peer_user=str(claims.get("peer_user") or ""),
        )
    except (KeyError, TypeError, ValueError):
        raise _refused("The grant is incomplete.") from None
    if grant.subject_id != subject_id or (write and not grant.write):
        raise _refused("The grant is for another subject or does not allow this.")
    return grant
