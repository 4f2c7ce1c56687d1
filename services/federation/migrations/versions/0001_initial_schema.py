"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-12-04 03:42:58.780412
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from yui_common.schema import AUDIT_SEARCH_INDEXES, create_infrastructure, drop_infrastructure

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What every service's database has: outbox, inbox, the audit log, its seals and erasures, the deny list
    # and the networks' projection, with the audit log's append-only triggers and the search indexes.
    create_infrastructure(op.get_bind())
    for name, columns in AUDIT_SEARCH_INDEXES.items():
        op.create_index(name, "audit_log", columns)
    op.create_table('agreements',
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('peer_source', sa.Text(), nullable=False),
    sa.Column('peer_base_url', sa.Text(), nullable=False),
    sa.Column('peer_ca_pem', sa.Text(), nullable=False),
    sa.Column('event_types', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('professions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('cache_limit_hours', sa.Integer(), nullable=False),
    sa.Column('governing_terms', sa.Text(), nullable=False),
    sa.Column('link_secret', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_agreements'))
    )
    op.create_index('ix_agreements_peer', 'agreements', ['tenant', 'peer_source'], unique=False)
    op.create_table('federation_keys',
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('activate_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retiring_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('kid', name=op.f('pk_federation_keys'))
    )
    op.create_table('outgoing_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('agreement_id', sa.Uuid(), nullable=False),
    sa.Column('recipient', sa.Text(), nullable=False),
    sa.Column('peer_base_url', sa.Text(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outgoing_messages')),
    sa.UniqueConstraint('tenant', 'recipient', 'sequence', name='uq_outgoing_messages_sequence')
    )
    op.create_index('ix_outgoing_messages_undelivered', 'outgoing_messages', ['next_attempt_at'], unique=False, postgresql_where=sa.text('delivered_at IS NULL'))
    op.create_table('peer_audit_heads',
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('seal_number', sa.BigInteger(), nullable=True),
    sa.Column('head', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'source', 'message_id', name=op.f('pk_peer_audit_heads'))
    )
    op.create_table('receive_cursors',
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('applied_through', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'source', name=op.f('pk_receive_cursors'))
    )
    op.create_table('received_messages',
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('agreement_id', sa.Uuid(), nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=120), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('source', 'id', name=op.f('pk_received_messages'))
    )
    op.create_index('ix_received_messages_pending', 'received_messages', ['tenant', 'source', 'sequence'], unique=False)
    op.create_table('sequence_counters',
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('recipient', sa.Text(), nullable=False),
    sa.Column('last_sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', 'recipient', name=op.f('pk_sequence_counters'))
    )


def downgrade() -> None:
    op.drop_table('agreements')
    op.drop_table('federation_keys')
    op.drop_table('outgoing_messages')
    op.drop_table('peer_audit_heads')
    op.drop_table('receive_cursors')
    op.drop_table('received_messages')
    op.drop_table('sequence_counters')
    drop_infrastructure(op.get_bind())
