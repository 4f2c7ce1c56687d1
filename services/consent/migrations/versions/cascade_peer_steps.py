"""cascade steps name federated peer networks ("peer:<network name>"): a wider service column

Revision ID: cascade_peer_steps
Revises: people_subject_status
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cascade_peer_steps"
down_revision: str | Sequence[str] | None = "people_subject_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("cascade_steps", "service", type_=sa.String(200), existing_nullable=False)


def downgrade() -> None:
    op.alter_column("cascade_steps", "service", type_=sa.String(32), existing_nullable=False)
