"""audit search: indexes for the operators' audit-entries search by network, time and facility

Revision ID: audit_search_indexes
Revises: 0001
Create Date: 2026-11-22 04:10:00
"""

from collections.abc import Sequence

from yui_common.schema import create_audit_search_indexes, drop_audit_search_indexes

revision: str = "audit_search_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_search_indexes()


def downgrade() -> None:
    drop_audit_search_indexes()
