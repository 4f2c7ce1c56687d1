"""summary_versions: the patient summary, every version kept, hashed and signed (issue 16, rec1)

Revision ID: summary_versions
Revises: vitals
Create Date: 2026-12-03 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "summary_versions"
down_revision: str | Sequence[str] | None = "vitals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "summary_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", postgresql.JSONB(), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("acp_recorded_by", sa.Uuid(), nullable=True),
        sa.Column("acp_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("subject_id", "version", name="uq_summary_versions_subject_version"),
    )
    # History, as post versions are (T5): never updated; deleting stays possible for withdrawal and erasure.
    op.execute(
        "CREATE FUNCTION summary_versions_no_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'summary_versions is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER summary_versions_no_update BEFORE UPDATE ON summary_versions "
        "FOR EACH ROW EXECUTE FUNCTION summary_versions_no_update()"
    )


def downgrade() -> None:
    op.drop_table("summary_versions")
    op.execute("DROP FUNCTION summary_versions_no_update()")
