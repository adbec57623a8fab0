"""The bench leaves nothing on the shared broker: an exchange it declared goes with its
dead-letter and live twins, which the suite under load declared beside it."""

from __future__ import annotations

from collections.abc import Sequence

import aio_pika
import pytest

from bench import shapes
from chassis.bus.rabbitmq import dead_letter_exchange, live_exchange


async def test_deleting_a_bench_exchange_deletes_its_twins(rabbit, monkeypatch):
    monkeypatch.setattr(shapes, "RABBITMQ_URL", rabbit.url)
    names = [rabbit.exchange, dead_letter_exchange(rabbit.exchange), live_exchange(rabbit.exchange)]
    connection = await aio_pika.connect(rabbit.url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC)
    await shapes.delete_exchanges(rabbit.exchange)
    await assert_gone(rabbit.url, exchanges=names)


async def assert_gone(url: str, *, exchanges: Sequence[str], queues: Sequence[str] = ()) -> None:
    """None of these exchanges and queues is on the broker."""
    connection = await aio_pika.connect(url)
    async with connection:
        for name in exchanges:
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
                await channel.get_exchange(name, ensure=True)
        for name in queues:
            channel = await connection.channel()
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
                await channel.get_queue(name, ensure=True)
