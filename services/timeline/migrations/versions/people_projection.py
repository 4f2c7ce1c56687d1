"""people: timeline's projection of identity's users, so posts, replies and read marks name their people

Fed by ``identity.person-changed.v1`` (``yui_common.people.apply_person_changed``); a person not yet heard
of reads as unknown, never as an id (issue 10).

Revision ID: people_projection
Revises: outbox_verbatim
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "people_projection"
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
    op.create_index("ix_people_facility_id", "people", ["facility_id"])


def downgrade() -> None:
    op.drop_index("ix_people_facility_id", table_name="people")
    op.drop_index("ix_people_tenant", table_name="people")
    op.drop_table("people")
