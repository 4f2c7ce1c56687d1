"""Portal's tables: notices, terms and their acceptances, inquiries, the network's portal settings and the
maintenance switch (plus the shared outbox, inbox and audit log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid6 import uuid7
from yui_common.db import ServiceBase, new_metadata
from yui_common.events import portal as portal_events
from yui_common.schema import infrastructure_tables


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)

# The maintenance switch of the whole deployment (the contractor's emergency stop), beside one per network:
# the scope MaintenanceChangedV1 names it by.
ALL_NETWORKS = portal_events.ALL_NETWORKS


class PortalSettings(Base):
    """A network's portal rules: the discontinuation notice period (P4), inquiry hours and contact (P5)."""

    __tablename__ = "portal_settings"

    tenant: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    # Discontinuing the service is announced at least this many months ahead (Ko26: 1, To38: 3, Ni26: 6).
    notice_period_months: Mapped[int] = mapped_column(server_default="3")
    operator_name: Mapped[str] = mapped_column(sa.String(200), server_default="")
    operator_phone: Mapped[str] = mapped_column(sa.String(40), server_default="")
    operator_email: Mapped[str] = mapped_column(sa.String(254), server_default="")
    # Support hours: weekdays (0 = Monday), opening and closing time, yearly closed periods ("12-29..01-03")
    # and the dated holidays the operator keeps (national holidays differ every year).
    support_weekdays: Mapped[list[int]] = mapped_column(
        sa.ARRAY(sa.SmallInteger), server_default="{0,1,2,3,4}"
    )
    support_opens: Mapped[str] = mapped_column(sa.String(5), server_default="09:00")
    support_closes: Mapped[str] = mapped_column(sa.String(5), server_default="17:00")
    support_closed_periods: Mapped[list[str]] = mapped_column(
        sa.ARRAY(sa.String(12)), server_default="{12-29..01-03}"
    )
    support_holidays: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(10)), server_default="{}")
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class Notice(Base):
    """A notice on the portal: public or for the network's signed-in users only (P2), service and terms
    changes (P3), maintenance, emergency stops and discontinuation (P4), and maintenance reports (O2)."""

    __tablename__ = "notices"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    audience: Mapped[str] = mapped_column(sa.String(8))  # public | users
    kind: Mapped[str] = mapped_column(sa.String(24))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    # maintenance and emergency stops: the announced window; discontinuation: starts_at is the last day.
    starts_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    published_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(sa.String(64))
    # The operator deletes a notice without notice (To23): it leaves every page, the row stays for the audit.
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_by: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.Index("ix_notices_live", "tenant", "published_at", postgresql_where=sa.text("deleted_at IS NULL")),
    )


class TermsVersion(Base):
    """One published version of a network's terms of use; the newest one in effect binds every user (P3)."""

    __tablename__ = "terms_versions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    summary_of_changes: Mapped[str] = mapped_column(sa.Text, server_default="")
    effective_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    published_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    published_by: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("tenant", "version", name="uq_terms_versions_tenant_version"),
        sa.Index("ix_terms_versions_effective", "tenant", "effective_at"),
    )


class TermsAcceptance(Base):
    """Who accepted which version of the terms, and when."""

    __tablename__ = "terms_acceptances"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    terms_version_id: Mapped[UUID] = mapped_column(sa.ForeignKey("terms_versions.id"))
    user_id: Mapped[UUID] = mapped_column()
    facility_id: Mapped[UUID | None] = mapped_column()
    accepted_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.UniqueConstraint("terms_version_id", "user_id", name="uq_terms_acceptances_version_user"),
    )


class Inquiry(Base):
    """A question sent to the operator through the contact form (P5)."""

    __tablename__ = "inquiries"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.String(63))
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str] = mapped_column(sa.String(254))
    organisation: Mapped[str] = mapped_column(sa.String(200), server_default="")
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    within_hours: Mapped[bool] = mapped_column()
    # When the sender was told to expect an answer: the next opening of the support hours, or now.
    answer_expected_from: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    user_id: Mapped[UUID | None] = mapped_column()

    __table_args__ = (sa.Index("ix_inquiries_tenant_received", "tenant", "received_at"),)


class MaintenanceSwitch(Base):
    """Every switch of the maintenance mode, on or off; the newest row of a scope is its state (O2)."""

    __tablename__ = "maintenance_switches"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    # A network's slug, or ALL_NETWORKS for the contractor's stop of the whole deployment.
    scope: Mapped[str] = mapped_column(sa.String(63))
    active: Mapped[bool] = mapped_column()
    reason: Mapped[str] = mapped_column(sa.Text)
    switched_by: Mapped[str] = mapped_column(sa.String(64))
    switched_by_role: Mapped[str] = mapped_column(sa.String(32))
    switched_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    expected_end: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))

    __table_args__ = (sa.Index("ix_maintenance_switches_scope", "scope", "switched_at"),)
