"""Identity's tables: networks, facilities, users and the token-signing keys."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid6 import uuid7
from yui_common.db import ServiceBase, new_metadata
from yui_common.schema import infrastructure_tables


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)


class Network(Base):
    """A deployment hosts several networks (a municipality, a medical association, a council)."""

    __tablename__ = "networks"

    slug: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    # The network's own rules (terms of use differ between networks): see docs in migration 0003.
    municipality_codes: Mapped[list[str]] = mapped_column(ARRAY(sa.String(6)), server_default="{}")
    retention_years: Mapped[int] = mapped_column(server_default="5")
    support_hours: Mapped[str] = mapped_column(sa.String(200), server_default="平日 9:00-17:00")
    withdrawal_mode: Mapped[str] = mapped_column(sa.String(8), server_default="stop")
    totp_allowed: Mapped[bool] = mapped_column(server_default=sa.true())
    # Set by the demo seed (`make run`) when it creates its network, and by nothing else: only such a network
    # may let a password sign in by itself (S1 forbids it for real staff; finding 3 of issue 14).
    created_as_demo: Mapped[bool] = mapped_column(server_default=sa.false())
    # Demo networks only (a CHECK holds it to created_as_demo), never on by default. Even then a user who
    # confirmed a TOTP must give it.
    password_only_allowed: Mapped[bool] = mapped_column(server_default=sa.false())
    operator_issues_users: Mapped[bool] = mapped_column(server_default=sa.false())
    password_history_count: Mapped[int] = mapped_column(server_default="5")
    session_idle_minutes: Mapped[int] = mapped_column(server_default="15")
    session_absolute_hours: Mapped[int] = mapped_column(server_default="12")
    # Consecutive failed sign-ins of one login ID after which each further attempt waits: the N-th failure
    # blocks the next attempt for 2 s, each one after doubles it, up to the cap in Settings (15 minutes). A
    # timed pause that ends by itself, not a lock; a success or an administrator's unlock resets it.
    lockout_threshold: Mapped[int] = mapped_column(server_default="5")
    # P1: some networks list in the public directory only the facilities that agreed to it (Ko21-2).
    directory_opt_in_only: Mapped[bool] = mapped_column(server_default=sa.false())
    # I4: a password older than this many days must be changed at the next sign-in; None = no periodic change.
    password_max_age_days: Mapped[int | None] = mapped_column()
    # Issue 11: what the contractor sets when creating a network (identity.platform).
    operator_office: Mapped[str] = mapped_column(sa.String(200), server_default="")
    discontinuation_notice_months: Mapped[int] = mapped_column(server_default="3")  # P4
    max_attachment_bytes: Mapped[int] = mapped_column(sa.BigInteger, server_default=str(100 * 1024 * 1024))
    # active | suspended: a suspended network refuses every staff request and public page (ten3).
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    suspended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    suspension_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Grows with every network event published, so each service's projection keeps the newest state.
    state_version: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")

    __table_args__ = (
        sa.CheckConstraint("created_as_demo OR NOT password_only_allowed", name="password_only_on_demo_only"),
        sa.CheckConstraint(
            "password_max_age_days IS NULL OR password_max_age_days BETWEEN 30 AND 365",
            name="password_max_age_days_range",
        ),
        # ending and ended: issue 11's end of a network (identity.network_end); an ended slug is never reused.
        sa.CheckConstraint("status IN ('active', 'suspended', 'ending', 'ended')", name="network_status"),
    )


class PlatformAccount(Base):
    """The contractor's account (契約事業者): runs every network of the deployment and belongs to none of them.

    Kept apart from ``users`` (whose rows each belong to a network and a facility) so that no network's
    operator can see, change or suspend it, and its sign-in never yields a token the services accept."""

    __tablename__ = "platform_accounts"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    login_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.Text)
    # Set for the initial password: the first sign-in chooses one's own and enrols TOTP.
    must_change_password: Mapped[bool] = mapped_column(server_default=sa.true())
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_confirmed: Mapped[bool] = mapped_column(server_default=sa.false())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    last_signed_in_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Facility(Base):
    __tablename__ = "facilities"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    # applied -> active | rejected; active -> suspended -> active; active -> withdrawn | abolished.
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    address: Mapped[str | None] = mapped_column(sa.String(300))
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    administrator_name: Mapped[str | None] = mapped_column(sa.String(200))
    administrator_email: Mapped[str | None] = mapped_column(sa.String(254))
    administrator_login_id: Mapped[str | None] = mapped_column(sa.String(64))
    pledge_accepted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    applied_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    decided_by: Mapped[UUID | None] = mapped_column()
    rejection_reason: Mapped[str | None] = mapped_column(sa.Text)
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    published: Mapped[bool] = mapped_column(server_default=sa.true())
    # P1: what of the entry the public directory shows, field by field (To22-3, Ni17-2, Tr22-3) ...
    publish_name: Mapped[bool] = mapped_column(server_default=sa.true())
    publish_address: Mapped[bool] = mapped_column(server_default=sa.true())
    publish_contact: Mapped[bool] = mapped_column(server_default=sa.true())
    publish_status: Mapped[bool] = mapped_column(server_default=sa.true())
    # ... when the facility said yes (opt-in networks list only those), and the operator's veto (Se17-2).
    directory_opted_in_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    directory_withheld: Mapped[bool] = mapped_column(server_default=sa.false())
    directory_withheld_reason: Mapped[str | None] = mapped_column(sa.Text)


class User(Base):
    __tablename__ = "users"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"))
    facility_id: Mapped[UUID] = mapped_column(sa.ForeignKey("facilities.id"), index=True)
    login_id: Mapped[str] = mapped_column(sa.String(64))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    # Reading of the name (フリガナ), by which colleagues find and sort each other (issue 10).
    name_kana: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(sa.String(32)))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    # 職種: one of yui_common.vocabulary.PROFESSIONS (the free-text "occupation" before issue 10).
    profession: Mapped[str] = mapped_column(sa.String(32), default="other", server_default="other")
    # Grows with every identity.person-changed.v1 published for this user, so consumers keep the newest.
    person_version: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    # Set for an initial or reissued password: it only lets the user choose their own (I3, I7).
    must_change_password: Mapped[bool] = mapped_column(server_default=sa.false())
    password_changed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    previous_password_hashes: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default="{}")
    # When this account's failed sign-ins reached the network's lockout_threshold (its user was told): each
    # attempt then waits out a backoff (SignInBackoff). Cleared by a successful sign-in or an unlock.
    locked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_confirmed: Mapped[bool] = mapped_column(server_default=sa.false())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # A signed-in user's new authenticator until its first code confirms it; the confirmed one stays valid
    # meanwhile (changing phones must not leave the account without a second factor).
    totp_pending_secret: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime | None] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )

    __table_args__ = (sa.UniqueConstraint("tenant", "login_id", name="uq_users_tenant_login"),)


class SignInBackoff(Base):
    """Consecutive failed sign-ins of one login ID and until when its next attempt is refused.

    Keyed by the login ID as typed, whether or not an account has it, so an unknown ID is answered exactly
    as a known one (no oracle). Deleted by a successful sign-in or an administrator's unlock."""

    __tablename__ = "sign_in_backoffs"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    login_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(server_default="0")
    blocked_until: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_failed_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), index=True)


