"""The end-to-end tests' production stack leaves nothing on the shared broker: its queues
with their dead letters, and its exchange with its dead-letter and live twins (messaging's
replicas declare the live one; each CI run had left one behind)."""

from __future__ import annotations

import aio_pika

from chassis.bus.rabbitmq import DEAD_SUFFIX, dead_letter_exchange, live_exchange
from tests.e2e.stacks import drop_topology
from tests.integration.test_bench_cleanup import assert_gone


async def test_dropping_a_stacks_topology_deletes_its_queues_and_exchanges(rabbit):
    exchanges = [
        rabbit.exchange,
        dead_letter_exchange(rabbit.exchange),
        live_exchange(rabbit.exchange),
    ]
    queue = f"{rabbit.exchange}.messaging.notifications"
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        channel = await connection.channel()
        for name in exchanges:
            await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC)
        for name in (queue, queue + DEAD_SUFFIX):
            await channel.declare_queue(name)
    await drop_topology(rabbit.url, rabbit.exchange, [queue])
    await assert_gone(rabbit.url, exchanges=exchanges, queues=[queue, queue + DEAD_SUFFIX])
