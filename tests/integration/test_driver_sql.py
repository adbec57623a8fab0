"""Statements on the driver below a unit of work (chassis/driver_sql.py), on both databases:
they run in the unit of work's own transaction (kept by its commit, gone with its rollback),
answer the rows they return, an instant bound as SQLAlchemy binds it reads back the same
through SQLAlchemy (and one read on the driver, as SQLAlchemy gives it), and a broken key
raises SQLAlchemy's IntegrityError, as a statement through SQLAlchemy would. Statements run
together come back each with its own rows, in order, on PostgreSQL in one round trip, with
the transaction's COMMIT when asked; one failing among them fails the transaction as one
alone would, and commits nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
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


async def test_an_instant_read_on_the_driver_is_what_sqlalchemy_gives_back(database):
    later = datetime(2026, 12, 2, 7, 45, 1, 250_000, tzinfo=UTC)
    async with database.engine.begin() as connection:
        await connection.execute(sa.insert(notes), [{"id": 1, "at": AT}, {"id": 2, "at": later}])
    # A writer's transaction, and a reader (on SQLite, one on the event loop's own thread).
    for write in (True, False):
        connection = await database.connect(write=write)
        driver = Driver(connection)
        rows = await driver.execute(
            DriverStatement("SELECT at FROM notes WHERE at > :after ORDER BY id"),
            {"after": driver.bind(UtcDateTime(), datetime(2026, 1, 1, tzinfo=UTC))},
        )
        read = [driver.read(notes.c.at.type, at) for (at,) in rows]
        assert read == [AT, later]
        assert all(at.tzinfo is UTC for at in read)
        await connection.rollback()
        await connection.close()


async def test_a_driver_error_is_sqlalchemys_so_a_unit_of_work_maps_it(database):
    connection = await database.connect()
    driver = Driver(connection)
    await driver.execute(ADD_QUIETLY, {"id": 4, "at": driver.bind(UtcDateTime(), AT)})
    with pytest.raises(sa.exc.IntegrityError) as taken:
        await driver.execute(ADD_QUIETLY, {"id": 4, "at": driver.bind(UtcDateTime(), AT)})
    assert constraint_violation(taken.value) is not None
    await connection.rollback()
    await connection.close()


COUNT = DriverStatement("SELECT count(*) FROM notes")


async def test_statements_run_together_answer_each_its_rows_in_order(database, monkeypatch):
    pipelines = []
    pipeline = psycopg.AsyncConnection.pipeline

    def recorded(self):
        pipelines.append(self)
        return pipeline(self)

    monkeypatch.setattr(psycopg.AsyncConnection, "pipeline", recorded)
    connection = await database.connect()
    driver = Driver(connection)
    at = driver.bind(UtcDateTime(), AT)
    answers = await driver.execute_together(
        [
            (ADD, {"id": 5, "at": at}),
            (ADD_QUIETLY, {"id": 6, "at": at}),
            (COUNT, {}),
            (ADD, {"id": 7, "at": at}),
        ]
    )
    assert answers == [[(5,)], [], [(2,)], [(7,)]]
    # PostgreSQL was sent them as one pipeline: one round trip.
    assert len(pipelines) == (1 if connection.dialect.name == "postgresql" else 0)
    await connection.commit()
    await connection.close()
    async with database.engine.connect() as reader:
        found = await reader.execute(sa.select(notes.c.id).order_by(notes.c.id))
        assert found.scalars().all() == [5, 6, 7]


async def test_one_failing_statement_among_several_fails_them_all(database):
    connection = await database.connect()
    driver = Driver(connection)
    at = driver.bind(UtcDateTime(), AT)
    await driver.execute(ADD_QUIETLY, {"id": 8, "at": at})
    await connection.commit()
    await connection.close()

    connection = await database.connect()
    driver = Driver(connection)
    with pytest.raises(sa.exc.IntegrityError) as taken:
        await driver.execute_together(
            [(ADD_QUIETLY, {"id": 9, "at": at}), (ADD_QUIETLY, {"id": 8, "at": at})]
        )
    assert constraint_violation(taken.value) is not None
    await connection.rollback()
    await connection.close()
    async with database.engine.connect() as reader:
        assert (await reader.execute(sa.select(notes.c.id))).scalars().all() == [8]


async def test_statements_and_their_commit_go_in_one_round_trip(database, monkeypatch):
    pipelines, left_to_commit = [], []
    pipeline, commit = psycopg.AsyncConnection.pipeline, psycopg.AsyncConnection.commit

    def recorded(self):
        pipelines.append(self)
        return pipeline(self)

    async def committing(self):
        left_to_commit.append(self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)
        await commit(self)

    monkeypatch.setattr(psycopg.AsyncConnection, "pipeline", recorded)
    monkeypatch.setattr(psycopg.AsyncConnection, "commit", committing)
    connection = await database.connect()
    driver = Driver(connection)
    at = driver.bind(UtcDateTime(), AT)
    await driver.execute(ADD_QUIETLY, {"id": 10, "at": at})
    answers = await driver.execute_and_commit([(ADD, {"id": 11, "at": at}), (COUNT, {})])
    assert answers == [[(11,)], [(2,)]]
    if connection.dialect.name == "postgresql":
        # The COMMIT went with the statements: SQLAlchemy's commit found nothing to send.
        assert (len(pipelines), left_to_commit) == (1, [False])
    # The connection goes on, in a transaction of its own.
    await connection.execute(notes.insert().values(id=12, at=AT))
    await connection.rollback()
    await connection.close()
    async with database.engine.connect() as reader:
        found = await reader.execute(sa.select(notes.c.id).order_by(notes.c.id))
        assert found.scalars().all() == [10, 11]


async def test_a_failing_statement_before_the_commit_commits_nothing(database):
    connection = await database.connect()
    driver = Driver(connection)
    at = driver.bind(UtcDateTime(), AT)
    await driver.execute(ADD_QUIETLY, {"id": 13, "at": at})
    with pytest.raises(sa.exc.IntegrityError):
        await driver.execute_and_commit(
            [(ADD_QUIETLY, {"id": 14, "at": at}), (ADD_QUIETLY, {"id": 13, "at": at})]
        )
    await connection.rollback()
    await connection.close()
    async with database.engine.connect() as reader:
        assert (await reader.execute(sa.select(notes.c.id))).scalars().all() == []


def test_parameters_are_written_once_for_both_drivers():
    statement = DriverStatement("SELECT :a::bigint + :b_2 WHERE x = ':' OR y = :a")
    assert statement.for_psycopg == "SELECT %(a)s::bigint + %(b_2)s WHERE x = ':' OR y = %(a)s"
    with pytest.raises(ValueError, match="may not hold %"):
        DriverStatement("SELECT 100 % 7")
