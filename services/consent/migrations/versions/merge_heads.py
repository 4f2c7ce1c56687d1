"""merge: one head again (subject registry and care teams, audit search indexes)

The branches grew from one revision as features landed side by side; this empty revision joins them so
``alembic upgrade head`` and new revisions have a single parent to build on.

Revision ID: merge_heads
Revises: 0002, audit_search_indexes
Create Date: 2026-12-03 13:30:00
"""

from collections.abc import Sequence

revision: str = "merge_heads"
down_revision: str | Sequence[str] | None = ("0002", "audit_search_indexes")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
