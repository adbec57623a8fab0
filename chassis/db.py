"""The async SQLAlchemy engine for SQLite (embedded) and PostgreSQL (production shape)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from chassis.metrics import forget_pool, observe_pool

SQLITE_BUSY_TIMEOUT_MS = 15_000
_HOLDS_WRITER = "estuary_holds_sqlite_writer"


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A UTC instant. Refuses naive datetimes; always gives back aware UTC ones."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Estuary stores only aware UTC instants")
        value = value.astimezone(UTC)
        # SQLite keeps text; a fixed-width naive UTC form keeps comparisons in SQL right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite keeps naive UTC text)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """One service's database: its engine and how transactions begin on it."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options["pool_size"] = pool_size
            # SQLAlchemy's default overflow; SQLite has one writer at a time anyway.
            self.pool_limit = pool_size + 10
        else:
            # A fixed pool: past it, work waits for a connection rather than opening one. An
            # overflow connection costs a PostgreSQL backend start and is closed again on
            # return, so under a backlog overflow turned into a connect-and-close storm.
            options.update(pool_size=pool_size, max_overflow=0, pool_recycle=1800)
            self.pool_limit = pool_size
        self.engine: AsyncEngine = create_async_engine(url, **options)
        self._sqlite_writer = asyncio.Lock()
        self._quick_reads: sa.Engine | None = None
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, self._sqlite_writer)
            if parsed.database not in (None, "", ":memory:"):
                self._quick_reads = _quick_sqlite_reader(parsed)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def engines(self) -> list[Any]:
        """Every engine statements run on: the pool's and SQLite's quick reads (to trace)."""
        return [self.engine, *([self._quick_reads] if self._quick_reads is not None else [])]

    def report_pool_use(self, name: str) -> None:
        """Reports the pool's connections in use, idle and at most, as db.client.connections.*
        metrics named `name`, read at each collection (nothing is counted per checkout)."""
        observe_pool(name, self, self.engine.sync_engine.pool, self.pool_limit)  # type: ignore[arg-type]

    async def connect(self, *, write: bool = True, scan: bool = False) -> AsyncConnection:
        """A connection ready for a unit of work.

        A writer gets a transaction. On SQLite it first queues, in this process, for the one
        write lock the database has, then takes it with BEGIN IMMEDIATE: SQLite's own busy
        handler lets waiting writers retry in no order, so under load some would wait
        seconds. A reader runs in autocommit: no BEGIN and no ROLLBACK round trips, each
        statement reading the latest committed data. On SQLite a reader that will not scan
        much runs on the event loop's own thread (see QuickSqliteRead); one that may (`scan`,
        e.g. a search) goes through aiosqlite's thread like a writer.
        """
        if not write and not scan and self._quick_reads is not None:
            return QuickSqliteRead(self._quick_reads.connect())  # type: ignore[return-value]
        sqlite_writer = write and self.is_sqlite
        if sqlite_writer:
            await self._sqlite_writer.acquire()
        try:
            connection = await self.engine.connect()
        except BaseException:
            if sqlite_writer:
                self._sqlite_writer.release()
            raise
        if sqlite_writer:
            # From here the lock goes back with the connection (the pool's checkin releases it).
            connection.sync_connection.info[_HOLDS_WRITER] = True  # type: ignore[union-attr]
        # A caller cancelled before it has the connection could not give it back: it would be
        # checked in only by the garbage collector (SQLAlchemy warns), holding SQLite's write
        # lock until then.
        try:
            if not write:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                return connection
            if sqlite_writer:
                await connection.execution_options(sqlite_begin="IMMEDIATE")
            await connection.begin()
        except BaseException:
            await connection.close()
            raise
        return connection

    async def dispose(self) -> None:
        """Closes every pooled connection."""
        forget_pool(self)
        await self.engine.dispose()
        if self._quick_reads is not None:
            self._quick_reads.dispose()


