"""care_record: medications with the network's drug master, and hospital letters imported (issue 16, rec2, rec5)

Revision ID: care_record
Revises: summary_versions
Create Date: 2026-12-04 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "care_record"
down_revision: str | Sequence[str] | None = "summary_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drug_master",
        sa.Column("tenant", sa.Text(), primary_key=True),
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ingredient", sa.Text(), nullable=False),
        sa.Column("ingredient_key", sa.Text(), nullable=False),
        sa.Column("standard", sa.Text(), nullable=False, server_default=""),
        sa.Column("maker", sa.Text(), nullable=False, server_default=""),
        sa.Column("kind", sa.Text(), nullable=False, server_default=""),
        sa.Column("search_key", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hospital_imports",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("author_org", sa.Text(), nullable=False),
        sa.Column("document_date", sa.Date(), nullable=True),
        sa.Column("bundle", postgresql.JSONB(), nullable=False),
        sa.Column("bundle_sha256", sa.String(64), nullable=False),
        sa.Column("post_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("subject_id", "bundle_sha256", name="uq_hospital_imports_subject_bundle"),
    )
    op.create_table(
        "import_offers",
        sa.Column(
            "import_id",
            sa.Uuid(),
            sa.ForeignKey("hospital_imports.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="offered"),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "medications",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("drug_code", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ingredient", sa.Text(), nullable=False),
        sa.Column("ingredient_key", sa.Text(), nullable=False),
        sa.Column("dose", sa.Text(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("prescriber", sa.Text(), nullable=False, server_default=""),
        sa.Column("facility", sa.Text(), nullable=False),
        sa.Column("facility_key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False, server_default="active"),
        sa.Column("source", sa.Text(), nullable=False, server_default="manual"),
        sa.Column("import_id", sa.Uuid(), nullable=True),
        sa.Column("import_index", sa.Integer(), nullable=True),
        sa.Column("post_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("import_id", "import_index", name="uq_medications_import_item"),
    )


def downgrade() -> None:
    op.drop_table("medications")
    op.drop_table("import_offers")
    op.drop_table("hospital_imports")
    op.drop_table("drug_master")
