"""revocation propagation (issue 14, finding 1): the revocations identity waits for and each service's step

A suspension, a facility's closing, a logout or a certificate's revocation is answered only once every
service's deny list holds it: revocations names each such revocation (the id its event carries), and
revocation_steps is one row per participating service, pending until that service acknowledges.

Revision ID: revocation_propagation
Revises: signin_hardening
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "revocation_propagation"
down_revision: str | Sequence[str] | None = "signin_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocations")),
    )
    op.create_index("ix_revocations_tenant_requested", "revocations", ["tenant", "requested_at"])
    op.create_table(
        "revocation_steps",
        sa.Column("revocation_id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.String(32), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["revocation_id"],
            ["revocations.id"],
            name=op.f("fk_revocation_steps_revocation_id_revocations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("revocation_id", "service", name=op.f("pk_revocation_steps")),
    )
    op.create_index(
        "ix_revocation_steps_pending",
        "revocation_steps",
        ["revocation_id"],
        postgresql_where=sa.text("applied_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_revocation_steps_pending", "revocation_steps")
    op.drop_table("revocation_steps")
    op.drop_index("ix_revocations_tenant_requested", "revocations")
    op.drop_table("revocations")
