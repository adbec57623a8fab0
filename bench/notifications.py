"""A burst of notifications: 10,000 events that each notify one person, all at once.

`--burst-events` (default 10,000) refund.issued events, as payments would publish them after a
mass cancellation, each to one of 50 clients who signed up through the gateway (so messaging
knows their addresses from identity's user.registered); messaging's consumer turns each into
an in-app notification and a queued mail, which its mail job then sends.

Production: the events are published on the suite's RabbitMQ exchange (persistent, with
confirms) while the suite runs, and the clock starts before the first publish. Embedded: the
bus is `estuary up`'s own SQLite file, which only its process writes while it runs, so the
events are queued in the file while the suite is stopped, and the clock starts when the suite
answers /readyz again (what its consumer made while starting is counted out of the rate).
Either way, messaging's database is polled until every notification exists.

**notifications/s**: notifications made over the seconds that took. **mails sent/s after the
burst**: mails of the burst the SMTP server (production: an aiosmtpd server the bench runs) or
the file sink (embedded) took in the `MAIL_WINDOW_SECONDS` after the last notification, when
the consumer is idle (those sent during the burst are in the detail); one replica sends at most
ESTUARY_MAIL_BATCH_SIZE per ESTUARY_MAIL_POLL_SECONDS (50 a second by default). **CPU per
notification**: the shape's processes while the burst was consumed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bench.booking import Setup
from bench.figures import Figure, say
from bench.process import cpu_seconds, until_quiet
from bench.shapes import HOST, BenchRun, EmbeddedShape, ProductionShape, Shape, free_port
from chassis.bus.envelope import OutgoingEvent, encode_event
from chassis.db import Database
from chassis.ids import new_id
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.type.v1 import money_pb2
from services.messaging.domain.notifications import Kind
from services.messaging.tables import mails, notifications, recipients
from services.payments.events import REFUND_ISSUED

RECIPIENTS = 50
POLL_SECONDS = 0.25
BURST_TIMEOUT_SECONDS = 600.0
MAIL_WINDOW_SECONDS = 20.0
KIND = Kind.REFUND_ISSUED.value


class MailSink:
    """An SMTP server on 127.0.0.1 that takes every mail and keeps none (the provider)."""

    def __init__(self) -> None:
        # aiosmtpd's controller cannot bind port 0 and say which port it got.
        self.port = free_port()
        self._controller = Controller(self, hostname=HOST, port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"

    def env(self) -> dict[str, str]:
        """Messaging's settings for sending here."""
        return {
            "ESTUARY_SMTP_HOST": HOST,
            "ESTUARY_SMTP_PORT": str(self.port),
            "ESTUARY_SMTP_STARTTLS": "false",
        }

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def refunds(user_ids: Sequence[str], count: int) -> list[OutgoingEvent]:
    """refund.issued events as payments publishes them, dealt to the users in turn."""
    now = datetime.now(UTC)
    made = []
    for n in range(count):
        refund_id = new_id()
        message = payments_pb.RefundIssued(
            refund_id=refund_id,
            payment_id=new_id(),
            user_id=user_ids[n % len(user_ids)],
            amount=money_pb2.Money(amount_minor=3000, currency="EUR"),
        )
        message.issue_time.FromDatetime(now)
        made.append(
            encode_event(
                REFUND_ISSUED,
                message,
                event_id=new_id(),
                source="/estuary/payments",
                subject=f"refunds/{refund_id}",
                time=now,
            )
        )
    return made