class QuickSqliteRead:
    """A SQLite read on the event loop's own thread, with AsyncConnection's interface.

    A point read on a local SQLite file takes tens of microseconds, while each hop to
    aiosqlite's worker thread costs hundreds (a unit of work makes several): an order of
    magnitude on the embedded suite's hottest reads. In WAL mode a reader never waits for a
    writer, so the loop is not held up by one.
    """

    def __init__(self, connection: sa.Connection) -> None:
        self._connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._connection.execute(statement, parameters)

    async def rollback(self) -> None:
        self._connection.rollback()

    async def close(self) -> None:
        self._connection.close()

    async def get_raw_connection(self) -> Any:
        """The driver's connection as AsyncConnection gives it (for chassis.driver_sql):
        sqlite3's, behind aiosqlite's awaitable interface, still on this thread."""
        raw = self._connection.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        return _QuickRaw(_QuickDriverConnection(raw))


@dataclass(frozen=True)
class _QuickRaw:
    driver_connection: Any


@dataclass(frozen=True)
class _QuickDriverConnection:
    connection: sqlite3.Connection

    async def execute(self, sql: str, parameters: Any = ()) -> _QuickCursor:
        return _QuickCursor(self.connection.execute(sql, parameters))


@dataclass(frozen=True)
class _QuickCursor:
    cursor: sqlite3.Cursor

    @property
    def description(self) -> Any:
        return self.cursor.description

    async def fetchall(self) -> list[Any]:
        return self.cursor.fetchall()

    async def close(self) -> None:
        self.cursor.close()


def _quick_sqlite_reader(url: sa.URL) -> sa.Engine:
    engine = sa.create_engine(
        url.set(drivername="sqlite"), isolation_level="AUTOCOMMIT", pool_size=4
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        # Short: this waits on the event loop's thread, and WAL readers wait only in rare
        # recovery moments.
        cursor.execute("PRAGMA busy_timeout=2000")
        cursor.close()

    return engine


def _configure_sqlite(engine: AsyncEngine, writer: asyncio.Lock) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write, so two writers
    # can both read and then deadlock on upgrade. We take over BEGIN: writers use BEGIN
    # IMMEDIATE (the write lock up front, waiting on busy_timeout), readers a plain BEGIN.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', 'DEFERRED')}")

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # The writer's connection went back to the pool: the next writer may go.
        if record is not None and record.info.pop(_HOLDS_WRITER, False):
            writer.release()


def insert_ignoring_conflicts(
    dialect: str, table: sa.Table, index_elements: Sequence[str]
) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING, so a duplicate key reads as zero rows inserted."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


# The SQLSTATEs and SQLite extended codes of the violations a request can cause by racing
# another one; any other integrity error is a bug and stays a 500.
_PG_UNIQUE, _PG_FOREIGN_KEY = "23505", "23503"
_SQLITE_UNIQUE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
_SQLITE_FOREIGN_KEY = "SQLITE_CONSTRAINT_FOREIGNKEY"
_PG_KEY_COLUMNS = re.compile(r"Key \(([^)]*)\)=")


@dataclass(frozen=True)
class ConstraintViolation:
    """A unique or foreign key violation, read the same way from either database."""

    kind: str  # "unique" or "foreign_key"
    table: str
    columns: tuple[str, ...]

    @property
    def key(self) -> str:
        """How a service names this constraint: "table.column" or "table.a,b"."""
        return f"{self.table}.{','.join(self.columns)}"


def constraint_violation(error: sa.exc.IntegrityError) -> ConstraintViolation | None:
    """The unique or foreign key constraint an integrity error broke, if it was one."""
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate in (_PG_UNIQUE, _PG_FOREIGN_KEY):
        diag = original.diag  # type: ignore[union-attr]
        found = _PG_KEY_COLUMNS.search(diag.message_detail or "")
        columns = tuple(c.strip() for c in found.group(1).split(",")) if found else ()
        kind = "unique" if sqlstate == _PG_UNIQUE else "foreign_key"
        return ConstraintViolation(kind, diag.table_name or "", columns)
    name = getattr(original, "sqlite_errorname", "")
    if name in _SQLITE_UNIQUE:
        # "UNIQUE constraint failed: users.email_key, users.other"
        qualified = [c.strip() for c in str(original).partition(":")[2].split(",")]
        table = qualified[0].partition(".")[0] if qualified else ""
        return ConstraintViolation("unique", table, tuple(c.partition(".")[2] for c in qualified))
    if name == _SQLITE_FOREIGN_KEY:
        return ConstraintViolation("foreign_key", "", ())
    return None
