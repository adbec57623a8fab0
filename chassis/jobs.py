"""Periodic jobs that are safe with several replicas: a lease row per job decides who runs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from chassis.clock import Clock
from chassis.db import Database, insert_ignoring_conflicts
from chassis.ids import new_id
from chassis.tables import job_leases

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SLEEP_SECONDS = 60.0


@dataclass(frozen=True)
class PeriodicJob:
    """Work to do about every `interval`, by one replica at a time."""

    name: str
    interval: timedelta
    run: Callable[[], Awaitable[object]]


class JobRunner:
    """Runs periodic jobs; each run first takes the job's lease for one interval."""

    def __init__(
        self, database: Database, jobs: Sequence[PeriodicJob], *, clock: Clock, tick: float = 1.0
    ) -> None:
        self._database = database
        self._jobs = list(jobs)
        self._clock = clock
        self._tick = tick
        self._lease_ends: dict[str, datetime] = {}
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"

    async def run(self) -> None:
        """Runs due jobs until cancelled, sleeping until the earliest lease ends."""
        while True:
            for job in self._jobs:
                if self._lease_ends.get(job.name, EPOCH) > self._clock.now():
                    continue
                try:
                    if await self.acquire(job):
                        await job.run()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("periodic job %s failed; it runs again next interval", job.name)
            await asyncio.sleep(self._until_next_lease())

    def _until_next_lease(self) -> float:
        # Clamped, so a clock change or a lease we could not read costs at most a minute.
        soonest = min(self._lease_ends.get(job.name, EPOCH) for job in self._jobs)
        wait = (soonest - self._clock.now()).total_seconds()
        return min(max(wait, self._tick), MAX_SLEEP_SECONDS)

    async def acquire(self, job: PeriodicJob) -> bool:
        """Takes the job's lease if no replica has run it within the interval."""
        now = self._clock.now()
        connection = await self._database.connect(write=True)
        try:
            await connection.execute(
                insert_ignoring_conflicts(self._database.dialect, job_leases, ["job"]),
                {"job": job.name, "holder": "", "expires_at": EPOCH},
            )
            taken = await connection.execute(
                sa.update(job_leases)
                .where(job_leases.c.job == job.name, job_leases.c.expires_at <= now)
                .values(holder=self.holder, expires_at=now + job.interval, last_run_at=now)
            )
            self._lease_ends[job.name] = (
                await connection.execute(
                    sa.select(job_leases.c.expires_at).where(job_leases.c.job == job.name)
                )
            ).scalar_one()
            await connection.commit()
            return taken.rowcount == 1
        finally:
            await connection.close()
