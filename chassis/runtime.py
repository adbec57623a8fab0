"""One service's moving parts, started and stopped in the right order.

A service's bootstrap builds its domain (handlers, servicers, subscriptions, jobs) on the
runtime's database, clock and unit-of-work factory, then hands them to start(). Stopping
drains gRPC first (health NOT_SERVING, then in-flight calls finish), then the consumers,
the relay and the jobs, and closes the database last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from chassis.accounts import AccountStatuses
from chassis.auth.tokens import TokenVerifier
from chassis.bus.consumer import EventConsumer, Subscription
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import EventType
from chassis.bus.outbox import OutboxRelay, purge_published
from chassis.bus.rabbitmq import RabbitTransport
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.db import Database
from chassis.grpc_server import GrpcServer, ServicerBinding
from chassis.jobs import JobRunner, PeriodicJob
from chassis.settings import ServiceSettings
from chassis.tables import idempotency_records, inbox
from chassis.telemetry import instrument_engine
from chassis.uow import UnitOfWork

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)


def make_transport(settings: ServiceSettings, broker: EmbeddedBroker | None = None) -> Transport:
    """The transport the settings ask for; memory:// needs the suite's shared broker."""
    if settings.bus_url.startswith("memory://"):
        if broker is None:
            raise ValueError("the in-process bus needs the suite's shared broker")
        return EmbeddedTransport(broker)
    return RabbitTransport(
        settings.bus_url, settings.bus_exchange, delivery_limit=settings.bus_delivery_limit
    )


class ServiceRuntime:
    """Database, bus, relay, consumers, jobs and gRPC server of one service."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        transport: Transport,
        clock: Clock | None = None,
        emits: Sequence[EventType[Any]] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.database = Database(settings.database_url, pool_size=settings.database_pool_size)
        for engine in self.database.engines:
            instrument_engine(engine)
        self.database.report_pool_use(settings.service_name)
        self.transport = transport
        self.source = f"/estuary/{settings.service_name}"
        self.relay = OutboxRelay(
            self.database,
            transport,
            clock=self.clock,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_seconds,
            sweep_grace=timedelta(seconds=settings.outbox_sweep_grace_seconds),
            service=settings.service_name,
            announced=frozenset(e.name for e in emits if e.announced),
        )
        self.accounts = AccountStatuses(
            self.database,
            self.clock,
            window=timedelta(minutes=settings.account_status_window_minutes),
            refresh_interval=settings.account_status_refresh_seconds,
        )
        self.consumers: list[EventConsumer] = []
        self.server: GrpcServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def unit_of_work(self, cls: type[U]) -> Callable[..., U]:
        """A factory of this service's units of work, wired to nudge the relay on commit."""

        def make(*, write: bool = True, scan: bool = False) -> U:
            return cls(
                self.database,
                source=self.source,
                clock=self.clock,
                on_events_committed=self.relay.notify,
                accounts=self.accounts,
                write=write,
                scan=scan,
            )

        return make

    def chassis_jobs(self) -> list[PeriodicJob]:
        """Housekeeping every service needs: trim the sent outbox, old inbox and idempotency."""
        settings = self.settings

        async def trim_outbox() -> None:
            await purge_published(
                self.database, self.clock, timedelta(hours=settings.outbox_retention_hours)
            )

        async def trim_inbox() -> None:
            cutoff = self.clock.now() - timedelta(hours=settings.inbox_retention_hours)
            connection = await self.database.connect(write=True)
            try:
                await connection.execute(sa.delete(inbox).where(inbox.c.received_at < cutoff))
                await connection.execute(
                    sa.delete(idempotency_records).where(idempotency_records.c.created_at < cutoff)
                )
                await connection.commit()
            finally:
                await connection.close()

        jobs = [
            PeriodicJob("chassis.trim_outbox", timedelta(hours=1), trim_outbox),
            PeriodicJob("chassis.trim_inbox", timedelta(hours=1), trim_inbox),
        ]
        if self.database.is_sqlite:
            jobs.append(
                PeriodicJob("chassis.sqlite_optimize", timedelta(hours=1), self.optimize_sqlite)
            )
        return jobs

    async def optimize_sqlite(self) -> None:
        """Refreshes SQLite's planner statistics where they are stale (PostgreSQL's
        autovacuum does this by itself); without them a search may start from the wrong
        index."""
        connection = await self.database.connect(write=True)
        try:
            await connection.exec_driver_sql("PRAGMA optimize=0x10002")
            await connection.commit()
        finally:
            await connection.close()

    async def start(
        self,
        *,
        bindings: Sequence[ServicerBinding],
        verifier: TokenVerifier,
        subscriptions: Sequence[Subscription] = (),
        unit_of_work: Callable[[], UnitOfWork] | None = None,
        jobs: Sequence[PeriodicJob] = (),
    ) -> int:
        """Starts everything; returns the gRPC port actually bound."""
        settings = self.settings
        if self.database.is_sqlite:
            await self.optimize_sqlite()
        await self.accounts.refresh()
        await self.transport.start()
        for subscription in subscriptions:
            if unit_of_work is None:
                raise ValueError("consumers need the service's unit of work")
            consumer = EventConsumer(
                replace(subscription, queue=settings.bus_queue_prefix + subscription.queue),
                unit_of_work=unit_of_work,
                transport=self.transport,
                prefetch=settings.bus_prefetch,
                backoff=settings.bus_retry_backoff_seconds,
                backoff_max=settings.bus_retry_backoff_max_seconds,
                delivery_limit=settings.bus_delivery_limit,
            )
            await consumer.start()
            self.consumers.append(consumer)
        self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        self._tasks.append(asyncio.create_task(self.relay.watch_lag(), name="outbox-lag"))
        self._tasks.append(asyncio.create_task(self.accounts.run(), name="account-statuses"))
        runner = JobRunner(self.database, [*self.chassis_jobs(), *jobs], clock=self.clock)
        self._tasks.append(asyncio.create_task(runner.run(), name="jobs"))
        self.server = GrpcServer(
            bindings=bindings,
            verifier=verifier,
            host=settings.grpc_host,
            port=settings.grpc_port,
            reflection_enabled=settings.grpc_reflection,
            shutdown_grace=settings.grpc_shutdown_grace_seconds,
            accounts=self.accounts,
        )
        port = await self.server.start()
        log.info(
            "%s serving gRPC on %s:%s",
            settings.service_name,
            settings.grpc_host,
            port,
            extra={"grpc_port": port},
        )
        return port

    async def stop(self) -> None:
        """Drains and stops everything, in order."""
        if self.server is not None:
            await self.server.stop()
        await self.transport.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.database.dispose()
