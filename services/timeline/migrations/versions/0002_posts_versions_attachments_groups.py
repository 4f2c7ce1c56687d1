"""posts: versions, replies, mentions, support requests, tombstones; attachments, read marks, groups, search

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Trigram search (t9) over NFKC-normalised text; pg_trgm ships with PostgreSQL's contrib.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.alter_column("posts", "subject_id", nullable=True)
    op.add_column("posts", sa.Column("group_id", sa.Uuid(), nullable=True))
    op.add_column("posts", sa.Column("parent_id", sa.Uuid(), nullable=True))
    op.add_column("posts", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.add_column("posts", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column(
        "posts",
        sa.Column("mentioned_user_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
    )
    op.add_column("posts", sa.Column("addressed_user_id", sa.Uuid(), nullable=True))
    op.add_column("posts", sa.Column("addressed_facility_id", sa.Uuid(), nullable=True))
    op.add_column("posts", sa.Column("request_status", sa.String(16), nullable=True))
    op.add_column("posts", sa.Column("request_updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("posts", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("posts", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("posts", sa.Column("deleted_by", sa.Uuid(), nullable=True))
    op.create_check_constraint("one_board", "posts", "(subject_id IS NULL) <> (group_id IS NULL)")
    op.create_index(
        "ix_posts_group_created",
        "posts",
        ["group_id", sa.literal_column("created_at DESC"), "id"],
        postgresql_where=sa.text("group_id IS NOT NULL"),
    )
    op.create_index("ix_posts_parent", "posts", ["parent_id"], postgresql_where=sa.text("parent_id IS NOT NULL"))
    op.create_index("ix_posts_created", "posts", ["created_at"])
    op.create_index(
        "ix_posts_search_text",
        "posts",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_table(
        "post_versions",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "version", name=op.f("pk_post_versions")),
    )
    # Versions are history (T5): Yui never updates one. Deleting stays possible for retention and withdrawal.
    op.execute(
        "CREATE FUNCTION post_versions_no_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'post_versions is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER post_versions_no_update BEFORE UPDATE ON post_versions "
        "FOR EACH ROW EXECUTE FUNCTION post_versions_no_update()"
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("post_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.Text(), nullable=False),
        sa.Column("thumbnail_key", sa.Text(), nullable=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
        sa.UniqueConstraint("object_key", name=op.f("uq_attachments_object_key")),
    )
    op.create_index(op.f("ix_attachments_subject_id"), "attachments", ["subject_id"])
    op.create_index(op.f("ix_attachments_group_id"), "attachments", ["group_id"])
    op.create_index(op.f("ix_attachments_post_id"), "attachments", ["post_id"])
    op.create_table(
        "read_marks",
        sa.Column("post_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "user_id", name=op.f("pk_read_marks")),
    )
    op.create_index(op.f("ix_read_marks_user_id"), "read_marks", ["user_id"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("invited_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_user_id"), "group_members", ["user_id"])


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("read_marks")
    op.drop_table("attachments")
    op.drop_table("post_versions")
    op.execute("DROP FUNCTION IF EXISTS post_versions_no_update()")
    for index in ("ix_posts_search_text", "ix_posts_created", "ix_posts_parent", "ix_posts_group_created"):
        op.drop_index(index, table_name="posts")
    op.drop_constraint("ck_posts_one_board", "posts", type_="check")
    for column in (
        "deleted_by", "deleted_at", "updated_at", "request_updated_at", "request_status", "addressed_facility_id",
        "addressed_user_id", "mentioned_user_ids", "version", "search_text", "parent_id", "group_id",
    ):
        op.drop_column("posts", column)
    op.alter_column("posts", "subject_id", nullable=False)