class SignInFailuresByAddress(Base):
    """Failed sign-ins per client address per fixed window: one address may not spray many login IDs.

    In PostgreSQL, not in a process, so the limit holds across API replicas."""

    __tablename__ = "sign_in_failures_by_address"

    address: Mapped[str] = mapped_column(sa.String(45), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), primary_key=True, index=True)
    failures: Mapped[int] = mapped_column(server_default="0")


class SigningKey(Base):
    """Ed25519 keys that sign access tokens; the newest active one signs, all active ones verify."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    retired_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class LoginSession(Base):
    """A server-side session: refreshes access tokens until idle or too old, or until it is ended."""

    __tablename__ = "login_sessions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"))
    user_id: Mapped[UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    refresh_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    second_factor: Mapped[str] = mapped_column(sa.String(16))
    cert_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(sa.String(32))


class Suspension(Base):
    """A user or facility stopped by the operator, or by the contractor in an emergency (I8, I9)."""

    __tablename__ = "suspensions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"), index=True)
    target_kind: Mapped[str] = mapped_column(sa.String(16))
    target_id: Mapped[UUID] = mapped_column(index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    emergency: Mapped[bool] = mapped_column(server_default=sa.false())
    suspended_by: Mapped[UUID] = mapped_column()
    suspended_by_role: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    # A contractor's emergency suspension is a report the operator must acknowledge (To35-2, Ko28-2).
    needs_acknowledgement: Mapped[bool] = mapped_column(server_default=sa.false())
    acknowledged_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    acknowledged_by: Mapped[UUID | None] = mapped_column()
    lifted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    lifted_by: Mapped[UUID | None] = mapped_column()


class Revocation(Base):
    """A revocation identity waits for every service to hold (a suspension, a facility closed, a logout, a
    certificate revoked): the id its event carries as ``revocation_id`` (issue 14, finding 1)."""

    __tablename__ = "revocations"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text)
    # The deny-list entry it makes: user | facility | session | certificate, and the id or fingerprint.
    kind: Mapped[str] = mapped_column(sa.String(16))
    target: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.Index("ix_revocations_tenant_requested", "tenant", "requested_at"),)


class RevocationStep(Base):
    """One service's deny list holding a revocation: pending until that service acknowledges it."""

    __tablename__ = "revocation_steps"

    revocation_id: Mapped[UUID] = mapped_column(
        sa.ForeignKey("revocations.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    # When the service stored the entry (its own clock), as its acknowledgement says; None while pending.
    applied_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index(
            "ix_revocation_steps_pending", "revocation_id", postgresql_where=sa.text("applied_at IS NULL")
        ),
    )


class IncidentReport(Base):
    """A security incident or defect: reporter -> facility administrator -> operator -> contractor (I10)."""

    __tablename__ = "incident_reports"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"), index=True)
    facility_id: Mapped[UUID] = mapped_column(sa.ForeignKey("facilities.id"), index=True)
    reporter_id: Mapped[UUID] = mapped_column(sa.ForeignKey("users.id"))
    category: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(24))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    escalated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    forwarded_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    notes: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default="[]")


