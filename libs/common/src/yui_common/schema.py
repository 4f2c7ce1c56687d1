"""Tables every service's database has besides its own: outbox, inbox, the audit log and the deny list."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSON, JSONB, UUID

# One statement per item: asyncpg prepares each statement on its own.
AUDIT_APPEND_ONLY_SQL = (
    # One exception (issue 11): an ended network's entries may be deleted once their hash is kept in
    # audit_erasures (yui_common.network_export), so the seals over them still verify. Only an entry of a network
    # in ended_networks: a hash copied into audit_erasures alone deletes nothing, and marking a network ended
    # refuses every token of it in every service (the deny list), which nobody can do unnoticed.
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_log' THEN
    IF EXISTS (SELECT 1 FROM ended_networks n WHERE n.slug = OLD.tenant)
       AND EXISTS (SELECT 1 FROM audit_erasures e WHERE e.seq = OLD.seq AND e.hash = OLD.hash) THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$""",
    "DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    "DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)
# The seals are append-only too; a rewrite there is caught anyway by the signed heads kept outside the database.
AUDIT_SEALS_APPEND_ONLY_SQL = (
    "DROP TRIGGER IF EXISTS audit_seals_no_update ON audit_seals",
    """CREATE TRIGGER audit_seals_no_update BEFORE UPDATE OR DELETE ON audit_seals
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    "DROP TRIGGER IF EXISTS audit_seals_no_truncate ON audit_seals",
    """CREATE TRIGGER audit_seals_no_truncate BEFORE TRUNCATE ON audit_seals
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)
# The erasures are append-only too: an erased entry's hash stays for good.
AUDIT_ERASURES_APPEND_ONLY_SQL = (
    "DROP TRIGGER IF EXISTS audit_erasures_no_update ON audit_erasures",
    """CREATE TRIGGER audit_erasures_no_update BEFORE UPDATE OR DELETE ON audit_erasures
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    "DROP TRIGGER IF EXISTS audit_erasures_no_truncate ON audit_erasures",
    """CREATE TRIGGER audit_erasures_no_truncate BEFORE TRUNCATE ON audit_erasures
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
)


