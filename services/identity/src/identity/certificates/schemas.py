"""HTTP models of the client-certificate API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from identity.models import ClientCertificate
from identity.revocations.schemas import Propagation

RevocationReason = Literal[
    "terminal_lost",
    "terminal_retired",
    "key_compromised",
    "user_left",
    "user_suspended",
    "superseded",
    "other",
]
TerminalLabel = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


class AccessCodeRedemption(BaseModel):
    """The access code and PIN from the approval letter, and a name for this terminal."""

    model_config = ConfigDict(extra="forbid")
    tenant: str = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")
    access_code: str = Field(min_length=1, max_length=64)
    pin: str = Field(min_length=1, max_length=64)
    terminal_label: str = TerminalLabel


class CertificateCreate(BaseModel):
    """An administrator issues a certificate for one terminal of a user of their facility."""

    model_config = ConfigDict(extra="forbid")
    user_id: UUID
    terminal_label: str = TerminalLabel
    # Protects the PKCS#12 file on its way to the terminal; typed once when it is installed.
    pin: str = Field(min_length=6, max_length=64)


class AccessCodeCreate(BaseModel):
    """An operator gives an administrator a new access code (the first one expired, was locked or lost)."""

    model_config = ConfigDict(extra="forbid")
    facility_id: UUID
    user_id: UUID


class AccessCodeRead(BaseModel):
    access_code_id: UUID
    access_code: str
    pin: str
    expires_at: datetime


class CertificateRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: RevocationReason
    note: str | None = Field(default=None, max_length=1000)


class CertificateRead(BaseModel):
    id: UUID
    user_id: UUID
    facility_id: UUID
    terminal_label: str
    serial_number: str
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    status: Literal["active", "revoked", "expired"]
    revoked_at: datetime | None
    revocation_reason: str | None

    @classmethod
    def of(cls, certificate: ClientCertificate) -> CertificateRead:
        if certificate.revoked_at is not None:
            status: Literal["active", "revoked", "expired"] = "revoked"
        elif certificate.not_after <= datetime.now(UTC):
            status = "expired"
        else:
            status = "active"
        return cls(
            id=certificate.id,
            user_id=certificate.user_id,
            facility_id=certificate.facility_id,
            terminal_label=certificate.terminal_label,
            serial_number=certificate.serial_number,
            fingerprint_sha256=certificate.fingerprint_sha256,
            not_before=certificate.not_before,
            not_after=certificate.not_after,
            issued_at=certificate.issued_at,
            status=status,
            revoked_at=certificate.revoked_at,
            revocation_reason=certificate.revocation_reason,
        )


class CertificateRevoked(CertificateRead):
    """A revoked certificate, and how far the revocation has reached: 200 once every service refuses the
    tokens bound to it, else 202."""

    propagation: Propagation | None = None