class MessagingCounts:
    """What messaging's database holds of the burst, read as an operator would."""

    def __init__(self, shape: Shape, user_ids: Sequence[str]) -> None:
        self._database = Database(shape.database_url("messaging"), pool_size=1)
        self._user_ids = list(user_ids)

    async def _scalar(self, query: Any) -> int:
        async with self._database.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def known(self) -> int:
        """The recipients messaging has an address for."""
        return await self._scalar(
            sa.select(sa.func.count())
            .select_from(recipients)
            .where(recipients.c.user_id.in_(self._user_ids), recipients.c.email != "")
        )

    async def notified(self) -> int:
        return await self._scalar(
            sa.select(sa.func.count())
            .select_from(notifications)
            .where(
                notifications.c.recipient_user_id.in_(self._user_ids),
                notifications.c.kind == KIND,
            )
        )

    async def mailed(self) -> int:
        return await self._scalar(
            sa.select(sa.func.count())
            .select_from(mails)
            .where(
                mails.c.recipient_user_id.in_(self._user_ids),
                mails.c.kind == KIND,
                mails.c.sent_at.is_not(None),
            )
        )

    async def close(self) -> None:
        await self._database.dispose()


async def until(
    count: Callable[[], Awaitable[int]], wanted: int, within: float
) -> tuple[int, float]:
    """Polls count() until it reaches wanted or `within` seconds pass; the last count, and
    when it was read (monotonic)."""
    deadline = time.monotonic() + within
    while True:
        found = await count()
        if found >= wanted or time.monotonic() > deadline:
            return found, time.monotonic()
        await asyncio.sleep(POLL_SECONDS)


async def notification_figures(shape: Shape, run: BenchRun, events: int) -> list[Figure]:
    """Notifications and mails per second out of a burst of `events` refund.issued."""
    setup = Setup(shape, run)
    try:
        say(f"{shape.name}: notifications: {RECIPIENTS} clients sign up")
        user_ids = [user_id for _, user_id in await setup.accounts("refunded", RECIPIENTS)]
    finally:
        await setup.close()
    counts = MessagingCounts(shape, user_ids)
    try:
        known, _ = await until(counts.known, RECIPIENTS, 60.0)
        if known < RECIPIENTS:
            raise RuntimeError(f"messaging knows {known} of {RECIPIENTS} new clients after 60 s")
        burst = refunds(user_ids, events)
        await until_quiet(server.pid for server in shape.servers)
        say(f"{shape.name}: notifications: a burst of {events} refund.issued")
        if isinstance(shape, ProductionShape):
            started = time.monotonic()
            before = cpu_seconds(server.pid for server in shape.servers)
            await shape.publish(burst)
            already = 0
        elif isinstance(shape, EmbeddedShape):
            await shape.stop()
            shape.queue_while_stopped(burst)
            await shape.start()
            started = time.monotonic()
            before = cpu_seconds(server.pid for server in shape.servers)
            already = await counts.notified()
        else:
            raise TypeError(f"no way to publish on {shape.name}'s bus")
        made, finished = await until(counts.notified, events, BURST_TIMEOUT_SECONDS)
        used = cpu_seconds(server.pid for server in shape.servers) - before
        # The mail left queued by then, sent with the consumer idle.
        mailed_in_burst = await counts.mailed()
        await asyncio.sleep(MAIL_WINDOW_SECONDS)
        mailed_after = await counts.mailed() - mailed_in_burst
    finally:
        await counts.close()
    seconds = finished - started
    rate = (made - already) / seconds if seconds > 0 else math.nan
    return [
        Figure(
            "notifications/s from a burst",
            shape.name,
            rate,
            "/s",
            detail=f"{made} of {events} notifications in {seconds:.1f} s"
            + (f" ({already} made while the suite started, not counted)" if already else ""),
        ),
        Figure(
            "notifications: mails sent/s after the burst",
            shape.name,
            mailed_after / MAIL_WINDOW_SECONDS,
            "/s",
            detail=f"{mailed_after} in the {MAIL_WINDOW_SECONDS:.0f} s after; {mailed_in_burst} "
            f"sent while the burst was consumed ({mailed_in_burst / seconds:.1f}/s)",
        ),
        Figure(
            "notifications: server CPU per notification",
            shape.name,
            used * 1000 / (made - already) if made > already else math.nan,
            "ms",
            detail="CPU of the shape's Python processes while the burst was consumed",
        ),
    ]