# --- client certificates (I2, S1): the deployment's CA, issued certificates, access codes -------------------


class CertificateAuthority(Base):
    """The deployment's root CA for client certificates; its key is kept encrypted (PKCS#8, passphrase from
    settings), so a database dump alone cannot mint certificates."""

    __tablename__ = "certificate_authorities"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    certificate_pem: Mapped[str] = mapped_column(sa.Text)
    encrypted_private_key_pem: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class ClientCertificate(Base):
    """A client certificate issued to one user for one terminal of their facility."""

    __tablename__ = "client_certificates"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"))
    facility_id: Mapped[UUID] = mapped_column(sa.ForeignKey("facilities.id"), index=True)
    user_id: Mapped[UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    terminal_label: Mapped[str] = mapped_column(sa.String(64))
    serial_number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    fingerprint_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    certificate_pem: Mapped[str] = mapped_column(sa.Text)
    not_before: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    not_after: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    issued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    issued_by: Mapped[str] = mapped_column(sa.String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revocation_reason: Mapped[str | None] = mapped_column(sa.String(32))
    revocation_note: Mapped[str | None] = mapped_column(sa.Text)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        # One live certificate per terminal of a facility (To8-4: one per permitted terminal).
        sa.Index(
            "uq_client_certificates_live_terminal",
            "facility_id",
            "terminal_label",
            unique=True,
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
        sa.Index(
            "ix_client_certificates_revoked", "revoked_at", postgresql_where=sa.text("revoked_at IS NOT NULL")
        ),
    )


class CertificateAccessCode(Base):
    """An access code and PIN with which an administrator downloads their first certificate (To8-1/2).

    Only digests are stored: the code's SHA-256 (it is 100 random bits, so a fast digest cannot be reversed
    and lets us find the row) and the PIN's argon2id hash (a PIN is short: it needs the slow hash).
    """

    __tablename__ = "certificate_access_codes"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"))
    facility_id: Mapped[UUID] = mapped_column(sa.ForeignKey("facilities.id"))
    user_id: Mapped[UUID] = mapped_column(sa.ForeignKey("users.id"), index=True)
    code_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    pin_hash: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    attempts_left: Mapped[int] = mapped_column(sa.Integer)
    # active, used, locked (too many wrong PINs) or superseded (a newer code was issued)
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    issued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    issued_by: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    certificate_id: Mapped[UUID | None] = mapped_column(sa.ForeignKey("client_certificates.id"))


class NetworkOperation(Base):
    """An export of a network's data or its end (issue 11), which every service carries out by event and
    reports (identity.network_end). Kept after the network ends: the record of what was handed over and deleted."""

    __tablename__ = "network_operations"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    network_slug: Mapped[str] = mapped_column(sa.ForeignKey("networks.slug"))
    kind: Mapped[str] = mapped_column(sa.String(8))  # export | end
    # An export's place: each service writes <prefix><service>.zip in the bucket, identity the manifest.
    bucket: Mapped[str | None] = mapped_column(sa.String(63))
    prefix: Mapped[str | None] = mapped_column(sa.Text)
    export_id: Mapped[UUID | None] = mapped_column(sa.ForeignKey("network_operations.id"))  # an end's export
    requested_by: Mapped[str] = mapped_column(sa.String(64))
    requested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.CheckConstraint("kind IN ('export', 'end')", name="network_operation_kind"),
        sa.Index("ix_network_operations_network", "network_slug", "requested_at"),
    )


class NetworkOperationStep(Base):
    """One service's part of a network operation: pending until the service reports it done."""

    __tablename__ = "network_operation_steps"

    operation_id: Mapped[UUID] = mapped_column(
        sa.ForeignKey("network_operations.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The service's report: counts, and for an export its part's key, size and SHA-256.
    report: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
