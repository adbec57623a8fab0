"""The PostgreSQL pool is fixed: past its size, work waits for a connection, never opens one.
A caller cancelled while a connection is being readied for it gives it back (on both databases)."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import Database
from tests.infrastructure import postgres_database


async def test_more_transactions_than_the_pool_holds_share_its_connections() -> None:
    with postgres_database() as url:
        database = Database(url, pool_size=2)
        backends: list[int] = []

        async def unit_of_work() -> None:
            connection = await database.connect()
            try:
                pid = (await connection.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
                backends.append(pid)
                # Held long enough that all eight overlap: six must wait for the pool.
                await asyncio.sleep(0.05)
                await connection.commit()
            finally:
                await connection.close()

        try:
            await asyncio.wait_for(asyncio.gather(*(unit_of_work() for _ in range(8))), 10)
        finally:
            await database.dispose()
        # Every transaction ran, on the pool's two server connections and no others: an
        # overflow connection would have been a third backend, opened and closed again.
        assert len(backends) == 8
        assert len(set(backends)) == 2


@pytest.mark.parametrize(
    ("write", "scan", "step"),
    # A reader readied with its AUTOCOMMIT option, a writer with its BEGIN.
    [(False, True, "execution_options"), (True, False, "begin")],
)
async def test_a_caller_cancelled_while_connecting_leaves_no_connection_out(
    empty_database_url, monkeypatch: pytest.MonkeyPatch, write: bool, scan: bool, step: str
) -> None:
    database = Database(empty_database_url)
    original = getattr(AsyncConnection, step)
    cancelled = asyncio.Event()

    async def cancelled_there(self: AsyncConnection, *args: object, **kwargs: object) -> object:
        if not cancelled.is_set():
            cancelled.set()
            raise asyncio.CancelledError
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncConnection, step, cancelled_there)
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            with pytest.raises(asyncio.CancelledError):
                await database.connect(write=write, scan=scan)
            gc.collect()
        assert cancelled.is_set()
        # Given back, not left for the garbage collector to check in (SQLAlchemy warns then).
        assert [w.message for w in warned if issubclass(w.category, sa.exc.SAWarning)] == []
        assert database.engine.pool.checkedout() == 0
        connection = await asyncio.wait_for(database.connect(write=True), 5)
        await connection.close()
    finally:
        await database.dispose()
