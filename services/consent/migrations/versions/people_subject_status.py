"""people projection, subjects' status, version and team lead (issue 10)

``people`` holds identity's users as consent names them (identity.person-changed.v1). Each subject gets its status
(active | support_stopped, backfilled from its latest consent), a version counter for consent.subject-changed.v1,
and the lead of its care team (backfilled with whoever registered it).

Revision ID: people_subject_status
Revises: outbox_verbatim
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "people_subject_status"
down_revision: str | Sequence[str] | None = "outbox_verbatim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_kana", sa.String(length=200), nullable=True),
        sa.Column("profession", sa.String(length=32), server_default="other", nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("facility_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_people")),
    )
    op.create_index(op.f("ix_people_tenant"), "people", ["tenant"], unique=False)
    op.add_column("subjects", sa.Column("status", sa.String(length=16), server_default="active", nullable=False))
    op.add_column("subjects", sa.Column("version", sa.BigInteger(), server_default="1", nullable=False))
    op.add_column("subjects", sa.Column("lead_user_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE subjects SET lead_user_id = registered_by")
    op.execute(
        "UPDATE subjects s SET status = 'support_stopped' WHERE ("
        " SELECT c.status FROM consents c WHERE c.subject_id = s.id ORDER BY c.recorded_at DESC LIMIT 1"
        ") = 'withdrawn'"
    )


def downgrade() -> None:
    op.drop_column("subjects", "lead_user_id")
    op.drop_column("subjects", "version")
    op.drop_column("subjects", "status")
    op.drop_index(op.f("ix_people_tenant"), table_name="people")
    op.drop_table("people")
