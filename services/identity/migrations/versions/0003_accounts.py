"""accounts: network settings, facility applications, staff accounts, sessions, suspensions, incidents

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 00:53:36.851919
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "suspensions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("emergency", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("suspended_by", sa.Uuid(), nullable=False),
        sa.Column("suspended_by_role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("needs_acknowledgement", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["tenant"], ["networks.slug"], name=op.f("fk_suspensions_tenant_networks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspensions")),
    )
    op.create_index(op.f("ix_suspensions_target_id"), "suspensions", ["target_id"], unique=False)
    op.create_index(op.f("ix_suspensions_tenant"), "suspensions", ["tenant"], unique=False)
    op.create_table(
        "incident_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notes", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_incident_reports_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["users.id"], name=op.f("fk_incident_reports_reporter_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["networks.slug"], name=op.f("fk_incident_reports_tenant_networks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_reports")),
    )
    op.create_index(
        op.f("ix_incident_reports_facility_id"), "incident_reports", ["facility_id"], unique=False
    )
    op.create_index(op.f("ix_incident_reports_tenant"), "incident_reports", ["tenant"], unique=False)
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("refresh_token_hash", sa.String(length=64), nullable=False),
        sa.Column("second_factor", sa.String(length=16), nullable=False),
        sa.Column("cert_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant"], ["networks.slug"], name=op.f("fk_login_sessions_tenant_networks")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_login_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_sessions")),
        sa.UniqueConstraint("refresh_token_hash", name=op.f("uq_login_sessions_refresh_token_hash")),
    )
    op.create_index(op.f("ix_login_sessions_user_id"), "login_sessions", ["user_id"], unique=False)
    op.add_column("facilities", sa.Column("address", sa.String(length=300), nullable=True))
    op.add_column("facilities", sa.Column("phone", sa.String(length=40), nullable=True))
    op.add_column("facilities", sa.Column("administrator_name", sa.String(length=200), nullable=True))
    op.add_column("facilities", sa.Column("administrator_email", sa.String(length=254), nullable=True))
    op.add_column("facilities", sa.Column("administrator_login_id", sa.String(length=64), nullable=True))
    op.add_column("facilities", sa.Column("pledge_accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("facilities", sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("facilities", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("facilities", sa.Column("decided_by", sa.Uuid(), nullable=True))
    op.add_column("facilities", sa.Column("rejection_reason", sa.Text(), nullable=True))
    op.add_column("facilities", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "facilities", sa.Column("published", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    op.add_column(
        "networks",
        sa.Column(
            "municipality_codes", postgresql.ARRAY(sa.String(length=6)), server_default="{}", nullable=False
        ),
    )
    op.add_column("networks", sa.Column("retention_years", sa.Integer(), server_default="5", nullable=False))
    op.add_column(
        "networks",
        sa.Column("support_hours", sa.String(length=200), server_default="平日 9:00-17:00", nullable=False),
    )
    op.add_column(
        "networks", sa.Column("withdrawal_mode", sa.String(length=8), server_default="stop", nullable=False)
    )
    op.add_column(
        "networks", sa.Column("totp_allowed", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    op.add_column(
        "networks",
        sa.Column("password_only_allowed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "networks",
        sa.Column("operator_issues_users", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "networks", sa.Column("password_history_count", sa.Integer(), server_default="5", nullable=False)
    )
    op.add_column(
        "networks", sa.Column("session_idle_minutes", sa.Integer(), server_default="15", nullable=False)
    )
    op.add_column(
        "networks", sa.Column("session_absolute_hours", sa.Integer(), server_default="12", nullable=False)
    )
    op.add_column(
        "networks", sa.Column("lockout_threshold", sa.Integer(), server_default="5", nullable=False)
    )
    op.add_column("users", sa.Column("occupation", sa.String(length=64), nullable=True))
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("users", sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users",
        sa.Column(
            "previous_password_hashes", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False
        ),
    )
    op.add_column("users", sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False))
    op.add_column("users", sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column(
        "users", sa.Column("totp_confirmed", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column(
        "users",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("users", "created_at")
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_confirmed")
    op.drop_column("users", "totp_secret")
    op.drop_column("users", "locked_at")
    op.drop_column("users", "failed_login_count")
    op.drop_column("users", "previous_password_hashes")
    op.drop_column("users", "password_changed_at")
    op.drop_column("users", "must_change_password")
    op.drop_column("users", "occupation")
    op.drop_column("networks", "lockout_threshold")
    op.drop_column("networks", "session_absolute_hours")
    op.drop_column("networks", "session_idle_minutes")
    op.drop_column("networks", "password_history_count")
    op.drop_column("networks", "operator_issues_users")
    op.drop_column("networks", "password_only_allowed")
    op.drop_column("networks", "totp_allowed")
    op.drop_column("networks", "withdrawal_mode")
    op.drop_column("networks", "support_hours")
    op.drop_column("networks", "retention_years")
    op.drop_column("networks", "municipality_codes")
    op.drop_column("facilities", "published")
    op.drop_column("facilities", "ended_at")
    op.drop_column("facilities", "rejection_reason")
    op.drop_column("facilities", "decided_by")
    op.drop_column("facilities", "decided_at")
    op.drop_column("facilities", "applied_at")
    op.drop_column("facilities", "pledge_accepted_at")
    op.drop_column("facilities", "administrator_login_id")
    op.drop_column("facilities", "administrator_email")
    op.drop_column("facilities", "administrator_name")
    op.drop_column("facilities", "phone")
    op.drop_column("facilities", "address")
    op.drop_index(op.f("ix_login_sessions_user_id"), table_name="login_sessions")
    op.drop_table("login_sessions")
    op.drop_index(op.f("ix_incident_reports_tenant"), table_name="incident_reports")
    op.drop_index(op.f("ix_incident_reports_facility_id"), table_name="incident_reports")
    op.drop_table("incident_reports")
    op.drop_index(op.f("ix_suspensions_tenant"), table_name="suspensions")
    op.drop_index(op.f("ix_suspensions_target_id"), table_name="suspensions")
    op.drop_table("suspensions")
