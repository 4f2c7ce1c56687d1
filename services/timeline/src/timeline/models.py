"""Timeline's tables: posts and versions, attachments, read marks, groups, and the consent and people projections."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid6 import uuid7
from yui_common.db import ServiceBase, new_metadata
from yui_common.people import PersonProjection
from yui_common.schema import infrastructure_tables

# Unread posts are counted among each board's newest UNREAD_WINDOW posts only, so the feed's cost does not grow
# with a subject's history (a care manager with 200 subjects of 5,000 posts each waited seconds for their home
# page): the count reads UNREAD_WINDOW for "as many or more".
UNREAD_WINDOW = 100


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


infrastructure_tables(Base.metadata)


class Post(Base):
    """A post on a board: a subject's timeline (subject_id) or a group (group_id).

    The row carries the current version for fast pages; every version, the first included, is also kept
    unchanged in ``post_versions`` with its hash and signature (T5).
    """

    __tablename__ = "posts"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID | None]
    group_id: Mapped[UUID | None]
    # Replies point at the first post of their thread; threads are one level deep.
    parent_id: Mapped[UUID | None]
    author_id: Mapped[UUID]
    facility_id: Mapped[UUID | None]
    category: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    search_text: Mapped[str] = mapped_column(sa.Text, server_default="")
    version: Mapped[int] = mapped_column(server_default="1")
    mentioned_user_ids: Mapped[list[UUID]] = mapped_column(ARRAY(sa.Uuid), server_default="{}")
    # A support request (T2) is addressed to a user or a facility; its status moves open → answered →
    # adopted | declined.
    addressed_user_id: Mapped[UUID | None]
    addressed_facility_id: Mapped[UUID | None]
    request_status: Mapped[str | None] = mapped_column(sa.String(16))
    request_updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    deleted_by: Mapped[UUID | None]
    support_stopped_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.Index("ix_posts_subject_created", "subject_id", sa.text("created_at DESC"), "id"),
        sa.Index(
            "ix_posts_group_created",
            "group_id",
            sa.text("created_at DESC"),
            "id",
            postgresql_where=sa.text("group_id IS NOT NULL"),
        ),
        sa.Index("ix_posts_parent", "parent_id", postgresql_where=sa.text("parent_id IS NOT NULL")),
        sa.Index("ix_posts_created", "created_at"),
        sa.Index(
            "ix_posts_search_text",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        sa.CheckConstraint("(subject_id IS NULL) <> (group_id IS NULL)", name="one_board"),
    )


class PostVersion(Base):
    """One version of a post, never updated: its content, SHA-256 and the service's Ed25519 signature."""

    __tablename__ = "post_versions"

    post_id: Mapped[UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[UUID]
    category: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    attachment_ids: Mapped[list[UUID]] = mapped_column(ARRAY(sa.Uuid), server_default="{}")
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.Text)


class Attachment(Base):
    """A file in object storage, on a board; attached to a post when the post is created."""

    __tablename__ = "attachments"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID | None] = mapped_column(index=True)
    group_id: Mapped[UUID | None] = mapped_column(index=True)
    post_id: Mapped[UUID | None] = mapped_column(index=True)
    uploaded_by: Mapped[UUID]
    filename: Mapped[str] = mapped_column(sa.Text)
    content_type: Mapped[str] = mapped_column(sa.Text)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    object_key: Mapped[str] = mapped_column(sa.Text, unique=True)
    thumbnail_key: Mapped[str | None] = mapped_column(sa.Text)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Vitals(Base):
    """A vitals entry (issue 16, rec3): the measures of one moment, recorded with the post that tells the team
    (category ``vital_signs``), so the post's signed version carries them in words and the chart reads them
    as data. It goes with its post (retention, erasure) and is read through the subject's board like posts."""

    __tablename__ = "vitals"

    post_id: Mapped[UUID] = mapped_column(sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID]
    recorded_by: Mapped[UUID]
    measured_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    systolic: Mapped[int | None] = mapped_column(sa.SmallInteger)
    diastolic: Mapped[int | None] = mapped_column(sa.SmallInteger)
    pulse: Mapped[int | None] = mapped_column(sa.SmallInteger)
    spo2: Mapped[int | None] = mapped_column(sa.SmallInteger)
    temperature: Mapped[float | None] = mapped_column(sa.Numeric(3, 1, asdecimal=False))
    respiration: Mapped[int | None] = mapped_column(sa.SmallInteger)
    weight: Mapped[float | None] = mapped_column(sa.Numeric(4, 1, asdecimal=False))
    glucose: Mapped[int | None] = mapped_column(sa.SmallInteger)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())

    __table_args__ = (sa.Index("ix_vitals_subject_measured", "subject_id", "measured_at"),)


class SummaryVersion(Base):
    """One version of a subject's summary (issue 16, rec1): never rewritten; the newest is the summary. Each is
    hashed (canonical JSON) and signed with the author and time, as post versions are (T5). ``acp_*`` carry
    who recorded the ACP part as it stands and when (copied forward while the part is unchanged)."""

    __tablename__ = "summary_versions"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID]
    version: Mapped[int]
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[UUID]
    acp_recorded_by: Mapped[UUID | None]
    acp_recorded_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "version", name="uq_summary_versions_subject_version"),
    )


