"""Federation's tables: agreements, its signing keys, messages sent to and received from peers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from yui_common.db import ServiceBase, new_metadata
from yui_common.people import PersonProjection
from yui_common.schema import infrastructure_tables


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)


class Agreement(Base):
    """One network's side of a peering (協定). Both sides hold a row with the same id: the proposer as `home`
    (its terms govern), the other as `peer`. Two networks of one deployment therefore hold two rows here."""

    __tablename__ = "agreements"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    id: Mapped[UUID] = mapped_column(primary_key=True)
    side: Mapped[str] = mapped_column(sa.String(8))  # home | peer
    # proposed | accepted | suspended | ended
    state: Mapped[str] = mapped_column(sa.String(16))
    peer_source: Mapped[str] = mapped_column(sa.Text)
    peer_base_url: Mapped[str] = mapped_column(sa.Text)
    # The peer deployment's CA (PEM): the only trust for its TLS server certificate (pinned).
    peer_ca_pem: Mapped[str] = mapped_column(sa.Text)
    event_types: Mapped[list[str]] = mapped_column(JSONB)
    # Which of the peer network's professions may see which data categories.
    professions: Mapped[dict[str, list[str]]] = mapped_column(JSONB)
    cache_limit_hours: Mapped[int]
    # The source of the network whose terms govern (always the home network's).
    governing_terms: Mapped[str] = mapped_column(sa.Text)
    # HMAC key of the pseudonymous subject links (home side only; never leaves this database).
    link_secret: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    state_changed_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )

    __table_args__ = (sa.Index("ix_agreements_peer", "tenant", "peer_source"),)


class FederationKey(Base):
    """The deployment's Ed25519 keys that sign federation messages (kept like identity's signing keys).

    `next` is published but does not sign yet; `active` signs; `retiring` still verifies for the retry window;
    `removed` is no longer published. Rows are never deleted, so a kid (UUIDv7) is never used twice."""

    __tablename__ = "federation_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    private_pem: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    activate_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    activated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    retiring_since: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class SequenceCounter(Base):
    """The last sequence number given to a message from one of our networks to one peer network."""

    __tablename__ = "sequence_counters"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    recipient: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(sa.BigInteger)


class OutgoingMessage(Base):
    """A signed message to a peer: staged in the business transaction (the peers' outbox), delivered by the
    worker in sequence order, and kept so the feed can serve it again."""

    __tablename__ = "outgoing_messages"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    agreement_id: Mapped[UUID]
    recipient: Mapped[str] = mapped_column(sa.Text)
    peer_base_url: Mapped[str] = mapped_column(sa.Text)
    sequence: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(120))
    # The exact bytes signed and sent (text: UTF-8 JSON), and the detached JWS over them.
    body: Mapped[str] = mapped_column(sa.Text)
    signature: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(server_default=sa.text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        sa.UniqueConstraint("tenant", "recipient", "sequence", name="uq_outgoing_messages_sequence"),
        sa.Index(
            "ix_outgoing_messages_undelivered",
            "next_attempt_at",
            postgresql_where=sa.text("delivered_at IS NULL"),
        ),
    )


class ReceivedMessage(Base):
    """A message a peer sent us, keyed by (source, id): the record of its outcome that makes a replay answer
    the same and apply nothing. `pending` ones wait for a gap in the sequence to be filled."""

    __tablename__ = "received_messages"

    source: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    agreement_id: Mapped[UUID]
    sequence: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(120))
    body: Mapped[str] = mapped_column(sa.Text)
    signature: Mapped[str] = mapped_column(sa.Text)
    # applied | pending | duplicate | refused
    status: Mapped[str] = mapped_column(sa.String(16))
    # What the first answer said: status and body, repeated to a replay.
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    applied_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.Index("ix_received_messages_pending", "tenant", "source", "sequence"),)


class ReceiveCursor(Base):
    """How far the messages from one peer network to one of ours are applied (in sequence order)."""

    __tablename__ = "receive_cursors"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    source: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    applied_through: Mapped[int] = mapped_column(sa.BigInteger)


class PeerAuditHead(Base):
    """A peer's audit seal head as it told us (yui.federation.audit-head.v1): the two logs vouch for each other."""

    __tablename__ = "peer_audit_heads"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    source: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    message_id: Mapped[UUID] = mapped_column(primary_key=True)
    seal_number: Mapped[int | None] = mapped_column(sa.BigInteger)
    head: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


# --- what federation knows of this deployment's own people and subjects (projections of identity and consent) ---


class Person(PersonProjection, Base):
    """Identity's people: a peer-side user's profession and facility (who may read a referral), and the
    facilities a network offers to its peers' referrals."""

    __tablename__ = "people"
    __table_args__ = (sa.Index("ix_people_tenant_facility", "tenant", "facility_id"),)


class SubjectState(Base):
    """Consent's subjects as far as federation needs them: the name a referral carries to the peer, and whether
    consent stands (a withdrawal refuses every peer's fetch from the moment federation hears of it)."""

    __tablename__ = "subjects"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    name: Mapped[str] = mapped_column(sa.Text, server_default="")
    name_kana: Mapped[str | None] = mapped_column(sa.Text)
    name_version: Mapped[int] = mapped_column(sa.BigInteger, server_default=sa.text("0"))
    consent_active: Mapped[bool] = mapped_column(server_default=sa.false())
    consent_version: Mapped[int] = mapped_column(server_default=sa.text("0"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class CareTeamMember(Base):
    """Consent's care teams: only a member of a subject's team refers the subject to a peer."""

    __tablename__ = "care_team_members"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)


class Referral(Base):
    """A subject referred to a facility of a peer network (紹介). Both sides hold a row with the same id: home
    (`side` home, the subject's id, the withdrawal's acknowledgement) and the peer (`side` peer, the subject's
    name and link, the cache of what it fetched)."""

    __tablename__ = "referrals"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    id: Mapped[UUID] = mapped_column(primary_key=True)
    side: Mapped[str] = mapped_column(sa.String(8))  # home | peer
    agreement_id: Mapped[UUID]
    peer_source: Mapped[str] = mapped_column(sa.Text)
    # home side only: the subject (never leaves this deployment; the peer knows the pseudonymous link)
    subject_id: Mapped[UUID | None]
    subject_link: Mapped[str] = mapped_column(sa.String(64))
    subject_name: Mapped[str] = mapped_column(sa.Text)
    subject_name_kana: Mapped[str | None] = mapped_column(sa.Text)
    home_network_name: Mapped[str] = mapped_column(sa.Text)
    peer_network_name: Mapped[str] = mapped_column(sa.Text)
    facility_id: Mapped[UUID]  # the peer network's facility the subject is referred to
    facility_name: Mapped[str] = mapped_column(sa.Text)
    purpose: Mapped[str] = mapped_column(sa.Text)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    categories: Mapped[list[str]] = mapped_column(JSONB)
    consent_basis: Mapped[str] = mapped_column(sa.String(16))  # consent | proxy
    consent_version: Mapped[int]
    referred_by: Mapped[dict[str, Any]] = mapped_column(JSONB)  # name, profession, facility_name
    referred_by_id: Mapped[UUID | None]  # home side only
    # active | ended | withdrawn
    state: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The withdrawal that ended it (both sides), and, at home, the peer's signed acknowledgement of the purge.
    withdrawal_id: Mapped[UUID | None]
    withdrawn_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    acknowledgement: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # peer side only: the last timeline fetched from home, kept within the agreement's cache limit.
    cached: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    cached_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index("ix_referrals_subject", "tenant", "subject_id"),
        sa.Index("ix_referrals_facility", "tenant", "facility_id"),
        sa.Index("ix_referrals_withdrawal", "withdrawal_id"),
    )
