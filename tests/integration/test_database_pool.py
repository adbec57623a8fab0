"""The PostgreSQL pool is fixed: past its size, work waits for a connection, never opens one."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

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
