"""merge: one head again (certificates, accounts with directory publication, audit search indexes)

The branches grew from one revision as features landed side by side; this empty revision joins them so
``alembic upgrade head`` and new revisions have a single parent to build on.

Revision ID: merge_heads
Revises: 0002_certificates, audit_search_indexes, p1_directory_publication
Create Date: 2026-12-03 13:30:00
"""

from collections.abc import Sequence

revision: str = "merge_heads"
down_revision: str | Sequence[str] | None = ("0002_certificates", "audit_search_indexes", "p1_directory_publication")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
