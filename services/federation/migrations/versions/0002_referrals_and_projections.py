"""referrals and the projections they need (people, subjects, care teams)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 07:38:47.545780
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('care_team_members',
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('subject_id', 'user_id', name=op.f('pk_care_team_members'))
    )
    op.create_table('people',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_kana', sa.String(length=200), nullable=True),
    sa.Column('profession', sa.String(length=32), server_default='other', nullable=False),
    sa.Column('facility_id', sa.Uuid(), nullable=False),
    sa.Column('facility_name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_people'))
    )
    op.create_index(op.f('ix_people_tenant'), 'people', ['tenant'], unique=False)
    op.create_index('ix_people_tenant_facility', 'people', ['tenant', 'facility_id'], unique=False)
    op.create_table('referrals',
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('agreement_id', sa.Uuid(), nullable=False),
    sa.Column('peer_source', sa.Text(), nullable=False),
    sa.Column('subject_id', sa.Uuid(), nullable=True),
    sa.Column('subject_link', sa.String(length=64), nullable=False),
    sa.Column('subject_name', sa.Text(), nullable=False),
    sa.Column('subject_name_kana', sa.Text(), nullable=True),
    sa.Column('home_network_name', sa.Text(), nullable=False),
    sa.Column('peer_network_name', sa.Text(), nullable=False),
    sa.Column('facility_id', sa.Uuid(), nullable=False),
    sa.Column('facility_name', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('categories', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('consent_basis', sa.String(length=16), nullable=False),
    sa.Column('consent_version', sa.Integer(), nullable=False),
    sa.Column('referred_by', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('referred_by_id', sa.Uuid(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawal_id', sa.Uuid(), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledgement', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('cached', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('cached_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('tenant', 'id', name=op.f('pk_referrals'))
    )
    op.create_index('ix_referrals_facility', 'referrals', ['tenant', 'facility_id'], unique=False)
    op.create_index('ix_referrals_subject', 'referrals', ['tenant', 'subject_id'], unique=False)
    op.create_index('ix_referrals_withdrawal', 'referrals', ['withdrawal_id'], unique=False)
    op.create_table('subjects',
    sa.Column('subject_id', sa.Uuid(), nullable=False),
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('name', sa.Text(), server_default='', nullable=False),
    sa.Column('name_kana', sa.Text(), nullable=True),
    sa.Column('name_version', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.Column('consent_active', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('consent_version', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('subject_id', name=op.f('pk_subjects'))
    )


def downgrade() -> None:
    op.drop_table('subjects')
    op.drop_index('ix_referrals_withdrawal', table_name='referrals')
    op.drop_index('ix_referrals_subject', table_name='referrals')
    op.drop_index('ix_referrals_facility', table_name='referrals')
    op.drop_table('referrals')
    op.drop_index('ix_people_tenant_facility', table_name='people')
    op.drop_index(op.f('ix_people_tenant'), table_name='people')
    op.drop_table('people')
    op.drop_table('care_team_members')
