"""The unit of work: one transaction in which a change and the events it emits commit together.

Only the unit of work commits. Events emitted during it become outbox rows inserted just
before COMMIT, so they exist if and only if the change does; after the commit they are handed
to the relay to publish at once (the fast path; the relay's sweep is the guarantee).

A unique or foreign key violation raised inside it (two requests racing for one email, one
slug, one practitioner profile) leaves it as a conflict naming the field, on either
database: the one mapping from integrity errors to answers a client can act on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.audit import STAFF_ACTION_RECORDED, StaffAction
from chassis.bus.envelope import EventType, OutgoingEvent, encode_event
from chassis.bus.outbox import CommittedEvent, forget_subject
from chassis.clock import Clock
from chassis.context import current_request_id
from chassis.db import ConstraintViolation, Database, constraint_violation
from chassis.driver_sql import Driver, DriverStatement
from chassis.errors import AlreadyExists, DomainError, FailedPrecondition, FieldViolation
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.tables import outbox
from estuary.chassis.v1.events_pb2 import StaffActionRecorded

if TYPE_CHECKING:
    from chassis.accounts import AccountStatuses

# Outbox rows go in on the driver, with the COMMIT (SQLAlchemy's own work for an INSERT
# cost more CPU than the round trip), one statement an event: each returns its position.
_OUTBOX_INSERT = DriverStatement(
    "INSERT INTO outbox (event_id, event_type, subject, headers, content_type, body, created_at)"
    " VALUES (:event_id, :event_type, :subject, :headers, :content_type, :body, :created_at)"
    " RETURNING position"
)


@dataclass(frozen=True)
class _WriteWithCommit:
    statement: DriverStatement
    parameters: Mapping[str, Any]
    then: Callable[[list[tuple[Any, ...]]], None] | None


ConflictAnswer = Callable[[ConstraintViolation], DomainError]


def conflict_for(violation: ConstraintViolation) -> DomainError:
    """The answer to a broken unique or foreign key when the service named no better one."""
    field = violation.columns[-1] if violation.columns else ""
    if violation.kind == "unique":
        return AlreadyExists(
            f"{field or 'the resource'} is already taken",
            reason="ALREADY_EXISTS",
            violations=[FieldViolation(field, "is already taken", "taken")] if field else [],
        )
    return FailedPrecondition(
        "what this refers to changed meanwhile (it is gone, or something now depends on it)",
        reason="REFERENCE_CONFLICT",
    )


def lock_key(name: str) -> int:
    """The PostgreSQL advisory lock that `UnitOfWork.serialize(name)` holds."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class UnitOfWork:
    """A transaction on one service's database. Services subclass it to add repositories."""

    connection: AsyncConnection
    # Answers for unique constraints, by "table.column" (see ConstraintViolation.key), where
    # a service has a better word for the conflict than "<column> is already taken".
    conflicts: ClassVar[Mapping[str, ConflictAnswer]] = {}

    def __init__(
        self,
        database: Database,
        *,
        source: str,
        clock: Clock,
        on_events_committed: Callable[[list[CommittedEvent]], None] | None = None,
        accounts: AccountStatuses | None = None,
        write: bool = True,
        scan: bool = False,
    ) -> None:
        self.database = database
        self.clock = clock
        self._source = source
        self._on_events_committed = on_events_committed
        # This process's view of blocked accounts, told at once of changes committed here.
        self.accounts = accounts
        self._write = write
        self._scan = scan
        self._pending: list[OutgoingEvent] = []
        self._with_commit: list[_WriteWithCommit] = []
        self._after_commit: list[Callable[[], None]] = []
        self._finished = False

    async def __aenter__(self) -> Self:
        self.connection = await self.database.connect(write=self._write, scan=self._scan)
        self._pending = []
        self._with_commit = []
        self._after_commit = []
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
        if isinstance(exc, sa.exc.IntegrityError):
            violation = constraint_violation(exc)
            if violation is not None:
                answer = self.conflicts.get(violation.key, conflict_for)
                raise answer(violation) from exc

    @property
    def service(self) -> str:
        """The name of the service this unit of work belongs to."""
        return self._source.rsplit("/", 1)[-1]

    @property
    def dialect(self) -> str:
        return self.database.dialect

    def record(self, *events: object) -> None:
        """Collects the domain events a change produced (e.g. what Practitioner.approve
        returns): each is written to the outbox with this transaction, as the message its
        service's `event_message` maps it to."""
        for event in events:
            event_type, message, subject = self.event_message(event)
            self.emit(event_type, message, subject=subject)

    def event_message(self, event: object) -> tuple[EventType[Message], Message, str]:
        """A domain event as the event type, proto message and subject it is published as.

        Each service's unit of work maps its own domain events (its events module)."""
        raise NotImplementedError(f"{type(self).__name__} does not publish {event!r}")

    async def claim(self, request: IdempotentRequest) -> str | None:
        """Claims a retryable request's key in this transaction; the id of what an earlier
        call with it made, if one committed (see chassis/idempotency.py)."""
        return await request.earlier_result(self.connection, self.clock.now())

    async def remember(self, request: IdempotentRequest, resource_id: str) -> None:
        """Records what a claimed request made, with the change that made it."""
        await request.remember(self.connection, resource_id)

    async def forget_subject(self, subject: str) -> int:
        """Deletes the outbox's earlier events about a subject (a person being erased), with
        this transaction; events this unit of work emits (the erasure's own) are kept."""
        return await forget_subject(self.connection, subject)

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

    def write_with_commit(
        self,
        statement: DriverStatement,
        parameters: Mapping[str, Any],
        then: Callable[[list[tuple[Any, ...]]], None] | None = None,
    ) -> None:
        """Queues a write to be sent with the COMMIT, in the order queued, before the outbox
        rows: for a write nothing in the transaction reads back, it costs no round trip of its
        own. `then` is given the rows it returned, before anything runs after the commit. A
        constraint it breaks fails the commit, and the unit of work answers it as any."""
        self._with_commit.append(_WriteWithCommit(statement, parameters, then))

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Runs callback once this unit of work has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    async def serialize(self, name: str) -> None:
        """Holds a lock named `name` until this transaction ends, so that transactions that
        check a rule across many rows (e.g. "one admin must remain") run one at a time.

        SQLite needs nothing: a writer there already holds the database's one write lock.
        """
        if self.dialect == "postgresql":
            await self.connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key(name))))

    async def record_staff_action(self, action: StaffAction) -> None:
        """Files a staff action in the audit log, with this transaction's change.

        Every service but identity sends it to identity's log as an event; identity, which
        keeps the log, overrides this to write it in place.
        """
        self.emit(STAFF_ACTION_RECORDED, self.staff_action_message(action), subject=action.target)

    def staff_action_message(self, action: StaffAction) -> StaffActionRecorded:
        """A staff action as its message: this service's, this request's, now."""
        return action.to_proto(
            service=self.service, request_id=current_request_id() or "", time=self.clock.now()
        )

    async def commit(self) -> None:
        """Sends the queued writes and the pending events' outbox rows with the COMMIT,
        which commits everything at once."""
        driver = Driver(self.connection)
        now = self.clock.now()
        writes = [*self._with_commit]  # the outbox rows join a copy: a failed commit adds none
        for event in self._pending:
            row = {
                "event_id": event.id,
                "event_type": event.type,
                "subject": event.subject,
                "headers": driver.bind(outbox.c.headers.type, event.headers),
                "content_type": event.content_type,
                "body": event.body,
                "created_at": driver.bind(outbox.c.created_at.type, now),
            }
            writes.append(_WriteWithCommit(_OUTBOX_INSERT, row, None))
        answers = await driver.execute_and_commit([(w.statement, w.parameters) for w in writes])
        self._finished = True
        events, self._pending, self._with_commit = self._pending, [], []
        for write, rows in zip(writes, answers, strict=True):
            if write.then is not None:
                write.then(rows)
        # The outbox rows were the last writes.
        outbox_answers = answers[len(answers) - len(events) :]
        committed = [
            CommittedEvent(rows[0][0], event)
            for rows, event in zip(outbox_answers, events, strict=True)
        ]
        if committed and self._on_events_committed is not None:
            self._on_events_committed(committed)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    async def rollback(self) -> None:
        """Discards the change and its events."""
        self._pending = []
        self._with_commit = []
        self._after_commit = []
        await self.connection.rollback()
        self._finished = True
