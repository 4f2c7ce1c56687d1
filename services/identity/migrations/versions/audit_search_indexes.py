"""audit search: indexes for the operators' audit-entries search by network, time and facility

Revision ID: audit_search_indexes
Revises: 0001
Create Date: 2026-11-22 04:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "audit_search_indexes"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The subject and user searches already have (tenant, subject_id | actor_id, occurred_at). These serve the
# rest of yui_common.audit_api: a network's newest entries in keyset order, and a facility's.
INDEXES = {
    "ix_audit_log_tenant_time": ["tenant", "occurred_at", "seq"],
    "ix_audit_log_facility": ["tenant", "facility_id", "occurred_at"],
}


def upgrade() -> None:
    # CONCURRENTLY (outside the migration's transaction): appends to a large log must not wait for the build.
    with op.get_context().autocommit_block():
        for name, columns in INDEXES.items():
            op.create_index(name, "audit_log", columns, postgresql_concurrently=True, if_not_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.drop_index(name, table_name="audit_log", postgresql_concurrently=True, if_exists=True)