class TransactionId(sa.types.UserDefinedType[int]):
    """PostgreSQL's 64-bit ``xid8`` (asyncpg reads it as an int)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "xid8"


def infrastructure_tables(metadata: sa.MetaData) -> list[sa.Table]:
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        # The routing key (the event type), the body exactly as `outbox.add_event` serialised it (``json``, not
        # ``jsonb``: kept verbatim, still queryable with ->>) and the AMQP headers: the relay publishes them as
        # they are.
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("envelope", JSON, nullable=False),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Index(
            "ix_outbox_unpublished",
            "created_at",
            postgresql_where=sa.text("published_at IS NULL"),
        ),
    )
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("message_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    audit_log = sa.Table(
        "audit_log",
        metadata,
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False),
        sa.Column("facility_id", sa.Text),
        sa.Column("subject_id", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("trace_id", sa.Text),
        # The link to the previous entry, from when entries were chained one by one under a lock; entries
        # written since are sealed in batches (audit_seals) and have none.
        sa.Column("prev_hash", sa.Text),
        sa.Column("hash", sa.Text, nullable=False),  # the entry's own content hash (yui_common.audit)
        # The writing transaction: a seal takes every entry of the transactions that ended below its bound.
        sa.Column("xact_id", TransactionId(), nullable=False, server_default=sa.text("pg_current_xact_id()")),
        sa.Index("ix_audit_log_subject", "tenant", "subject_id", "occurred_at"),
        sa.Index("ix_audit_log_actor", "tenant", "actor_id", "occurred_at"),
        sa.Index("ix_audit_log_xact", "xact_id"),
    )
    return [
        outbox,
        inbox,
        audit_log,
        audit_seals_table(metadata),
        revoked_principals_table(metadata),
        network_states_table(metadata),
        ended_networks_table(metadata),
        audit_erasures_table(metadata),
    ]


def audit_seals_table(metadata: sa.MetaData) -> sa.Table:
    """One row per batch the worker sealed (yui_common.audit_seal): the xid range it covers and its signed head."""
    return sa.Table(
        "audit_seals",
        metadata,
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        # Entries with xid_lower <= xact_id < xid_upper, in seq order; ranges of consecutive seals touch.
        sa.Column("xid_lower", sa.BigInteger, nullable=False),
        sa.Column("xid_upper", sa.BigInteger, nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("batch_hash", sa.Text, nullable=False),
        sa.Column("previous_head", sa.Text, nullable=False),
        sa.Column("head", sa.Text, nullable=False),
        sa.Column("key_id", sa.Text, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
    )


def revoked_principals_table(metadata: sa.MetaData) -> sa.Table:
    """The deny list of `yui_common.revocations` (created by `migrate` in every service's database)."""
    return sa.Table(
        "revoked_principals",
        metadata,
        # kind: user | facility | session | certificate; value: the id (or SHA-256 fingerprint) it names.
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        # The latest revocation and the latest reinstatement applied (identity's times; either may be missing
        # when its counterpart arrived first): the row refuses while revoked and not lifted after.
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def network_states_table(metadata: sa.MetaData) -> sa.Table:
    """The networks as this service knows them (yui_common.networks; created by `migrate` in every database)."""
    return sa.Table(
        "network_states",
        metadata,
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        # active | suspended: the deny-list statement refuses every token of a suspended network.
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        # The whole NetworkStateV1 of the newest event applied.
        sa.Column("state", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def ended_networks_table(metadata: sa.MetaData) -> sa.Table:
    """Networks ended here (issue 11, yui_common.network_export): every row of theirs is gone, and the deny-list
    statement refuses any token still naming one. The slug only: a network's name or rules stay nowhere."""
    return sa.Table(
        "ended_networks",
        metadata,
        sa.Column("slug", sa.String(63), primary_key=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def audit_erasures_table(metadata: sa.MetaData) -> sa.Table:
    """Audit entries deleted with an ended network (yui_common.network_export): each one's position, transaction
    and content hash, so the seals that covered it still verify (yui_common.audit_seal.verification) while its
    content is gone. Append-only like the log."""
    return sa.Table(
        "audit_erasures",
        metadata,
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("xact_id", TransactionId(), nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        # Whether a seal covered the entry when it was erased; an unsealed one is simply never sealed.
        sa.Column("sealed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def create_infrastructure(bind: sa.engine.Connection) -> None:
    """Used by each service's first migration."""
    metadata = sa.MetaData()
    for table in infrastructure_tables(metadata):
        table.create(bind, checkfirst=True)
    for statement in (*AUDIT_APPEND_ONLY_SQL, *AUDIT_SEALS_APPEND_ONLY_SQL, *AUDIT_ERASURES_APPEND_ONLY_SQL):
        bind.exec_driver_sql(statement)


def drop_infrastructure(bind: sa.engine.Connection) -> None:
    bind.exec_driver_sql("DROP TABLE IF EXISTS audit_erasures, audit_seals, audit_log, inbox, outbox CASCADE")
    bind.exec_driver_sql("DROP FUNCTION IF EXISTS audit_log_append_only()")


# The operators' audit search (yui_common.audit_api): a network's newest entries in keyset order, and a
# facility's. The subject and user searches already have (tenant, subject_id | actor_id, occurred_at).
AUDIT_SEARCH_INDEXES = {
    "ix_audit_log_tenant_time": ["tenant", "occurred_at", "seq"],
    "ix_audit_log_facility": ["tenant", "facility_id", "occurred_at"],
}


def create_audit_search_indexes() -> None:
    """For a migration: build the indexes CONCURRENTLY, so appends to a large log never wait for the build."""
    from alembic import op

    with op.get_context().autocommit_block():
        for name, columns in AUDIT_SEARCH_INDEXES.items():
            op.create_index(name, "audit_log", columns, postgresql_concurrently=True, if_not_exists=True)


def drop_audit_search_indexes() -> None:
    from alembic import op

    with op.get_context().autocommit_block():
        for name in AUDIT_SEARCH_INDEXES:
            op.drop_index(name, table_name="audit_log", postgresql_concurrently=True, if_exists=True)


def seal_audit_log_in_batches() -> None:
    """For a migration: entries carry their transaction id and lose the per-entry link; seals get their table.

    The existing entries (chained one by one) all get the migration's own transaction id, so the first seal
    takes them together; their stored prev_hash stays part of their content hash.
    """
    from alembic import op

    op.alter_column("audit_log", "prev_hash", nullable=True)
    # pg_current_xact_id() is stable: PostgreSQL stores it once as the existing rows' value, no table rewrite.
    op.execute("ALTER TABLE audit_log ADD COLUMN xact_id xid8 NOT NULL DEFAULT pg_current_xact_id()")
    audit_seals_table(sa.MetaData()).create(op.get_bind())
    for statement in (*AUDIT_APPEND_ONLY_SQL, *AUDIT_SEALS_APPEND_ONLY_SQL):
        op.execute(statement)
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_audit_log_xact", "audit_log", ["xact_id"], postgresql_concurrently=True, if_not_exists=True
        )


def unseal_audit_log() -> None:
    """The way back: the seals and transaction ids go (entries written meanwhile keep no prev_hash)."""
    from alembic import op

    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_audit_log_xact", table_name="audit_log", postgresql_concurrently=True, if_exists=True
        )
    op.execute("DROP TABLE IF EXISTS audit_seals")
    op.execute("ALTER TABLE audit_log DROP COLUMN IF EXISTS xact_id")


# The outbox as the relay publishes it verbatim (a migration per service calls these): the envelope as the text
# `add_event` serialised (``json``), and the AMQP headers, tenant included, in ``headers`` (was ``trace_headers``).
OUTBOX_VERBATIM_UPGRADE_SQL = (
    "ALTER TABLE outbox ALTER COLUMN envelope TYPE json USING envelope::json",
    "ALTER TABLE outbox RENAME COLUMN trace_headers TO headers",
    # Rows still waiting when the new relay starts get the tenant header the old relay added when publishing.
    "UPDATE outbox SET headers = headers || jsonb_build_object('tenant', envelope->>'tenant') "
    "WHERE published_at IS NULL",
)
OUTBOX_VERBATIM_DOWNGRADE_SQL = (
    "UPDATE outbox SET headers = headers - 'tenant'",
    "ALTER TABLE outbox RENAME COLUMN headers TO trace_headers",
    "ALTER TABLE outbox ALTER COLUMN envelope TYPE jsonb USING envelope::jsonb",
)


def store_outbox_verbatim() -> None:
    """For a migration: the outbox keeps each event's body and headers as they will be published."""
    from alembic import op

    for statement in OUTBOX_VERBATIM_UPGRADE_SQL:
        op.execute(statement)


def store_outbox_as_jsonb() -> None:
    from alembic import op

    for statement in OUTBOX_VERBATIM_DOWNGRADE_SQL:
        op.execute(statement)
