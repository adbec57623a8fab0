"""The outbox relay: publishes committed events and marks them sent.

It wakes when a unit of work commits events (the fast path) and sweeps on a timer for rows
left unsent by a crash or a broker outage (the guarantee). On PostgreSQL it holds the rows
with FOR UPDATE SKIP LOCKED while publishing, so several replicas share the work without
publishing a row twice; on SQLite one relay per database is the only writer of marks.
A relay that dies after publishing but before marking publishes those rows again: consumers
absorb the duplicate through their inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.bus.envelope import OutgoingEvent
from chassis.bus.transport import Transport, Unroutable
from chassis.clock import Clock
from chassis.db import Database
from chassis.tables import outbox

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(minutes=5)


@dataclass
class RelayStats:
    """What the relay has done since it started."""

    published: int = 0
    failed_attempts: int = 0
    unroutable: int = 0


def retry_delay(attempts: int) -> timedelta:
    """How long an event that failed `attempts` times waits before the next try."""
    return min(timedelta(milliseconds=250) * (2 ** min(attempts, 20)), MAX_RETRY_DELAY)


class OutboxRelay:
    """Moves events from one service's outbox to the bus."""

    def __init__(
        self,
        database: Database,
        transport: Transport,
        *,
        clock: Clock,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self._database = database
        self._transport = transport
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.stats = RelayStats()

    def notify(self) -> None:
        """Events were just committed: publish them now rather than at the next sweep."""
        self._wake.set()

    async def run(self) -> None:
        """Relays until cancelled."""
        while True:
            self._wake.clear()
            try:
                handled = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed; the sweep will try again")
                handled = 0
            if handled >= self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def relay_once(self) -> int:
        """Publishes one batch of due events; returns how many rows it handled."""
        if self._database.is_sqlite:
            async with self._database.engine.connect() as reader:
                rows = await self._due_rows(reader, lock=False)
                await reader.rollback()
            if not rows:
                return 0
            outcomes = await self._transport.publish([_event(row) for row in rows])
            writer = await self._database.connect(write=True)
            try:
                await self._record(writer, rows, outcomes)
                await writer.commit()
            finally:
                await writer.close()
            return len(rows)
        connection = await self._database.connect(write=True)
        try:
            rows = await self._due_rows(connection, lock=True)
            if not rows:
                await connection.rollback()
                return 0
            outcomes = await self._transport.publish([_event(row) for row in rows])
            await self._record(connection, rows, outcomes)
            await connection.commit()
            return len(rows)
        finally:
            await connection.close()

    async def _due_rows(self, connection: AsyncConnection, *, lock: bool) -> list[sa.Row]:
        now = self._clock.now()
        query = (
            sa.select(
                outbox.c.position,
                outbox.c.event_id,
                outbox.c.event_type,
                outbox.c.headers,
                outbox.c.content_type,
                outbox.c.body,
                outbox.c.attempts,
            )
            .where(outbox.c.published_at.is_(None))
            .where(sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
            .order_by(outbox.c.position)
            .limit(self._batch_size)
        )
        if lock:
            query = query.with_for_update(skip_locked=True)
        return list((await connection.execute(query)).all())

    async def _record(
        self,
        connection: AsyncConnection,
        rows: list[sa.Row],
        outcomes: list[BaseException | None],
    ) -> None:
        now = self._clock.now()
        sent = [row.position for row, error in zip(rows, outcomes, strict=True) if error is None]
        if sent:
            await connection.execute(
                outbox.update().where(outbox.c.position.in_(sent)).values(published_at=now)
            )
            self.stats.published += len(sent)
        failures: dict[tuple[str, str, bool], int] = {}
        for row, error in zip(rows, outcomes, strict=True):
            if error is None:
                continue
            self.stats.failed_attempts += 1
            unroutable = isinstance(error, Unroutable)
            self.stats.unroutable += unroutable
            delay = retry_delay(row.attempts)
            key = (row.event_type, str(error), unroutable)
            failures[key] = failures.get(key, 0) + 1
            await connection.execute(
                outbox.update()
                .where(outbox.c.position == row.position)
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=now + delay,
                    last_error=str(error)[:2000],
                )
            )
        for (event_type, error_text, unroutable), count in failures.items():
            context = {"event_type": event_type, "events": count, "error": error_text}
            if unroutable:
                # No consumer is bound yet (a service not deployed, or not written yet): the
                # events wait in the outbox for one rather than being dropped.
                log.warning(
                    "%d %s event(s) have no queue bound; kept in the outbox",
                    count,
                    event_type,
                    extra=context,
                )
            else:
                log.error(
                    "%d %s event(s) not published (%s); kept in the outbox for a retry",
                    count,
                    event_type,
                    error_text,
                    extra=context,
                )


def _event(row: sa.Row) -> OutgoingEvent:
    return OutgoingEvent(
        id=row.event_id,
        type=row.event_type,
        headers=dict(row.headers),
        content_type=row.content_type,
        body=bytes(row.body),
    )


async def purge_published(database: Database, clock: Clock, older_than: timedelta) -> int:
    """Deletes events published longer ago than the retention; returns how many."""
    connection = await database.connect(write=True)
    try:
        result = await connection.execute(
            outbox.delete().where(outbox.c.published_at < clock.now() - older_than)
        )
        await connection.commit()
        return result.rowcount or 0
    finally:
        await connection.close()


async def forget_subject(connection: AsyncConnection, subject: str) -> int:
    """Deletes every outbox row about a subject (a person being erased); returns how many.

    Events not yet published about an erased person would deliver their personal data after
    the erasure; those already published need no copy kept here either.
    """
    result = await connection.execute(outbox.delete().where(outbox.c.subject == subject))
    return result.rowcount or 0
