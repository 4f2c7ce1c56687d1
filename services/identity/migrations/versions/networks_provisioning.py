"""networks provisioned by the contractor (issue 11): their lifecycle and rules, and the contractor's accounts

``networks`` gains what the contractor sets when creating a network and the other services need: the
operator's office, the discontinuation notice (P4), the attachment size limit, its status (active or suspended,
with when and why) and ``state_version``, which grows with every network event published so each service keeps
the newest state. ``platform_accounts`` are the contractor's own accounts: they belong to no network, sign in
at /admin/platform with a password and TOTP, and are made by ``python -m identity contractor create``.

Revision ID: networks_provisioning
Revises: people_professions
Create Date: 2027-01-11 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "networks_provisioning"
down_revision: str | Sequence[str] | None = "people_professions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("networks", sa.Column("operator_office", sa.String(200), nullable=False, server_default=""))
    op.add_column(
        "networks", sa.Column("discontinuation_notice_months", sa.Integer, nullable=False, server_default="3")
    )
    op.add_column(
        "networks",
        sa.Column(
            "max_attachment_bytes", sa.BigInteger, nullable=False, server_default=str(100 * 1024 * 1024)
        ),
    )
    op.add_column("networks", sa.Column("status", sa.String(16), nullable=False, server_default="active"))
    op.add_column("networks", sa.Column("suspended_at", sa.DateTime(timezone=True)))
    op.add_column("networks", sa.Column("suspension_reason", sa.Text))
    op.add_column("networks", sa.Column("state_version", sa.BigInteger, nullable=False, server_default="0"))
    op.create_check_constraint("network_status", "networks", "status IN ('active', 'suspended')")
    op.create_table(
        "platform_accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("login_id", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("totp_secret", sa.String(64)),
        sa.Column("totp_confirmed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("totp_last_step", sa.BigInteger),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_signed_in_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("platform_accounts")
    op.drop_constraint("network_status", "networks", type_="check")
    for column in (
        "state_version",
        "suspension_reason",
        "suspended_at",
        "status",
        "max_attachment_bytes",
        "discontinuation_notice_months",
        "operator_office",
    ):
        op.drop_column("networks", column)