class DrugMaster(Base):
    """One product of the network's drug master (薬価基準収載品目, issue 16 rec2), as its operator imported it:
    the YJ code (薬価基準収載医薬品コード), brand name, active ingredient and its matching key."""

    __tablename__ = "drug_master"

    tenant: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    code: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text)
    ingredient: Mapped[str] = mapped_column(sa.Text)
    ingredient_key: Mapped[str] = mapped_column(sa.Text)
    standard: Mapped[str] = mapped_column(sa.Text, server_default="")
    maker: Mapped[str] = mapped_column(sa.Text, server_default="")
    kind: Mapped[str] = mapped_column(sa.Text, server_default="")
    search_key: Mapped[str] = mapped_column(sa.Text)
    imported_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))


class Medication(Base):
    """A medication on a subject's list (issue 16 rec2): what one facility prescribed, with dose and period.
    ``ingredient_key`` and ``facility_key`` are the normalised forms the duplicate check compares. Status
    ``entered_in_error`` hides a mistaken entry and keeps it for the audit trail."""

    __tablename__ = "medications"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID] = mapped_column(index=True)
    drug_code: Mapped[str | None] = mapped_column(sa.Text)
    name: Mapped[str] = mapped_column(sa.Text)
    ingredient: Mapped[str] = mapped_column(sa.Text)
    ingredient_key: Mapped[str] = mapped_column(sa.Text)
    dose: Mapped[str] = mapped_column(sa.Text)
    start_date: Mapped[date] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)
    prescriber: Mapped[str] = mapped_column(sa.Text, server_default="")
    facility: Mapped[str] = mapped_column(sa.Text)
    facility_key: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.Text, server_default="active")
    source: Mapped[str] = mapped_column(sa.Text, server_default="manual")
    import_id: Mapped[UUID | None]
    import_index: Mapped[int | None]
    post_id: Mapped[UUID | None]
    recorded_by: Mapped[UUID]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (sa.UniqueConstraint("import_id", "import_index", name="uq_medications_import_item"),)


class HospitalImport(Base):
    """A hospital letter imported as a FHIR document Bundle (JP-CLINS 診療情報提供書 or 退院時サマリー, issue 16
    rec5): the Bundle kept as received, the post that shows it on the timeline, and its offers."""

    __tablename__ = "hospital_imports"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    subject_id: Mapped[UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    title: Mapped[str] = mapped_column(sa.Text)
    author_org: Mapped[str] = mapped_column(sa.Text)
    document_date: Mapped[date | None] = mapped_column(sa.Date)
    bundle: Mapped[dict[str, Any]] = mapped_column(JSONB)
    bundle_sha256: Mapped[str] = mapped_column(sa.String(64))
    post_id: Mapped[UUID | None]
    uploaded_by: Mapped[UUID]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "bundle_sha256", name="uq_hospital_imports_subject_bundle"),
    )


class ImportOffer(Base):
    """One medication, allergy or problem found in an imported letter, offered to the list or the summary:
    ``offered`` until someone accepts or declines it, once."""

    __tablename__ = "import_offers"

    import_id: Mapped[UUID] = mapped_column(
        sa.ForeignKey("hospital_imports.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    label: Mapped[str] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(sa.Text, server_default="offered")
    decided_by: Mapped[UUID | None]
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class ReadMark(Base):
    """Who has read a post and when (既読)."""

    __tablename__ = "read_marks"

    post_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)
    read_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class Group(Base):
    """A board not tied to a subject (T6): training, information exchange, administrative contact."""

    __tablename__ = "groups"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    tenant: Mapped[str] = mapped_column(sa.Text)
    name: Mapped[str] = mapped_column(sa.Text)
    purpose: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.Text, server_default="")
    created_by: Mapped[UUID]
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class GroupMember(Base):
    """A member of a group, or someone invited who has not yet accepted."""

    __tablename__ = "group_members"

    group_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)
    status: Mapped[str] = mapped_column(sa.String(16))  # invited | member
    invited_by: Mapped[UUID | None]
    invited_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())
    joined_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


class SubjectAccess(Base):
    """What timeline knows of a subject's consent, fed by consent's events."""

    __tablename__ = "subject_access"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.Text)
    consent_active: Mapped[bool] = mapped_column(server_default=sa.false())
    support_stopped_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


class CareTeamMember(Base):
    """Projection of consent's care teams: who may see a subject's timeline."""

    __tablename__ = "care_team_members"

    subject_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)
    tenant: Mapped[str] = mapped_column(sa.Text)


class Person(PersonProjection, Base):
    """Projection of identity's people: who an author, reader or addressee is (name, profession, facility)."""

    __tablename__ = "people"
    # A support request addressed to a facility is shown with the facility's name, read from its people.
    __table_args__ = (sa.Index("ix_people_facility_id", "facility_id"),)
