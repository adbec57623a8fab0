"""Streams built on a database of the test's own (nothing started): its handlers run on the
real unit of work, against SQLite or PostgreSQL, on a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from chassis.auth.principal import Principal, Role
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.clock import FrozenClock
from chassis.migrations import upgrade
from services.streams import bootstrap
from services.streams.bootstrap import StreamsService
from services.streams.domain.streams import Follow
from services.streams.settings import StreamsSettings
from services.streams.uow import StreamsUnitOfWork
from tests.builders import person

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def practitioner() -> Principal:
    return person(None, Role.CLIENT, Role.PRACTITIONER)


@asynccontextmanager
async def built_streams(url: str, clock: FrozenClock) -> AsyncIterator[StreamsService]:
    """Streams on its migrated database, on the test's clock; nothing is started."""
    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, url)
    service = bootstrap.build(
        StreamsSettings(database_url=url, grpc_port=0),
        transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)),
        clock=clock,
    )
    try:
        yield service
    finally:
        await service.runtime.database.dispose()
        for channel in service.channels:
            await channel.close()


async def follow_at(service: StreamsService, stream_id: str, reader: Principal, level: int) -> None:
    """The reader follows the stream at a paid level, as payments will set it once paid."""
    async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
        await uow.follows.add(Follow(stream_id, reader.user_id, level, START))
        await uow.commit()
