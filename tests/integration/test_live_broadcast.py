"""Live broadcasts on both transports (the in-process broker, RabbitMQ): every process
listening to a topic gets each broadcast once, a process listening to another topic or no
longer listening gets none, a failing listener loses only its own copy, and a broadcast that
nobody hears is no error. (What a listener missed is read again from a database: nothing
keeps a broadcast.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.rabbitmq import RabbitTransport
from chassis.bus.transport import Transport
from tests.conftest import RabbitScope

SETTLE_SECONDS = 0.3


class Heard:
    """What one listening process received."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.arrived = asyncio.Event()

    async def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)
        self.arrived.set()


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def processes(
    request, tmp_path: Path, rabbit: RabbitScope
) -> AsyncIterator[Callable[[], Transport]]:
    """Makes the transports of several processes on one bus, started; closed at the end."""
    made: list[Transport] = []
    broker = EmbeddedBroker(tmp_path / "bus.db") if request.param == "embedded" else None

    def process() -> Transport:
        transport: Transport = (
            EmbeddedTransport(broker)
            if broker is not None
            else RabbitTransport(rabbit.url, rabbit.exchange, delivery_limit=3)
        )
        made.append(transport)
        return transport

    yield process
    for transport in made:
        await transport.close()
    if broker is not None:
        broker.close()


async def started(transport: Transport) -> Transport:
    await transport.start()
    return transport


async def until_heard(*listeners: Heard, count: int = 1) -> None:
    async def each() -> None:
        for heard in listeners:
            while len(heard.payloads) < count:
                heard.arrived.clear()
                await heard.arrived.wait()

    await asyncio.wait_for(each(), timeout=5)


async def test_every_listening_process_hears_each_broadcast_once(processes):
    first, second, other_topic = Heard(), Heard(), Heard()
    replica_a, replica_b = await started(processes()), await started(processes())
    await replica_a.listen("chat", first)
    await replica_b.listen("chat", second)
    await replica_b.listen("alerts", other_topic)
    sender = await started(processes())
    await sender.broadcast("chat", b"hello")
    await sender.broadcast("chat", b"again")
    await until_heard(first, second, count=2)
    await asyncio.sleep(SETTLE_SECONDS)  # room for a duplicate or a stray copy to show
    assert first.payloads == [b"hello", b"again"]
    assert second.payloads == [b"hello", b"again"]
    assert other_topic.payloads == []


async def test_a_process_that_stopped_listening_hears_nothing_more(processes):
    staying, leaving = Heard(), Heard()
    replica_a, replica_b = await started(processes()), await started(processes())
    await replica_a.listen("chat", staying)
    await replica_b.listen("chat", leaving)
    sender = await started(processes())
    await sender.broadcast("chat", b"one")
    await until_heard(staying, leaving)
    await replica_b.close()
    await sender.broadcast("chat", b"two")
    await until_heard(staying, count=2)
    await asyncio.sleep(SETTLE_SECONDS)
    assert leaving.payloads == [b"one"]


async def test_a_failing_listener_loses_only_its_own_copy(processes):
    healthy = Heard()
    failures: list[bytes] = []

    async def failing(payload: bytes) -> None:
        failures.append(payload)
        raise RuntimeError("this listener is broken")

    replica_a, replica_b = await started(processes()), await started(processes())
    await replica_a.listen("chat", failing)
    await replica_b.listen("chat", healthy)
    sender = await started(processes())
    await sender.broadcast("chat", b"one")
    await sender.broadcast("chat", b"two")
    await until_heard(healthy, count=2)
    assert healthy.payloads == [b"one", b"two"]
    await asyncio.sleep(SETTLE_SECONDS)
    assert failures == [b"one", b"two"]  # it went on hearing after its first failure


async def test_a_broadcast_nobody_hears_is_no_error(processes):
    sender = await started(processes())
    await sender.broadcast("nobody-listens", b"into the void")
    late = Heard()
    replica = await started(processes())
    await replica.listen("nobody-listens", late)
    await asyncio.sleep(SETTLE_SECONDS)
    assert late.payloads == []  # nothing kept it for a listener that came later


@pytest.mark.rabbitmq
async def test_broadcasts_wait_for_no_confirm_where_events_do(rabbit: RabbitScope):
    # A broadcast is at most once, so a confirm would only cost the broker and the sender;
    # an event is kept in its outbox until the broker confirms it.
    transport = RabbitTransport(rabbit.url, rabbit.exchange, delivery_limit=3)
    await transport.start()
    try:
        assert transport._live is not None and transport._exchange is not None
        assert transport._live.channel.publisher_confirms is False
        assert transport._exchange.channel.publisher_confirms is True
        heard = Heard()
        await transport.listen("chat", heard)
        for number in range(50):
            await transport.broadcast("chat", b"%d" % number)
        await until_heard(heard, count=50)
        assert heard.payloads == [b"%d" % number for number in range(50)]  # in order
    finally:
        await transport.close()
