"""The outbox relay: publishes committed events and marks them sent.

It wakes when a unit of work commits events (the fast path) and sweeps on a timer for rows
left unsent by a crash or a broker outage (the guarantee). On PostgreSQL it holds the rows
with FOR UPDATE SKIP LOCKED while publishing, so several replicas share the work without
publishing a row twice; on SQLite one relay per database is the only writer of marks.
A relay that dies after publishing but before marking publishes those rows again: consumers
absorb the duplicate through their inbox.

Hand-overs are marked published in batches, a short while after their publish (well within
the sweep's grace period, and always before this relay sweeps): events committed one at a
time would otherwise cost a transaction each just for their mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis import metrics
from chassis.bus.envelope import OutgoingEvent
from chassis.bus.transport import Transport, Unroutable
from chassis.clock import Clock
from chassis.db import Database
from chassis.tables import outbox
from chassis.telemetry import trace_on

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

MAX_RETRY_DELAY = timedelta(minutes=5)
# How often the outbox's backlog is measured for estuary.outbox.lag: one aggregate query over
# the unsent rows, read by scrapes in between.
LAG_INTERVAL_SECONDS = 5.0
TRACEPARENT = "ce-traceparent"
# How long a published hand-over may wait for its row to be marked, so that marks go in
# batches; capped at a quarter of the sweep's grace, so no sweep takes a published row.
MARK_DELAY_SECONDS = 0.05
MARK_ON_STOP_SECONDS = 2.0


@dataclass
class RelayStats:
    """What the relay has done since it started."""

    published: int = 0
    failed_attempts: int = 0
    unroutable: int = 0


@dataclass(frozen=True)
class CommittedEvent:
    """An event whose outbox row has just been committed, at this position."""

    position: int
    event: OutgoingEvent


@dataclass(frozen=True)
class _Pending:
    """A row to publish: from the fast path (attempts 0) or from the sweep."""

    position: int
    event: OutgoingEvent
    attempts: int = 0


def retry_delay(attempts: int) -> timedelta:
    """How long an event that failed `attempts` times waits before the next try."""
    return min(timedelta(milliseconds=250) * (2 ** min(attempts, 20)), MAX_RETRY_DELAY)


class OutboxRelay:
    """Moves events from one service's outbox to the bus.

    Fast path: units of work hand their committed events over in memory; the relay publishes
    them at once and marks their rows, with no query to find them. Sweep: rows still unsent
    after a grace period (a crash, a full hand-over queue, a broker outage, another process
    writing the database) are found, locked and published. The sweep is the guarantee.
    """

    def __init__(
        self,
        database: Database,
        transport: Transport,
        *,
        clock: Clock,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        sweep_grace: timedelta = timedelta(seconds=2),
        max_handed_over: int = 10_000,
        service: str = "",
        announced: frozenset[str] = frozenset(),
    ) -> None:
        self.service = service
        # Event types needed by no consumer: one no queue is bound to is done, not kept.
        self._announced = announced
        self._database = database
        self._transport = transport
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._sweep_grace = sweep_grace
        self._handed_over: deque[CommittedEvent] = deque(maxlen=max_handed_over)
        # Hand-overs published, with their outcomes, whose rows wait to be marked together.
        self._unmarked: list[tuple[_Pending, BaseException | None]] = []
        self._mark_delay = min(MARK_DELAY_SECONDS, sweep_grace.total_seconds() / 4)
        self._mark_due: float | None = None
        self._wake = asyncio.Event()
        self.stats = RelayStats()
        # Event types already warned about as unroutable, until one of them is published: a
        # type with no consumer yet is said once, not at every sweep (it is counted always).
        self._unroutable_warned: set[str] = set()
        self._oldest_unsent: Mapping[str, tuple[datetime, int]] = {}
        self._attributes = metrics.attributes_cache(
            lambda event_type: {"service": service, "event_type": event_type}
        )
        metrics.observe_outbox(self)

    def notify(self, committed: Sequence[CommittedEvent] = ()) -> None:
        """Events were just committed: publish them now rather than at the next sweep.

        Past max_handed_over the oldest hand-overs are forgotten; the sweep publishes them.
        """
        self._handed_over.extend(committed)
        self._wake.set()

    async def run(self) -> None:
        """Relays until cancelled: hand-overs as they come, a sweep every poll interval.

        Sweeping on every hand-over would cost a locking query per committed transaction
        for rows that, being within the grace period, it could not take anyway.
        """
        next_sweep = 0.0
        try:
            while True:
                self._wake.clear()
                sweep_again = False
                try:
                    await self._publish_handed_over(mark_now=False)
                    if time.monotonic() >= next_sweep:
                        # Set first: a failing sweep waits its interval, it does not spin.
                        next_sweep = time.monotonic() + self._poll_interval
                        # The sweep must find this relay's published rows marked.
                        await self._mark_published()
                        sweep_again = await self._sweep() >= self._batch_size
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay pass failed; the sweep will try again")
                if sweep_again:
                    next_sweep = 0.0
                    continue
                if self._handed_over:
                    continue
                wake_at = next_sweep if self._mark_due is None else min(next_sweep, self._mark_due)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, wake_at - time.monotonic()))
        finally:
            # Stopping: mark what was published, or a later sweep publishes it again.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._mark_published(), MARK_ON_STOP_SECONDS)

    async def relay_once(self) -> int:
        """Publishes what was handed over, then one sweep batch; returns rows handled."""
        return await self._publish_handed_over(mark_now=True) + await self._sweep()

    async def _publish_handed_over(self, *, mark_now: bool) -> int:
        """Publishes up to a batch of hand-overs; marks the published rows when a batch of
        them waits, when the oldest has waited its delay, or now if asked."""
        pending: list[_Pending] = []
        while self._handed_over and len(pending) < self._batch_size:
            committed = self._handed_over.popleft()
            pending.append(_Pending(committed.position, committed.event))
        if pending:
            outcomes = await self._publish(pending)
            self._unmarked.extend(zip(pending, outcomes, strict=True))
            if self._mark_due is None:
                self._mark_due = time.monotonic() + self._mark_delay
        if self._mark_due is not None and (
            mark_now
            or len(self._unmarked) >= self._batch_size
            or time.monotonic() >= self._mark_due
        ):
            await self._mark_published()
        return len(pending)

    async def _mark_published(self) -> None:
        """Marks the published hand-overs' rows (and counts failed ones) in one transaction.
        Should it fail, the sweep publishes those rows again after the grace period."""
        if not self._unmarked:
            return
        marked, self._unmarked, self._mark_due = self._unmarked, [], None
        writer = await self._database.connect(write=True)
        try:
            await self._record(writer, [p for p, _ in marked], [o for _, o in marked])
            await writer.commit()
        finally:
            await writer.close()

    async def _publish_then_mark(self, pending: list[_Pending]) -> int:
        """Publishes rows nobody holds locked, then marks them (with any published
        hand-overs still waiting) in a short transaction."""
        if not pending:
            return 0
        outcomes = await self._publish(pending)
        self._unmarked.extend(zip(pending, outcomes, strict=True))
        await self._mark_published()
        return len(pending)

    async def _sweep(self) -> int:
        if self._database.is_sqlite:
            # One relay per SQLite database, and the write lock is not held while publishing.
            async with self._database.engine.connect() as reader:
                pending = await self._due(reader, lock=False)
                await reader.rollback()
            self._take_from_hand_over(pending)
            return await self._publish_then_mark(pending)
        connection = await self._database.connect(write=True)
        try:
            pending = await self._due(connection, lock=True)
            if not pending:
                await connection.rollback()
                return 0
            self._take_from_hand_over(pending)
            outcomes = await self._publish(pending)
            await self._record(connection, pending, outcomes)
            await connection.commit()
            return len(pending)
        finally:
            await connection.close()

    def _take_from_hand_over(self, swept: list[_Pending]) -> None:
        """The sweep publishes these now: a hand-over still waiting for one of them (the
        relay fell behind by more than the grace period) must not publish it again."""
        if not self._handed_over:
            return
        positions = {item.position for item in swept}
        kept = [c for c in self._handed_over if c.position not in positions]
        if len(kept) < len(self._handed_over):
            self._handed_over.clear()
            self._handed_over.extend(kept)

    async def _publish(self, pending: list[_Pending]) -> list[BaseException | None]:
        """Publishes; an announced event that reached no queue counts as published."""
        outcomes = list(await self._publish_traced(pending))
        unheard: dict[str, int] = {}
        for index, (item, outcome) in enumerate(zip(pending, outcomes, strict=True)):
            if isinstance(outcome, Unroutable) and item.event.type in self._announced:
                outcomes[index] = None
                unheard[item.event.type] = unheard.get(item.event.type, 0) + 1
        for event_type, count in unheard.items():
            metrics.bus_unheard.add(count, self._attributes(event_type))
        return outcomes

    async def _publish_traced(self, pending: list[_Pending]) -> list[BaseException | None]:
        """Publishes, each event in a span continuing the trace of the call that emitted it;
        the event then carries that span's context, so its consumers continue from here."""
        if not trace_on():
            return await self._transport.publish([item.event for item in pending])
        spans: list[Span | None] = []
        events: list[OutgoingEvent] = []
        for item in pending:
            span, event = _publish_span(item.event)
            spans.append(span)
            events.append(event)
        try:
            outcomes = await self._transport.publish(events)
        except BaseException as error:
            for span in spans:
                if span is not None:
                    span.record_exception(error)
                    span.set_status(StatusCode.ERROR)
                    span.end()
            raise
        for span, outcome in zip(spans, outcomes, strict=True):
            if span is not None:
                if outcome is not None:
                    span.set_status(StatusCode.ERROR, type(outcome).__name__)
                span.end()
        return outcomes

    async def _due(self, connection: AsyncConnection, *, lock: bool) -> list[_Pending]:
        now = self._clock.now()
        query = (
            sa.select(
                outbox.c.position,
                outbox.c.event_id,
                outbox.c.event_type,
                outbox.c.subject,
                outbox.c.headers,
                outbox.c.content_type,
                outbox.c.body,
                outbox.c.attempts,
            )
            .where(outbox.c.published_at.is_(None))
            .where(outbox.c.created_at <= now - self._sweep_grace)
            .where(sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
            .order_by(outbox.c.position)
            .limit(self._batch_size)
        )
        if lock:
            # Replicas sweeping together each take rows the others have not locked.
            query = query.with_for_update(skip_locked=True)
        rows = (await connection.execute(query)).all()
        return [_Pending(row.position, _event(row), row.attempts) for row in rows]

    async def _record(
        self,
        connection: AsyncConnection,
        pending: list[_Pending],
        outcomes: list[BaseException | None],
    ) -> None:
        now = self._clock.now()
        sent = [p.position for p, error in zip(pending, outcomes, strict=True) if error is None]
        if sent:
            await connection.execute(
                outbox.update()
                .where(outbox.c.position.in_(sent), outbox.c.published_at.is_(None))
                .values(published_at=now)
            )
            self.stats.published += len(sent)
        published: dict[str, int] = {}
        failures: dict[tuple[str, str, bool], int] = {}
        for item, error in zip(pending, outcomes, strict=True):
            if error is None:
                published[item.event.type] = published.get(item.event.type, 0) + 1
                continue
            self.stats.failed_attempts += 1
            unroutable = isinstance(error, Unroutable)
            self.stats.unroutable += unroutable
            key = (item.event.type, str(error), unroutable)
            failures[key] = failures.get(key, 0) + 1
            await connection.execute(
                outbox.update()
                .where(outbox.c.position == item.position)
                .values(
                    attempts=outbox.c.attempts + 1,
                    next_attempt_at=now + retry_delay(item.attempts),
                    last_error=str(error)[:2000],
                )
            )
        for event_type, count in published.items():
            metrics.relay_published.add(count, self._attributes(event_type))
            # Routable now: should it become unroutable again, that is news worth a warning.
            self._unroutable_warned.discard(event_type)
        for (event_type, error_text, unroutable), count in failures.items():
            context = {"event_type": event_type, "events": count, "error": error_text}
            if unroutable:
                metrics.bus_unroutable.add(count, self._attributes(event_type))
                # No consumer is bound yet (a service not deployed, or not written yet): the
                # events wait in the outbox for one rather than being dropped. Said once per
                # event type; every attempt is counted in estuary.bus.unroutable.
                if event_type in self._unroutable_warned:
                    log.debug(
                        "%d %s event(s) still have no queue bound", count, event_type, extra=context
                    )
                    continue
                self._unroutable_warned.add(event_type)
                log.warning(
                    "%s events have no queue bound; they are kept in the outbox and retried "
                    "with back-off (said once per event type; counted in estuary.bus.unroutable)",
                    event_type,
                    extra=context,
                )
            else:
                metrics.relay_failed.add(count, self._attributes(event_type))
                log.error(
                    "%d %s event(s) not published (%s); kept in the outbox for a retry",
                    count,
                    event_type,
                    error_text,
                    extra=context,
                )

    async def measure_lag(self) -> None:
        """Measures the outbox's backlog: per event type, the oldest unsent row and how many
        are unsent. A type whose rows have all gone out reads 0 from then on."""
        query = (
            sa.select(
                outbox.c.event_type,
                sa.func.min(outbox.c.created_at).label("oldest"),
                sa.func.count().label("unsent"),
            )
            .where(outbox.c.published_at.is_(None))
            .group_by(outbox.c.event_type)
        )
        # scan: on SQLite through the driver's thread, not on the event loop's.
        connection = await self._database.connect(write=False, scan=True)
        try:
            rows = (await connection.execute(query)).all()
        finally:
            await connection.close()
        found: dict[str, tuple[datetime, int]] = {
            row.event_type: (row.oldest, row.unsent) for row in rows
        }
        for event_type in self._oldest_unsent:
            found.setdefault(event_type, (self._clock.now(), 0))
        # Replaced whole, never changed in place: scrapes read it from another thread.
        self._oldest_unsent = found

    def outbox_backlog(self) -> Mapping[str, tuple[float, int]]:
        """Per event type: seconds since the oldest unsent row was written, and unsent rows,
        as of the last measure (the age keeps growing between measures)."""
        now = self._clock.now()
        return {
            event_type: ((now - oldest).total_seconds() if count else 0.0, count)
            for event_type, (oldest, count) in self._oldest_unsent.items()
        }

    async def watch_lag(self, interval: float = LAG_INTERVAL_SECONDS) -> None:
        """Measures the backlog every interval until cancelled, for estuary.outbox.lag; then
        stops reporting it."""
        failing = False
        try:
            while True:
                try:
                    await self.measure_lag()
                    failing = False
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if not failing:
                        log.warning("outbox lag not measured; trying again", exc_info=True)
                    failing = True
                await asyncio.sleep(interval)
        finally:
            # Stopped: what it last measured is no longer news.
            metrics.forget_outbox(self)


def _publish_span(event: OutgoingEvent) -> tuple[Span | None, OutgoingEvent]:
    """A producer span for an event that carries a trace, and the event carrying the span."""
    traceparent = event.headers.get(TRACEPARENT)
    if not traceparent:
        return None, event
    parent = propagate.extract({"traceparent": traceparent})
    span = _tracer.start_span(
        f"publish {event.type}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": event.type,
            "messaging.message.id": event.id,
        },
    )
    if not span.get_span_context().is_valid:
        return None, event
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    if "traceparent" not in carrier:
        return span, event
    headers = {**event.headers, TRACEPARENT: carrier["traceparent"]}
    return span, dataclasses.replace(event, headers=headers)


def _event(row: sa.Row) -> OutgoingEvent:
    return OutgoingEvent(
        id=row.event_id,
        subject=row.subject,
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
