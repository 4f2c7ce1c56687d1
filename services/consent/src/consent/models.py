"""Consent's tables: networks, subjects, consents, care teams, withdrawal cascades, exceptional access."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from uuid6 import uuid7
from yui_common.db import ServiceBase, new_metadata
from yui_common.people import PersonProjection
from yui_common.schema import infrastructure_tables


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)


class Subject(Base):
    __tablename__ = "subjects"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text, index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_kana: Mapped[str] = mapped_column(sa.String(200))
    birth_date: Mapped[date | None]
    municipality_code: Mapped[str] = mapped_column(sa.String(6))
    registered_by: Mapped[UUID]
    registered_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    # c9: the kana name folded (NFKC, katakana, no spaces) so that likely duplicates meet in one index.
    name_kana_folded: Mapped[str | None] = mapped_column(sa.String(200, collation="C"))
    sex: Mapped[str | None] = mapped_column(sa.String(8))  # FHIR administrative gender
    address: Mapped[str | None] = mapped_column(sa.String(400))
    postal_code: Mapped[str | None] = mapped_column(sa.String(8))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    # C7: the network where the subject lives; its terms apply when others' networks share the subject.
    residence_network: Mapped[str | None] = mapped_column(sa.Text)
    residence_exception_id: Mapped[UUID | None] = mapped_column(sa.ForeignKey("residence_exceptions.id"))
    # active | support_stopped (consent withdrawn; a consent given again makes the subject active again).
    status: Mapped[str] = mapped_column(sa.String(16), default="active", server_default="active")
    # Grows with every change others are told of (consent.subject-changed.v1), so they keep the newest.
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1, server_default="1")
    # The team's lead: whoever registered the subject until they leave; then the longest-standing member.
    lead_user_id: Mapped[UUID | None]

    __table_args__ = (sa.Index("ix_subjects_duplicate_key", "tenant", "name_kana_folded", "birth_date"),)


class Person(PersonProjection, Base):
    """Identity's users as consent shows them (identity.person-changed.v1): care teams and invitations by name,
    and nobody invited whom the network does not know."""

    __tablename__ = "people"


class FamilyContact(Base):
    __tablename__ = "family_contacts"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    subject_id: Mapped[UUID] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_kana: Mapped[str | None] = mapped_column(sa.String(200))
    relation: Mapped[str] = mapped_column(sa.String(100))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    address: Mapped[str | None] = mapped_column(sa.String(400))
    key_person: Mapped[bool] = mapped_column(default=False)


class Network(Base):
    """Consent's copy of a network's rules (identity owns networks; until it publishes them, seeded)."""

    __tablename__ = "networks"

    tenant: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # C4: what a withdrawal does to shared data in this network: "stop" (支援中止) or "delete".
    withdrawal_mode: Mapped[str] = mapped_column(sa.String(16), default="stop")


class NetworkMunicipality(Base):
    """C1: the municipalities whose residents a network may register."""

    __tablename__ = "network_municipalities"

    tenant: Mapped[str] = mapped_column(sa.ForeignKey("networks.tenant"), primary_key=True)
    municipality_code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))


class ResidenceException(Base):
    """C1: the operator's permission to register one person who lives outside the network's municipalities."""

    __tablename__ = "residence_exceptions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text, index=True)
    municipality_code: Mapped[str] = mapped_column(sa.String(6))
    name_kana_folded: Mapped[str] = mapped_column(sa.String(200))
    birth_date: Mapped[date | None]
    reason: Mapped[str] = mapped_column(sa.String(1000))
    approved_by: Mapped[UUID]
    approved_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))  # active | withdrawn
    given_by: Mapped[str] = mapped_column(sa.String(16))  # subject | proxy
    proxy_name: Mapped[str | None] = mapped_column(sa.String(200))
    proxy_relation: Mapped[str | None] = mapped_column(sa.String(100))
    recorded_by: Mapped[UUID]
    recorded_facility_id: Mapped[UUID | None]
    given_on: Mapped[date]
    recorded_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    withdrawn_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # C2: the scanned consent form, in object storage under a key the server chose.
    form_object_key: Mapped[str | None] = mapped_column(sa.String(300))
    form_content_type: Mapped[str | None] = mapped_column(sa.String(64))
    form_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    form_uploaded_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        # At most one active consent per subject; a new consent after withdrawal is a new row.
        sa.Index(
            "uq_consents_one_active", "subject_id", unique=True, postgresql_where=sa.text("status = 'active'")
        ),
    )


class CareTeamMember(Base):
    __tablename__ = "care_team_members"

    subject_id: Mapped[UUID] = mapped_column(sa.ForeignKey("subjects.id"), primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)
    facility_id: Mapped[UUID | None]
    added_by: Mapped[UUID]
    added_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class CareTeamInvitation(Base):
    """C6: a team member invites a user; the user joins only by accepting."""

    __tablename__ = "care_team_invitations"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    user_id: Mapped[UUID] = mapped_column(index=True)
    facility_id: Mapped[UUID | None]
    invited_by: Mapped[UUID]
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | accepted | declined
    invited_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    answered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index(
            "uq_care_team_invitations_one_pending",
            "subject_id",
            "user_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )


class ExceptionalAccess(Base):
    """C5: access without consent on a named ground, with the operator's prior permission, for a time."""

    __tablename__ = "exceptional_access"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    # No foreign key: a request about a subject the requester cannot see must not reveal whether it exists.
    subject_id: Mapped[UUID] = mapped_column(index=True)
    user_id: Mapped[UUID]
    facility_id: Mapped[UUID | None]
    ground: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(2000))
    status: Mapped[str] = mapped_column(sa.String(16))  # requested | approved | rejected | expired
    requested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    decided_by: Mapped[UUID | None]
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    decision_note: Mapped[str | None] = mapped_column(sa.String(2000))
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index("ix_exceptional_access_due", "expires_at", postgresql_where=sa.text("status = 'approved'")),
    )


class Withdrawal(Base):
    __tablename__ = "withdrawals"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    consent_id: Mapped[UUID] = mapped_column(sa.ForeignKey("consents.id"), unique=True)
    requested_by: Mapped[str] = mapped_column(sa.String(16))  # subject | proxy
    requester_name: Mapped[str | None] = mapped_column(sa.String(200))
    requester_relation: Mapped[str | None] = mapped_column(sa.String(100))
    taken_by: Mapped[UUID]
    mode: Mapped[str] = mapped_column(sa.String(16))  # stop | delete
    requested_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    event_id: Mapped[UUID]


class CascadeStep(Base):
    """One service's part of a withdrawal cascade: pending until that service reports done."""

    __tablename__ = "cascade_steps"

    withdrawal_id: Mapped[UUID] = mapped_column(sa.ForeignKey("withdrawals.id"), primary_key=True)
    # A service's name, or "peer:<network name>" for a federated peer network (issue 12).
    service: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | done
    started_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    items_affected: Mapped[int | None]
