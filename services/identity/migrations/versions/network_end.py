"""ending a network (issue 11, ten4): its exports and its end, tracked per service

``networks.status`` gains ``ending`` (every service deletes the network's rows and objects) and ``ended`` (the
slug stays, never reused). ``network_operations`` holds each export of a network's data and each end, and
``network_operation_steps`` each service's part of one, pending until the service reports it.

Revision ID: network_end
Revises: networks_provisioning
Create Date: 2027-01-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "network_end"
down_revision: str | Sequence[str] | None = "networks_provisioning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("network_status", "networks", type_="check")
    op.create_check_constraint(
        "network_status", "networks", "status IN ('active', 'suspended', 'ending', 'ended')"
    )
    op.create_table(
        "network_operations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("network_slug", sa.String(63), sa.ForeignKey("networks.slug"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("bucket", sa.String(63)),
        sa.Column("prefix", sa.Text),
        sa.Column("export_id", sa.Uuid, sa.ForeignKey("network_operations.id")),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("kind IN ('export', 'end')", name="network_operation_kind"),
    )
    op.create_index("ix_network_operations_network", "network_operations", ["network_slug", "requested_at"])
    op.create_table(
        "network_operation_steps",
        sa.Column(
            "operation_id",
            sa.Uuid,
            sa.ForeignKey("network_operations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("service", sa.String(32), primary_key=True),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("report", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )


def downgrade() -> None:
    op.drop_table("network_operation_steps")
    op.drop_index("ix_network_operations_network", table_name="network_operations")
    op.drop_table("network_operations")
    op.execute("UPDATE networks SET status = 'suspended' WHERE status IN ('ending', 'ended')")
    op.drop_constraint("network_status", "networks", type_="check")
    op.create_check_constraint("network_status", "networks", "status IN ('active', 'suspended')")
