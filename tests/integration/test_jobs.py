"""Periodic jobs with several replicas: the lease row lets one of them run each interval."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chassis.clock import FrozenClock
from chassis.db import Database
from chassis.jobs import JobRunner, PeriodicJob
from tests.infrastructure import postgres_database
from tests.integration.harness import create_schema


async def _replicas_share_one_schedule(database: Database) -> None:
    await create_schema(database)
    clock = FrozenClock()
    runs: list[str] = []

    def job_for(replica: str) -> PeriodicJob:
        async def remind() -> None:
            runs.append(replica)

        return PeriodicJob("reminders", timedelta(minutes=5), remind)

    replicas = [JobRunner(database, [job_for(name)], clock=clock) for name in "abc"]
    for minute in range(3):
        # Every replica wakes at the same moment and races for the lease.
        taken = await asyncio.gather(*(r.acquire(r._jobs[0]) for r in replicas))
        for replica, won in zip(replicas, taken, strict=True):
            if won:
                await replica._jobs[0].run()
        assert sum(taken) == (1 if minute == 0 else 0)
        clock.advance(timedelta(minutes=1))
    assert len(runs) == 1, "one run within the interval, whoever won"
    clock.advance(timedelta(minutes=5))
    taken = await asyncio.gather(*(r.acquire(r._jobs[0]) for r in replicas))
    assert sum(taken) == 1, "the next interval runs again, once"


async def test_one_replica_runs_a_job_per_interval_on_sqlite(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/jobs.db")
    try:
        await _replicas_share_one_schedule(database)
    finally:
        await database.dispose()


async def test_one_replica_runs_a_job_per_interval_on_postgres():
    with postgres_database() as url:
        database = Database(url)
        try:
            await _replicas_share_one_schedule(database)
        finally:
            await database.dispose()


async def test_a_failing_job_does_not_stop_the_runner(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/jobs.db")
    await create_schema(database)
    calls: list[str] = []

    async def broken() -> None:
        calls.append("broken")
        raise RuntimeError("a job that fails")

    async def healthy() -> None:
        calls.append("healthy")

    runner = JobRunner(
        database,
        [
            PeriodicJob("broken", timedelta(seconds=0), broken),
            PeriodicJob("healthy", timedelta(seconds=0), healthy),
        ],
        clock=FrozenClock(),
        tick=0.01,
    )
    task = asyncio.create_task(runner.run())
    try:
        while calls.count("healthy") < 2:
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await database.dispose()
    assert calls.count("broken") >= 2
