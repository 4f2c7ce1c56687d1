"""sign-in hardening (issue 14, findings 2 and 3): timed backoff per login ID, failures per address, demo flag

A lockout that only an administrator could end becomes a backoff that ends by itself (sign_in_backoffs, keyed
by the login ID as typed, known or not); failed sign-ins are counted per client address in fixed windows
(sign_in_failures_by_address) so the limit holds across API replicas. users.failed_login_count moves to
sign_in_backoffs; an account locked under the old rule waits one last backoff of 15 minutes from now.

networks.created_as_demo is set by the demo seed only; password_only_allowed may be on only where it is
(CHECK). An existing network gets the flag only when it is the demo seed's (slug ``demo``) and already had
password-only sign-in; every other network loses password-only sign-in here.

Revision ID: signin_hardening
Revises: merge_heads
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "signin_hardening"
down_revision: str | Sequence[str] | None = "merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_backoffs",
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("login_id", sa.String(64), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "login_id", name=op.f("pk_sign_in_backoffs")),
    )
    op.create_index(op.f("ix_sign_in_backoffs_last_failed_at"), "sign_in_backoffs", ["last_failed_at"])
    op.create_table(
        "sign_in_failures_by_address",
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("address", "window_start", name=op.f("pk_sign_in_failures_by_address")),
    )
    op.create_index(
        op.f("ix_sign_in_failures_by_address_window_start"), "sign_in_failures_by_address", ["window_start"]
    )
    op.execute(
        """
        INSERT INTO sign_in_backoffs (tenant, login_id, consecutive_failures, blocked_until, last_failed_at)
        SELECT tenant, login_id, failed_login_count,
               CASE WHEN locked_at IS NOT NULL THEN now() + interval '15 minutes' END, now()
        FROM users WHERE failed_login_count > 0 OR locked_at IS NOT NULL
        """
    )
    op.drop_column("users", "failed_login_count")

    op.add_column(
        "networks",
        sa.Column("created_as_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.execute("UPDATE networks SET created_as_demo = true WHERE slug = 'demo' AND password_only_allowed")
    op.execute("UPDATE networks SET password_only_allowed = false WHERE NOT created_as_demo")
    op.create_check_constraint(
        op.f("ck_networks_password_only_on_demo_only"),
        "networks",
        "created_as_demo OR NOT password_only_allowed",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_networks_password_only_on_demo_only"), "networks", type_="check")
    op.drop_column("networks", "created_as_demo")
    op.add_column("users", sa.Column("failed_login_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        """
        UPDATE users SET failed_login_count = b.consecutive_failures
        FROM sign_in_backoffs b WHERE b.tenant = users.tenant AND b.login_id = users.login_id
        """
    )
    op.drop_index(op.f("ix_sign_in_failures_by_address_window_start"), "sign_in_failures_by_address")
    op.drop_table("sign_in_failures_by_address")
    op.drop_index(op.f("ix_sign_in_backoffs_last_failed_at"), "sign_in_backoffs")
    op.drop_table("sign_in_backoffs")
