"""The message format: CloudEvents 1.0 structured JSON, signed as a detached JWS (RFC 7515 Appendix F).

The signature covers the exact body bytes and travels in the `Yui-Signature` header; its protected header names
the key (`kid`), the type (`typ`) and the signing time (`iat`), which the receiver holds against its clock. The
body's `time` is when the event occurred and stays fixed; a message retried for hours is signed again (same
bytes, same id) when its signature grows old, so the clock-skew window can stay minutes wide while delivery
retries for a day. PyJWT does the JWS; this module only says what is signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from uuid6 import uuid7

from federation.keys.service import SigningKey

SIGNATURE_HEADER = "Yui-Signature"
JWS_TYPE = "yui-federation+jws"
PULL_TYPE = "yui-federation-pull+jwt"
SPEC_VERSION = "1.0"
TYPE_PREFIX = "yui.federation."

AGREEMENT_PROPOSED = "yui.federation.agreement.proposed.v1"
AGREEMENT_ACCEPTED = "yui.federation.agreement.accepted.v1"
AGREEMENT_SUSPENDED = "yui.federation.agreement.suspended.v1"
AGREEMENT_RESUMED = "yui.federation.agreement.resumed.v1"
AGREEMENT_ENDED = "yui.federation.agreement.ended.v1"
AGREEMENT_TYPES = (
    AGREEMENT_PROPOSED,
    AGREEMENT_ACCEPTED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_RESUMED,
    AGREEMENT_ENDED,
)
# A network's audit seal head, sent to a peer so the two logs vouch for each other.
AUDIT_HEAD = "yui.federation.audit-head.v1"
# A subject referred to a facility of the peer network (home → peer), its end, and, on withdrawal of consent,
# the order to purge (home → peer) and the peer's signed acknowledgement of what it purged (peer → home).
REFERRAL = "yui.federation.referral.v1"
REFERRAL_ENDED = "yui.federation.referral-ended.v1"
CONSENT_WITHDRAWN = "yui.federation.consent-withdrawn.v1"
WITHDRAWAL_ACKNOWLEDGED = "yui.federation.withdrawal-acknowledged.v1"
# A new post on a referred subject (home → peer), so the peer's permitted staff are notified as a care team is.
SHARED_POST = "yui.federation.shared-post.v1"
# The types an agreement may let cross (the agreement messages themselves always do: they move it).
AGREEABLE_TYPES = (AUDIT_HEAD, REFERRAL)
# Messages that only ever take data away: they cross under any agreement the two networks hold, in whatever
# state (a suspended or ended agreement must still let a withdrawal reach the peer, C4).
PROTECTIVE_TYPES = (REFERRAL_ENDED, CONSENT_WITHDRAWN, WITHDRAWAL_ACKNOWLEDGED)
# Types that cross whenever the agreement lets another cross: a referral brings its post notices.
IMPLIED_TYPES = {SHARED_POST: REFERRAL}


class FederationMessage(BaseModel):
    """A message as it crosses; unknown attributes are refused, so nothing unsigned-for is carried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: str = Field(pattern=r"^1\.0$")
    id: UUID
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(pattern=r"^yui\.federation\.[a-z0-9.-]+\.v[0-9]+$", max_length=120)
    time: datetime
    datacontenttype: str = Field(pattern=r"^application/json$")
    yuisequence: int = Field(ge=1)
    yuiagreement: UUID
    yuirecipient: str = Field(min_length=1, max_length=500)
    yuisubjectlink: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    yuiconsentversion: int | None = Field(default=None, ge=1)
    data: dict[str, Any]


def build_body(
    *,
    source: str,
    recipient: str,
    event_type: str,
    agreement_id: UUID,
    sequence: int,
    data: dict[str, Any],
    subject_link: str | None = None,
    consent_version: int | None = None,
    message_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> tuple[UUID, bytes]:
    """The message's id and its exact bytes (compact JSON, UTF-8): what is signed, stored, sent and served."""
    message_id = message_id or uuid7()
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(message_id),
        "source": source,
        "type": event_type,
        "time": (occurred_at or datetime.now(UTC)).isoformat(timespec="microseconds"),
        "datacontenttype": "application/json",
        "yuisequence": sequence,
        "yuiagreement": str(agreement_id),
        "yuirecipient": recipient,
    }
    if subject_link is not None:
        body["yuisubjectlink"] = subject_link
    if consent_version is not None:
        body["yuiconsentversion"] = consent_version
    body["data"] = data
    return message_id, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def parse_body(body: bytes) -> FederationMessage:
    """The message, or ValueError with what is wrong (never the body's content: it may name a patient)."""
    try:
        return FederationMessage.model_validate_json(body)
    except ValidationError as error:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in error.errors()})
        raise ValueError(f"not a federation message: {', '.join(fields)}") from None


def sign(key: SigningKey, body: bytes, *, issued_at: float | None = None) -> str:
    """A detached compact JWS over ``body``: `<header>..<signature>`."""
    return jwt.api_jws.encode(
        body,
        key.private,
        algorithm="EdDSA",
        headers={
            "kid": key.kid,
            "typ": JWS_TYPE,
            "iat": int(issued_at if issued_at is not None else time.time()),
        },
        is_payload_detached=True,
    )


def signature_header(signature: str) -> dict[str, Any]:
    """The JWS protected header, unverified (to find the key); ValueError when it is not a detached JWS."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "":
        raise ValueError("not a detached compact JWS")
    try:
        header = jwt.get_unverified_header(signature)
    except jwt.PyJWTError as error:
        raise ValueError("unreadable JWS header") from error
    if (
        header.get("alg") != "EdDSA"
        or header.get("typ") != JWS_TYPE
        or not isinstance(header.get("kid"), str)
    ):
        raise ValueError("not a Yui federation signature")
    if not isinstance(header.get("iat"), int):
        raise ValueError("the signature carries no signing time")
    return header


def verify(signature: str, body: bytes, public_key: Any) -> bool:
    """Whether ``signature`` verifies over exactly ``body`` with ``public_key``."""
    try:
        jwt.api_jws.decode_complete(signature, key=public_key, algorithms=["EdDSA"], detached_payload=body)
    except jwt.PyJWTError:
        return False
    return True


def subject_link(link_secret: str, subject_id: UUID) -> str:
    """The pseudonymous link of a subject within one agreement: HMAC-SHA256 with the agreement's secret. The
    same subject has unrelated links under two agreements, and the peer cannot get back to the home id."""
    return hmac.new(bytes.fromhex(link_secret), str(subject_id).encode(), hashlib.sha256).hexdigest()


def pull_proof(key: SigningKey, *, puller: str, sender: str, after: int) -> str:
    """The signed request a network sends to pull a peer's feed: who pulls, from whom, from where on."""
    now = int(time.time())
    return jwt.encode(
        {"iss": puller, "aud": sender, "after": after, "iat": now, "jti": str(uuid7())},
        key.private,
        algorithm="EdDSA",
        headers={"kid": key.kid, "typ": PULL_TYPE},
    )
