"""RabbitMQ faults: connections dropped in the middle of a stream of events lose none.

The relay and the consumer reach the broker through a proxy whose connections the test
cuts several times while 600 events flow. Afterwards every event has been applied exactly
once; redeliveries of messages whose ack was lost in a cut are absorbed by the inbox.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from chassis.db import Database
from tests.infrastructure import address, postgres_database
from tests.integration.harness import BusHarness, create_schema, rabbit_transport
from tests.proxy import CuttableProxy

EVENTS = 600
CUTS = 3
REPORT = Path("var/reports/bus-faults.json")


@pytest.mark.rabbitmq
async def test_dropped_connections_lose_no_event_and_apply_none_twice(rabbit):
    url = rabbit.url
    proxy = CuttableProxy(*address(url))
    await proxy.start()
    broker = urlsplit(url)
    credentials = broker.netloc.rpartition("@")[0]
    proxied = urlunsplit(
        broker._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}".removeprefix("@"))
    )
    with postgres_database() as database_url:
        database = Database(database_url)
        await create_schema(database)
        harness = BusHarness(
            database,
            rabbit_transport(proxied, rabbit.exchange, delivery_limit=20),
            rabbit.queue("faults"),
            rabbit_url=url,
        )
        await harness.start()
        try:
            for n in range(EVENTS):
                await harness.emit(f"user-{n}")
                if n and n % (EVENTS // (CUTS + 1)) == 0:
                    proxy.cut()
                    await asyncio.sleep(0.2)
                elif n % 50 == 0:
                    await asyncio.sleep(0.01)

            async def all_applied() -> bool:
                return len(await harness.applied()) == EVENTS and await harness.unpublished() == 0

            await harness.wait_until(all_applied, timeout=90)
            await asyncio.sleep(0.5)
            applied = await harness.applied()
            stats = harness.consumer.stats
            report = {
                "published": harness.relay.stats.published,
                "events": EVENTS,
                "connection_cuts": proxy.cuts,
                "delivered": stats.applied + stats.duplicates,
                "duplicates_absorbed": stats.duplicates,
                "applied_twice": sum(1 for c in applied.values() if c > 1),
                "lost": EVENTS - len(applied),
            }
            REPORT.parent.mkdir(parents=True, exist_ok=True)
            REPORT.write_text(json.dumps(report, indent=2))
            print("\nbus faults:", report)
            assert report["lost"] == 0
            assert report["applied_twice"] == 0
            assert set(applied.values()) == {1}
            assert proxy.cuts == CUTS
        finally:
            await harness.stop()
            await proxy.stop()
            await database.dispose()
    assert os.path.exists(REPORT)
