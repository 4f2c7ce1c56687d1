"""Notify's tables: notifications per user, and its projections of care teams, people and subjects."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid6 import uuid7
from yui_common.db import ServiceBase, new_metadata
from yui_common.people import PersonProjection
from yui_common.schema import infrastructure_tables


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    user_id: Mapped[UUID]
    kind: Mapped[str] = mapped_column(sa.String(64))
    subject_id: Mapped[UUID | None]
    # The event that caused it: one notification per (event, user), so a replay adds nothing.
    source_event_id: Mapped[UUID]
    params: Mapped[dict[str, object]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    # What the event said about a post: ids only, names are read from the projections when shown (issue 10).
    post_id: Mapped[UUID | None]
    parent_id: Mapped[UUID | None]
    author_id: Mapped[UUID | None]
    # The body's first characters as timeline sent them; blanked when support stops or the reader leaves the
    # team, so nothing of the post lingers where its reader may no longer look.
    excerpt: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.UniqueConstraint("source_event_id", "user_id", name="uq_notifications_event_user"),
        sa.Index("ix_notifications_user_created", "user_id", sa.text("created_at DESC")),
        sa.Index("ix_notifications_created", "created_at"),
        sa.Index(
            "ix_notifications_subject", "subject_id", postgresql_where=sa.text("subject_id IS NOT NULL")
        ),
    )


class CareTeamMember(Base):
    """Projection of consent's care teams: who hears about a subject."""

    __tablename__ = "care_team_members"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)
    tenant: Mapped[str] = mapped_column(sa.Text)


class Person(PersonProjection, Base):
    """Projection of identity's users: who wrote, who invited (``identity.person-changed.v1``)."""

    __tablename__ = "people"


class Subject(Base):
    """Projection of consent's subjects: the patient a notification is about (``consent.subject-changed.v1``).

    Names only, never contact details; ``version`` keeps the newest when events arrive late or twice."""

    __tablename__ = "subjects"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    name: Mapped[str] = mapped_column(sa.String(200))
    name_kana: Mapped[str | None] = mapped_column(sa.String(200))
    # "active" or "support_stopped"
    status: Mapped[str] = mapped_column(sa.String(32), server_default="active")
    version: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Account(Base):
    """Projection of identity's accounts: roles (to find operators), facility, and standing."""

    __tablename__ = "accounts"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text)
    facility_id: Mapped[UUID | None] = mapped_column(index=True)
    roles: Mapped[list[str]] = mapped_column(ARRAY(sa.Text), server_default=sa.text("'{}'"))
    # "active", "suspended" or "disabled": anything but active receives nothing (n5).
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")


class FacilityHold(Base):
    """A facility identity has disabled (withdrawn, abolished, suspended): its users receive nothing."""

    __tablename__ = "facility_holds"

    facility_id: Mapped[UUID] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(sa.Text)


class StoppedSubject(Base):
    """A subject whose consent was withdrawn: nothing more is told about them but the stop itself."""

    __tablename__ = "stopped_subjects"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    stopped_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Preference(Base):
    """One user's choices; a missing field falls back to the network's defaults (n4)."""

    __tablename__ = "preferences"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    # Identity's events carry no e-mail address, so the user gives the one notify may write to.
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # kind -> "off" | "in_app" | "email"; kinds not listed follow the network's defaults.
    channels: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    digest_hour: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class NetworkDefaults(Base):
    """The operator's defaults for everyone in the network, and how long notifications are kept."""

    __tablename__ = "network_defaults"

    tenant: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    channels: Mapped[dict[str, str]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    digest_hour: Mapped[int] = mapped_column(server_default="8")
    retention_days: Mapped[int] = mapped_column(server_default="365")
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class EmailDelivery(Base):
    """One e-mail per (event, user): the key makes a redelivered event unable to send a second one (n5)."""

    __tablename__ = "email_deliveries"

    source_event_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text)
    notification_id: Mapped[UUID]
    queued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # "sent", or "withheld" when the person may no longer hear about it by the time it would leave.
    outcome: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (
        sa.Index("ix_email_deliveries_pending", "queued_at", postgresql_where=sa.text("sent_at IS NULL")),
    )


class DigestSent(Base):
    """One digest per user and local day, whichever replica gets there first."""

    __tablename__ = "digests_sent"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    # Notifications up to this moment were covered, so the next digest starts after it.
    covered_until: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class ApplicantEmail(Base):
    """The result of a facility's application, e-mailed to the applicant (Ko9): one per decision event."""

    __tablename__ = "applicant_emails"

    source_event_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str] = mapped_column(sa.String(254))
    decision: Mapped[str] = mapped_column(sa.String(16))
    queued_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
