"""Alembic per service: each service keeps migrations/ with an env.py that calls run_env.

Migrating is safe with several migrators at once (the init containers of a rollout's pods):
on PostgreSQL they take turns on an advisory lock, and each finds what the one before did.
A service refuses to serve on a schema older than its code (require_current_schema).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from chassis.db import UtcDateTime
from chassis.tables import metadata as chassis_metadata

log = logging.getLogger(__name__)

# One key for every migrator: advisory locks belong to one database, and each service has
# its own, so the lock serializes exactly the migrations of one service's database.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"estuary.migrations").digest()[:8], "big", signed=True
)


class SchemaOutOfDate(Exception):
    """The database's schema is older than the code that would serve on it."""


def alembic_config(script_location: Path, url: str) -> Config:
    """An alembic configuration for one service's migrations and database."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    """Migrates a service's database (blocking: run it in a thread from async code); on
    PostgreSQL only while holding the migration lock, so concurrent migrators take turns."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    with migration_lock(url):
        command.upgrade(alembic_config(script_location, url), revision)


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Holds the database's migration lock (a PostgreSQL session advisory lock, on a
    connection of its own) for the duration; waits while another migrator holds it. On
    SQLite it does nothing: alembic's transaction holds the file's one write lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        yield
        return
    engine = sa.create_engine(parsed.set(drivername="postgresql+psycopg"), poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            key = {"key": MIGRATION_LOCK_KEY}
            if not connection.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"), key):
                log.info("another migration of this database is running: waiting for it")
                connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), key)
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), key)
    finally:
        engine.dispose()


def database_revision(url: str, service: str) -> str | None:
    """The revision recorded in the service's version table; None if never migrated."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:") or not Path(parsed.database).exists():
            return None
        sync = parsed.set(drivername="sqlite")
    else:
        sync = parsed.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(sync, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            migration = MigrationContext.configure(
                connection, opts={"version_table": f"{service}_alembic_version"}
            )
            return migration.get_current_revision()
    finally:
        engine.dispose()


def require_current_schema(script_location: Path, url: str, service: str) -> None:
    """SchemaOutOfDate, naming both revisions and the command to run, when the database
    is older than the code (or was never migrated). A revision the code does not know was
    written by a newer version: the code serves on it (migrations only add to a schema the
    running version still reads, so a rollout's old and new pods share one database)."""
    script = ScriptDirectory.from_config(alembic_config(script_location, url))
    head = script.get_current_head()
    current = database_revision(url, service)
    if current == head:
        return
    if current is not None:
        try:
            known = script.get_revision(current) is not None
        except CommandError:
            known = False
        if not known:
            log.warning(
                "%s's database is at revision %s, which this code does not know (a newer "
                "version migrated it); serving on it",
                service,
                current,
            )
            return
    raise SchemaOutOfDate(
        f"{service}'s database is at revision {current or 'none (never migrated)'} but this "
        f"code needs revision {head}: run `estuary migrate {service}` first"
    )


def run_env(target_metadata: sa.MetaData, service: str) -> None:
    """The body of every service's migrations/env.py.

    Each service records its revision in a table of its own name, so that two services
    pointed at one database by mistake cannot take each other's revisions for their own.
    """
    version_table = f"{service}_alembic_version"
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    metadatas = [target_metadata, chassis_metadata]
    batch = url.startswith("sqlite")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=metadatas,
            literal_binds=True,
            render_as_batch=batch,
            version_table=version_table,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    def migrate(connection: sa.Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadatas,
            render_as_batch=batch,
            version_table=version_table,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def online() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
            await connection.commit()
        await engine.dispose()

    asyncio.run(online())


# The chassis's tables as every service first creates them. Frozen: a later change to
# chassis/tables.py comes with a new create_chassis_tables_vN that services' migrations call.
def create_chassis_tables_v1() -> None:
    """Creates the outbox, inbox, idempotency and job lease tables (in a first migration)."""
    op.create_table(
        "idempotency_records",
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operation", "request_id"),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("received_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_received_at"), ["received_at"], unique=False)

    op.create_table(
        "job_leases",
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job"),
    )
    op.create_table(
        "outbox",
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), server_default="", nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("published_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("position"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_published_at", ["published_at"], unique=False)
        batch_op.create_index("ix_outbox_subject", ["subject"], unique=False)
        batch_op.create_index(
            "ix_outbox_unpublished",
            ["position"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )


def drop_chassis_tables_v1() -> None:
    """Drops what create_chassis_tables_v1 made."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_unpublished",
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )
        batch_op.drop_index("ix_outbox_subject")
        batch_op.drop_index("ix_outbox_published_at")

    op.drop_table("outbox")
    op.drop_table("job_leases")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_received_at"))

    op.drop_table("inbox")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))

    op.drop_table("idempotency_records")


def create_chassis_tables_v2() -> None:
    """Scopes idempotency records by caller and adds the account statuses table.

    Idempotency records live a day and answer only retries: the table is made anew rather
    than migrated, since a record without its caller cannot be given one.
    """
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))
    op.drop_table("idempotency_records")
    op.create_table(
        "idempotency_records",
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("caller", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operation", "caller", "request_id"),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "account_statuses",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("changed_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("account_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_statuses_changed_at"), ["changed_at"], unique=False
        )


def drop_chassis_tables_v2() -> None:
    """Undoes create_chassis_tables_v2 (idempotency records are made anew, unscoped)."""
    with op.batch_alter_table("account_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_statuses_changed_at"))
    op.drop_table("account_statuses")
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_records_created_at"))
    op.drop_table("idempotency_records")
    op.create_table(
        "idempotency_records",
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("operation", "request_id"),
    )
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_records_created_at"), ["created_at"], unique=False
        )
