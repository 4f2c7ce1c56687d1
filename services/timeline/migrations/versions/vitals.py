"""vitals: a vitals entry per post of category vital_signs, read as data for the chart (issue 16, rec3)

Revision ID: vitals
Revises: people_projection
Create Date: 2026-12-03 22:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "vitals"
down_revision: str | Sequence[str] | None = "people_projection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vitals",
        sa.Column("post_id", sa.Uuid(), sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("systolic", sa.SmallInteger(), nullable=True),
        sa.Column("diastolic", sa.SmallInteger(), nullable=True),
        sa.Column("pulse", sa.SmallInteger(), nullable=True),
        sa.Column("spo2", sa.SmallInteger(), nullable=True),
        sa.Column("temperature", sa.Numeric(3, 1), nullable=True),
        sa.Column("respiration", sa.SmallInteger(), nullable=True),
        sa.Column("weight", sa.Numeric(4, 1), nullable=True),
        sa.Column("glucose", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_vitals_subject_measured", "vitals", ["subject_id", "measured_at"])


def downgrade() -> None:
    op.drop_index("ix_vitals_subject_measured", table_name="vitals")
    op.drop_table("vitals")
