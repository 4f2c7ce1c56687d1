"""outbox: the relay publishes each event's body and headers exactly as the business transaction stored them

The envelope column becomes ``json`` (the serialised text, kept verbatim and still queryable) and
``trace_headers`` becomes ``headers``, the message's AMQP headers (trace context and tenant).

Revision ID: outbox_verbatim
Revises: audit_sealed_in_batches
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

from yui_common.schema import store_outbox_as_jsonb, store_outbox_verbatim

revision: str = "outbox_verbatim"
down_revision: str | Sequence[str] | None = "audit_sealed_in_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    store_outbox_verbatim()


def downgrade() -> None:
    store_outbox_as_jsonb()
