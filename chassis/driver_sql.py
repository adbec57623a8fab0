"""Statements run on the database driver itself, below SQLAlchemy, in a unit of work's own
transaction: for the few writes on the hottest paths, where SQLAlchemy's work per statement
(compiling from its cache, the result's set-up, a greenlet switch each way) cost more CPU
than the round trip. Measured on the ledger's postings: 3.7 -> 2.3 ms of CPU a transaction.

One text serves both databases: written with `:name` parameters (sqlite3's style), given to
psycopg as `%(name)s` (which prepares it on the server after a few runs, as for any
statement). Values go to the driver as they are, so a caller converts what SQLAlchemy's types
would (`bind` does, with the column's type). The driver's errors come out as SQLAlchemy's (a
broken unique key is sa.exc.IntegrityError), so a unit of work maps them as it maps any; with
tracing on, each statement is a span of the work that ran it, as SQLAlchemy's statements are.
Everything else keeps to SQLAlchemy.

Writes that need no answer before the next is sent can go together (`execute_together`): on
PostgreSQL in one round trip (psycopg's pipeline mode), on SQLite one after another. The last
writes of a transaction can take its COMMIT with them (`execute_and_commit`): a unit of work
sends its outbox rows and whatever else waited for its end that way."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.telemetry import trace_on

_tracer = trace.get_tracer(__name__)

# A :name not part of a PostgreSQL cast (::type) or a word.
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


# Sent as the pipeline's last statement, so that the COMMIT shares its round trip (psycopg's
# own commit() would add a sync of its own). psycopg reads the ended transaction from the
# server's answer: SQLAlchemy's commit that follows has nothing left to send.
_COMMIT = "COMMIT"


@dataclass(frozen=True)
class DriverStatement:
    """One statement's text, with `:name` parameters."""

    sql: str
    for_psycopg: str = field(init=False)
    # Its span's name: the statement's first word, as SQLAlchemy's instrumentation names them.
    operation: str = field(init=False)

    def __post_init__(self) -> None:
        if "%" in self.sql:
            raise ValueError("a driver statement may not hold %: psycopg reads it as a parameter")
        object.__setattr__(self, "for_psycopg", _NAMED.sub(r"%(\1)s", self.sql))
        object.__setattr__(self, "operation", self.sql.split(None, 1)[0].upper())


class Driver:
    """The driver connection under a unit of work's SQLAlchemy connection (the same
    transaction), fetched once."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"
        self._driver_error: type[Exception] = psycopg.Error if self._postgres else sqlite3.Error
        self._driver: Any = None

    @property
    def dialect(self) -> str:
        return str(self._connection.dialect.name)

    def bind(self, column_type: sa.types.TypeEngine[Any], value: Any) -> Any:
        """value as SQLAlchemy would send it for a column of this type (e.g. an instant as
        SQLite's fixed-width UTC text)."""
        dialect = self._connection.dialect
        # The dialect's own form of the type: SQLite's DATETIME is what writes the text.
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        return process(value) if process is not None else value

    def read(self, column_type: sa.types.TypeEngine[Any], value: Any) -> Any:
        """value as SQLAlchemy would give it back from a column of this type (e.g. SQLite's
        text as an aware UTC datetime)."""
        dialect = self._connection.dialect
        process = column_type.dialect_impl(dialect).result_processor(dialect, None)
        return process(value) if process is not None else value

    async def execute(
        self, statement: DriverStatement, parameters: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Runs the statement; the rows it returns (none for one that returns nothing)."""
        [rows] = await self.execute_together([(statement, parameters)])
        return rows

    async def execute_together(
        self, steps: Sequence[tuple[DriverStatement, Mapping[str, Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Runs the statements in order, on PostgreSQL in one round trip; the rows each
        returns. A failing one raises, and the transaction is then lost as with any."""
        if self._driver is None:
            self._driver = (await self._connection.get_raw_connection()).driver_connection
        with self._traced(steps):
            if not self._postgres:
                return [await self._run_on_sqlite(s, p) for s, p in steps]
            if len(steps) == 1:
                [(statement, parameters)] = steps
                cursor = await self._driver.execute(statement.for_psycopg, parameters)
                return [await _rows_of(cursor)]
            async with self._driver.pipeline():
                cursors = [await self._driver.execute(s.for_psycopg, p) for s, p in steps]
            # Leaving the pipeline waited for every result.
            return [await _rows_of(cursor) for cursor in cursors]

    async def execute_and_commit(
        self, steps: Sequence[tuple[DriverStatement, Mapping[str, Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """Runs the statements in order, then commits the transaction they are in (SQLAlchemy's
        connection's too); on PostgreSQL the statements and the COMMIT in one round trip. The
        rows each returns. Should one fail, nothing is committed and the transaction is lost,
        to be rolled back as any failed one."""
        if not self._postgres or not steps:
            answers = await self.execute_together(steps) if steps else []
            await self._connection.commit()
            return answers
        if self._driver is None:
            self._driver = (await self._connection.get_raw_connection()).driver_connection
        with self._traced(steps, committing=True):
            async with self._driver.pipeline():
                cursors = [await self._driver.execute(s.for_psycopg, p) for s, p in steps]
                await self._driver.execute(_COMMIT)
            answers = [await _rows_of(cursor) for cursor in cursors]
        await self._connection.commit()
        return answers

    @contextmanager
    def _traced(
        self,
        steps: Sequence[tuple[DriverStatement, Mapping[str, Any]]],
        *,
        committing: bool = False,
    ) -> Iterator[None]:
        """The statements as one span of the traced work running them (none outside traced
        work: background loops start no trace of their own); the driver's errors raised as
        SQLAlchemy's."""
        sql = "; ".join([statement.sql for statement, _ in steps] + [_COMMIT] * committing)
        try:
            if not trace_on() or not trace.get_current_span().get_span_context().is_valid:
                yield
                return
            attributes = {"db.system": self._connection.dialect.name, "db.statement": sql}
            with _tracer.start_as_current_span(
                steps[0][0].operation, kind=SpanKind.CLIENT, attributes=attributes
            ):
                yield
        except self._driver_error as error:
            # In a pipeline the failing statement is not told apart: all are named.
            parameters = dict(steps[0][1]) if len(steps) == 1 else {}
            raise sa.exc.DBAPIError.instance(sql, parameters, error, self._driver_error) from error

    async def _run_on_sqlite(
        self, statement: DriverStatement, parameters: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        cursor = await self._driver.execute(statement.sql, parameters)
        try:
            return await _rows_of(cursor)
        finally:
            await cursor.close()


async def _rows_of(cursor: Any) -> list[tuple[Any, ...]]:
    return list(await cursor.fetchall()) if cursor.description else []
