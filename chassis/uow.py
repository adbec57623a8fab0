"""The unit of work: one transaction in which a change and the events it emits commit together.

Only the unit of work commits. Events emitted during it become outbox rows inserted just
before COMMIT, so they exist if and only if the change does; after the commit they are handed
to the relay to publish at once (the fast path; the relay's sweep is the guarantee).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.bus.envelope import EventType, OutgoingEvent, encode_event
from chassis.bus.outbox import CommittedEvent
from chassis.clock import Clock
from chassis.db import Database
from chassis.ids import new_id
from chassis.tables import outbox

_OUTBOX_INSERT = outbox.insert().returning(outbox.c.position)
_OUTBOX_INSERT_MANY = outbox.insert().returning(outbox.c.position, sort_by_parameter_order=True)


class UnitOfWork:
    """A transaction on one service's database. Services subclass it to add repositories."""

    connection: AsyncConnection

    def __init__(
        self,
        database: Database,
        *,
        source: str,
        clock: Clock,
        on_events_committed: Callable[[list[CommittedEvent]], None] | None = None,
        write: bool = True,
        scan: bool = False,
    ) -> None:
        self.database = database
        self.clock = clock
        self._source = source
        self._on_events_committed = on_events_committed
        self._write = write
        self._scan = scan
        self._pending: list[OutgoingEvent] = []
        self._finished = False

    async def __aenter__(self) -> Self:
        self.connection = await self.database.connect(write=self._write, scan=self._scan)
        self._pending = []
        self._finished = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._write and not self._finished:
                await self.connection.rollback()
        finally:
            await self.connection.close()

    @property
    def dialect(self) -> str:
        return self.database.dialect

    def emit(self, event_type: EventType[Message], message: Message, *, subject: str) -> str:
        """Queues an event to be written to the outbox with this transaction; returns its id."""
        event = encode_event(
            event_type,
            message,
            event_id=new_id(),
            source=self._source,
            subject=subject,
            time=self.clock.now(),
        )
        self._pending.append(event)
        return event.id

    async def commit(self) -> None:
        """Writes the pending events to the outbox and commits everything at once."""
        now = self.clock.now()
        committed: list[CommittedEvent] = []
        if self._pending:
            rows = [
                {
                    "event_id": e.id,
                    "event_type": e.type,
                    "subject": e.subject,
                    "headers": e.headers,
                    "content_type": e.content_type,
                    "body": e.body,
                    "created_at": now,
                }
                for e in self._pending
            ]
            # Most transactions emit one event: a plain INSERT ... RETURNING, without the
            # batched many-rows machinery that keeps several rows' positions in order.
            positions = await self.connection.execute(
                *((_OUTBOX_INSERT, rows[0]) if len(rows) == 1 else (_OUTBOX_INSERT_MANY, rows))
            )
            committed = [
                CommittedEvent(position, event)
                for position, event in zip(positions.scalars(), self._pending, strict=True)
            ]
        await self.connection.commit()
        self._finished = True
        self._pending = []
        if committed and self._on_events_committed is not None:
            self._on_events_committed(committed)

    async def rollback(self) -> None:
        """Discards the change and its events."""
        self._pending = []
        await self.connection.rollback()
        self._finished = True
