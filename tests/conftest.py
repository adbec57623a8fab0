"""Fixtures shared by every test tier."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType

import aio_pika
import pytest

from chassis.bus.rabbitmq import DEAD_SUFFIX, dead_letter_exchange, live_exchange
from tests.infrastructure import postgres_database, require_rabbitmq, unique
from tests.seaweedfs import SeaweedS3, running_seaweedfs

# The machine has one localstripe (tests/fakes/localstripe.py): under pytest-xdist, the tests
# that use it share one worker, or the other worker's would wait on the machine's lock until
# the first session ends.
LOCALSTRIPE_FIXTURE = "localstripe_base"
# --dist loadgroup keeps together the tests whose node ids end in the same "@group". xdist's
# own xdist_group marker writes that suffix to item._nodeid, which pytest 9 no longer reads
# (a node's id is item._id), so the marker grouped nothing; the suffix is given here.
LOCALSTRIPE_GROUP = "@localstripe"


@cache
def _uses_localstripe(module: ModuleType) -> bool:
    # Some ask for the fixture by name at run time (request.getfixturevalue), not as an argument.
    return LOCALSTRIPE_FIXTURE in inspect.getsource(module)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # xdist's workers run with dist "no" and this flag set when the controller's is loadgroup.
    grouped = bool(getattr(config.option, "loadgroup", False))
    for item in items:
        module = getattr(item, "module", None)
        own = item.name
        if grouped and module is not None and _uses_localstripe(module):
            own += LOCALSTRIPE_GROUP
        if not item.nodeid.endswith(own):
            # schemathesis names each operation's item ("test[GET /path]") but leaves it the
            # test's node id, so 175 items shared one id; pytest-xdist schedules by node id
            # and ran only the first of them (and reported the run green).
            assert item.parent is not None
            item._id = item.parent.id.child(own)  # what pytest gives its own items
    ids = Counter(item.nodeid for item in items)
    if shared := [nodeid for nodeid, count in ids.items() if count > 1]:
        raise pytest.UsageError(f"tests share a node id, so a worker would skip them: {shared}")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/service.db"
        return
    with postgres_database() as url:
        yield url


class RabbitScope:
    """An exchange and queue names of this test's own on the shared broker.

    The broker is required only when a test reads `url`: a test parametrized over shapes
    asks for this fixture in every shape, and its SQLite shape must run without a broker.
    """

    def __init__(self) -> None:
        self.exchange = unique("estuary.test")
        self.queues: list[str] = []
        self._url = ""

    @property
    def url(self) -> str:
        if not self._url:
            self._url = require_rabbitmq()
        return self._url

    def queue(self, purpose: str) -> str:
        name = f"{self.exchange}.{purpose}"
        self.queues.append(name)
        return name

    async def drop(self) -> None:
        if not self._url:
            return  # this test never reached the broker
        connection = await aio_pika.connect(self._url)
        async with connection:
            channel = await connection.channel()
            for name in self.queues:
                await channel.queue_delete(name)
                await channel.queue_delete(name + DEAD_SUFFIX)
            await channel.exchange_delete(self.exchange)
            await channel.exchange_delete(dead_letter_exchange(self.exchange))
            await channel.exchange_delete(live_exchange(self.exchange))


@pytest.fixture
async def rabbit() -> AsyncIterator[RabbitScope]:
    """RabbitMQ (required once the test reads its url), with everything this test declares
    deleted afterwards."""
    scope = RabbitScope()
    try:
        yield scope
    finally:
        await scope.drop()


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """One real S3 server (SeaweedFS) for the whole session: it takes seconds to start.
    Tests share its bucket, so each uses keys of its own."""
    with running_seaweedfs() as server:
        yield server
