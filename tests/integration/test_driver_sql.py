"""Statements on the driver below a unit of work (chassis/driver_sql.py), on both databases:
they run in the unit of work's own transaction (kept by its commit, gone with its rollback),
answer the rows they return, an instant bound as SQLAlchemy binds it reads back the same
through SQLAlchemy, and a broken key raises SQLAlchemy's IntegrityError, as a statement through
SQLAlchemy would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from chassis.db import Database, UtcDateTime, constraint_violation
from chassis.driver_sql import Driver, DriverStatement

metadata = sa.MetaData()
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
)
ADD = DriverStatement("INSERT INTO notes (id, at) VALUES (:id, :at) RETURNING id")
ADD_QUIETLY = DriverStatement("INSERT INTO notes (id, at) VALUES (:id, :at)")
# An instant without microseconds: sqlite3's own adapter would drop them from the text and
# break the fixed width that SQLite's comparisons rely on.
AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
async def database(empty_database_url):
    database = Database(empty_database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


async def test_a_driver_statement_runs_in_the_unit_of_works_transaction(database):
    connection = await database.connect()
    driver = Driver(connection)
    assert await driver.execute(ADD, {"id": 1, "at": driver.bind(UtcDateTime(), AT)}) == [(1,)]
    assert await driver.execute(ADD_QUIETLY, {"id": 2, "at": driver.bind(UtcDateTime(), AT)}) == []
    await connection.rollback()
    await connection.close()

    connection = await database.connect()
    driver = Driver(connection)
    await driver.execute(ADD_QUIETLY, {"id": 3, "at": driver.bind(UtcDateTime(), AT)})
    await connection.commit()
    await connection.close()

    async with database.engine.connect() as reader:
        rows = (await reader.execute(sa.select(notes.c.id, notes.c.at))).all()
        assert [tuple(r) for r in rows] == [(3, AT)]
        # Found by an instant SQLAlchemy binds: stored in the very same form.
        found = await reader.execute(sa.select(notes.c.id).where(notes.c.at == AT))
        assert found.scalars().all() == [3]


async def test_a_driver_error_is_sqlalchemys_so_a_unit_of_work_maps_it(database):
    connection = await database.connect()
    driver = Driver(connection)
    await driver.execute(ADD_QUIETLY, {"id": 4, "at": driver.bind(UtcDateTime(), AT)})
    with pytest.raises(sa.exc.IntegrityError) as taken:
        await driver.execute(ADD_QUIETLY, {"id": 4, "at": driver.bind(UtcDateTime(), AT)})
    assert constraint_violation(taken.value) is not None
    await connection.rollback()
    await connection.close()


def test_parameters_are_written_once_for_both_drivers():
    statement = DriverStatement("SELECT :a::bigint + :b_2 WHERE x = ':' OR y = :a")
    assert statement.for_psycopg == "SELECT %(a)s::bigint + %(b_2)s WHERE x = ':' OR y = %(a)s"
    with pytest.raises(ValueError, match="may not hold %"):
        DriverStatement("SELECT 100 % 7")
