"""notification content: who wrote it and an excerpt on each notification, and notify's projections of people
and subjects, so notifications name the patient and the author (issue 10)

``people`` is fed by ``identity.person-changed.v1`` (``yui_common.people``) and ``subjects`` by
``consent.subject-changed.v1``; both keep the newest ``version``. A notification stores the ids and the excerpt
its event carried; names are read from the projections when it is shown, so a rename shows at once.

Revision ID: notification_content
Revises: outbox_verbatim
Create Date: 2026-12-10 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notification_content"
down_revision: str | Sequence[str] | None = "outbox_verbatim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_kana", sa.String(200), nullable=True),
        sa.Column("profession", sa.String(32), nullable=False, server_default="other"),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("facility_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_people_tenant", "people", ["tenant"])
    op.create_table(
        "subjects",
        sa.Column("subject_id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_kana", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=False, server_default="active"),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.add_column("notifications", sa.Column("post_id", sa.Uuid(), nullable=True))
    op.add_column("notifications", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.add_column("notifications", sa.Column("author_id", sa.Uuid(), nullable=True))
    op.add_column("notifications", sa.Column("excerpt", sa.Text(), nullable=True))
    # What older notifications carried in their parameters becomes the columns the inbox now answers with.
    op.execute(
        "UPDATE notifications SET post_id = (params->>'post_id')::uuid "
        "WHERE params->>'post_id' ~ '^[0-9a-f-]{36}$'"
    )
    op.execute(
        "UPDATE notifications SET parent_id = (params->>'parent_id')::uuid "
        "WHERE params->>'parent_id' ~ '^[0-9a-f-]{36}$'"
    )
    # Blanking a subject's excerpts when support stops finds its rows by subject.
    op.create_index(
        "ix_notifications_subject",
        "notifications",
        ["subject_id"],
        postgresql_where=sa.text("subject_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_subject", table_name="notifications")
    for column in ("excerpt", "author_id", "parent_id", "post_id"):
        op.drop_column("notifications", column)
    op.drop_table("subjects")
    op.drop_index("ix_people_tenant", table_name="people")
    op.drop_table("people")
