"""subject registry, networks, consent forms, care-team invitations, exceptional access

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Identity owns networks; until it publishes them consent keeps the rules it needs, seeded for the demo network.
DEMO_MUNICIPALITIES = (("232360", "デモ市"), ("232378", "デモ町"))


def _fold_kana(value: str) -> str:
    # The same folding as consent.names.fold_kana, frozen here so this revision never changes meaning.
    folded = unicodedata.normalize("NFKC", value)
    folded = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in folded)
    return "".join(c for c in folded if not c.isspace() and c not in "・･").upper()


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("withdrawal_mode", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_networks")),
        sa.CheckConstraint("withdrawal_mode IN ('stop', 'delete')", name=op.f("ck_networks_withdrawal_mode")),
    )
    op.create_table(
        "network_municipalities",
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant"], ["networks.tenant"], name=op.f("fk_network_municipalities_tenant_networks")
        ),
        sa.PrimaryKeyConstraint("tenant", "municipality_code", name=op.f("pk_network_municipalities")),
    )
    op.create_table(
        "residence_exceptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("municipality_code", sa.String(length=6), nullable=False),
        sa.Column("name_kana_folded", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("approved_by", sa.Uuid(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence_exceptions")),
    )
    op.create_index(op.f("ix_residence_exceptions_tenant"), "residence_exceptions", ["tenant"])

    # Collation "C": a machine key compared byte by byte, so one index serves equality (duplicates), prefix
    # LIKE and ORDER BY (search), and kana sort in code point (gojūon) order.
    op.add_column("subjects", sa.Column("name_kana_folded", sa.String(length=200, collation="C"), nullable=True))
    op.add_column("subjects", sa.Column("sex", sa.String(length=8), nullable=True))
    op.add_column("subjects", sa.Column("address", sa.String(length=400), nullable=True))
    op.add_column("subjects", sa.Column("postal_code", sa.String(length=8), nullable=True))
    op.add_column("subjects", sa.Column("phone", sa.String(length=32), nullable=True))
    op.add_column("subjects", sa.Column("residence_network", sa.Text(), nullable=True))
    op.add_column("subjects", sa.Column("residence_exception_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_subjects_residence_exception_id_residence_exceptions"),
        "subjects",
        "residence_exceptions",
        ["residence_exception_id"],
        ["id"],
    )
    bind = op.get_bind()
    for subject_id, kana in bind.execute(sa.text("SELECT id, name_kana FROM subjects")).all():
        bind.execute(
            sa.text("UPDATE subjects SET name_kana_folded = :f, residence_network = tenant WHERE id = :i"),
            {"f": _fold_kana(kana), "i": subject_id},
        )
    op.create_index("ix_subjects_duplicate_key", "subjects", ["tenant", "name_kana_folded", "birth_date"])

    op.create_table(
        "family_contacts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_kana", sa.String(length=200), nullable=True),
        sa.Column("relation", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("address", sa.String(length=400), nullable=True),
        sa.Column("key_person", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f("fk_family_contacts_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_contacts")),
    )
    op.create_index(op.f("ix_family_contacts_subject_id"), "family_contacts", ["subject_id"])

    op.add_column("consents", sa.Column("form_object_key", sa.String(length=300), nullable=True))
    op.add_column("consents", sa.Column("form_content_type", sa.String(length=64), nullable=True))
    op.add_column("consents", sa.Column("form_size", sa.BigInteger(), nullable=True))
    op.add_column("consents", sa.Column("form_uploaded_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "care_team_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("invited_by", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invited_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_care_team_invitations_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team_invitations")),
    )
    op.create_index(op.f("ix_care_team_invitations_subject_id"), "care_team_invitations", ["subject_id"])
    op.create_index(op.f("ix_care_team_invitations_user_id"), "care_team_invitations", ["user_id"])
    op.create_index(
        "uq_care_team_invitations_one_pending",
        "care_team_invitations",
        ["subject_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "exceptional_access",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("facility_id", sa.Uuid(), nullable=True),
        sa.Column("ground", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=2000), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exceptional_access")),
    )
    op.create_index(op.f("ix_exceptional_access_subject_id"), "exceptional_access", ["subject_id"])
    op.create_index(
        "ix_exceptional_access_due",
        "exceptional_access",
        ["expires_at"],
        postgresql_where=sa.text("status = 'approved'"),
    )

    networks = sa.table("networks", sa.column("tenant"), sa.column("name"), sa.column("withdrawal_mode"))
    municipalities = sa.table(
        "network_municipalities", sa.column("tenant"), sa.column("municipality_code"), sa.column("name")
    )
    op.bulk_insert(networks, [{"tenant": "demo", "name": "デモ ネット", "withdrawal_mode": "stop"}])
    op.bulk_insert(
        municipalities,
        [{"tenant": "demo", "municipality_code": code, "name": name} for code, name in DEMO_MUNICIPALITIES],
    )


def downgrade() -> None:
    op.drop_table("exceptional_access")
    op.drop_table("care_team_invitations")
    for column in ("form_uploaded_at", "form_size", "form_content_type", "form_object_key"):
        op.drop_column("consents", column)
    op.drop_table("family_contacts")
    op.drop_index("ix_subjects_duplicate_key", table_name="subjects")
    op.drop_constraint(
        op.f("fk_subjects_residence_exception_id_residence_exceptions"), "subjects", type_="foreignkey"
    )
    for column in (
        "residence_exception_id", "residence_network", "phone", "postal_code", "address", "sex", "name_kana_folded"
    ):
        op.drop_column("subjects", column)
    op.drop_table("residence_exceptions")
    op.drop_table("network_municipalities")
    op.drop_table("networks")
