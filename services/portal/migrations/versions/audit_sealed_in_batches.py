"""audit sealed in batches: entries carry their transaction id, seals with signed heads get their table

Entries are appended without a lock; the worker seals them in batches by transaction id (yui_common.audit_seal).

Revision ID: audit_sealed_in_batches
Revises: merge_heads
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

from yui_common.schema import seal_audit_log_in_batches, unseal_audit_log

revision: str = "audit_sealed_in_batches"
down_revision: str | Sequence[str] | None = "merge_heads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    seal_audit_log_in_batches()


def downgrade() -> None:
    unseal_audit_log()
