"""client certificates: the deployment's CA, issued certificates and access codes

Revision ID: 0002_certificates
Revises: 0001
Create Date: 2026-11-22 01:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_certificates"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "certificate_authorities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("encrypted_private_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_authorities")),
    )
    op.create_table(
        "client_certificates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("terminal_label", sa.String(length=64), nullable=False),
        sa.Column("serial_number", sa.String(length=40), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("revocation_note", sa.Text(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_client_certificates_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["networks.slug"], name=op.f("fk_client_certificates_tenant_networks")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_client_certificates_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_certificates")),
        sa.UniqueConstraint("fingerprint_sha256", name=op.f("uq_client_certificates_fingerprint_sha256")),
        sa.UniqueConstraint("serial_number", name=op.f("uq_client_certificates_serial_number")),
    )
    op.create_index(op.f("ix_client_certificates_facility_id"), "client_certificates", ["facility_id"])
    op.create_index(op.f("ix_client_certificates_user_id"), "client_certificates", ["user_id"])
    op.create_index(
        "uq_client_certificates_live_terminal",
        "client_certificates",
        ["facility_id", "terminal_label"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_index(
        "ix_client_certificates_revoked",
        "client_certificates",
        ["revoked_at"],
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )
    op.create_table(
        "certificate_access_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("pin_hash", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts_left", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["client_certificates.id"],
            name=op.f("fk_certificate_access_codes_certificate_id_client_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"],
            ["facilities.id"],
            name=op.f("fk_certificate_access_codes_facility_id_facilities"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant"], ["networks.slug"], name=op.f("fk_certificate_access_codes_tenant_networks")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_certificate_access_codes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_access_codes")),
        sa.UniqueConstraint("code_digest", name=op.f("uq_certificate_access_codes_code_digest")),
    )
    op.create_index(op.f("ix_certificate_access_codes_user_id"), "certificate_access_codes", ["user_id"])


def downgrade() -> None:
    op.drop_table("certificate_access_codes")
    op.drop_table("client_certificates")
    op.drop_table("certificate_authorities")
