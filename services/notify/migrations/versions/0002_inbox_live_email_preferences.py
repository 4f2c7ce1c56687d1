"""accounts, facility holds, stopped subjects, preferences, network defaults, e-mails, digests

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_accounts")),
    )
    op.create_index(op.f("ix_accounts_facility_id"), "accounts", ["facility_id"])
    op.create_table(
        "facility_holds",
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("facility_id", name=op.f("pk_facility_holds")),
    )
    op.create_table(
        "stopped_subjects",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_stopped_subjects")),
    )
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("channels", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tenant", name=op.f("pk_preferences")),
    )
    op.create_table(
        "network_defaults",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("channels", postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("digest_hour", sa.Integer(), server_default="8", nullable=False),
        sa.Column("retention_days", sa.Integer(), server_default="365", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_network_defaults")),
    )
    op.create_table(
        "email_deliveries",
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("source_event_id", "user_id", name=op.f("pk_email_deliveries")),
    )
    op.create_index(
        "ix_email_deliveries_pending", "email_deliveries", ["queued_at"], postgresql_where=sa.text("sent_at IS NULL")
    )
    op.create_table(
        "digests_sent",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("covered_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tenant", "day", name=op.f("pk_digests_sent")),
    )
    op.create_table(
        "applicant_emails",
        sa.Column("source_event_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source_event_id", name=op.f("pk_applicant_emails")),
    )
    # Retention purges by age; the per-user index is by user first.
    op.create_index("ix_notifications_created", "notifications", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_created", table_name="notifications")
    op.drop_table("applicant_emails")
    op.drop_table("digests_sent")
    op.drop_index("ix_email_deliveries_pending", table_name="email_deliveries")
    op.drop_table("email_deliveries")
    op.drop_table("network_defaults")
    op.drop_table("preferences")
    op.drop_table("stopped_subjects")
    op.drop_table("facility_holds")
    op.drop_index(op.f("ix_accounts_facility_id"), table_name="accounts")
    op.drop_table("accounts")
