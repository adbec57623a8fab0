"""The `stack` fixture: each end-to-end test runs on the embedded and the production shape."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from suite.registry import SERVICES
from tests.e2e.stacks import EventTap, ProductionStack, Stack, drop_topology, start_embedded
from tests.infrastructure import postgres_database, require_rabbitmq, require_redis


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory) -> Iterator[ProductionStack]:
    """Every service and the gateway as processes on Postgres, RabbitMQ and Redis, shared by
    every test of the session (tests tag their data, so they do not see each other's)."""
    rabbit_url = require_rabbitmq()
    redis_url = require_redis()
    with contextlib.ExitStack() as databases:
        urls = {entry.name: databases.enter_context(postgres_database()) for entry in SERVICES}
        stack = ProductionStack(
            database_urls=urls,
            rabbit_url=rabbit_url,
            redis_url=redis_url,
            workdir=tmp_path_factory.mktemp("production"),
        )
        try:
            stack.start()
            yield stack
        finally:
            stack.stop()
            # On its own thread: a stack that fails to start ends here inside the test's
            # running loop, where asyncio.run would hide the failure behind its own.
            with ThreadPoolExecutor(1) as apart:
                apart.submit(
                    asyncio.run, drop_topology(rabbit_url, stack.exchange, stack.queues)
                ).result()


@pytest.fixture(params=["embedded", "production"])
async def stack(request, tmp_path) -> AsyncIterator[Stack]:
    """The suite, in each of its two shapes."""
    if request.param == "production":
        yield request.getfixturevalue("production_stack")
        return
    embedded = await start_embedded(tmp_path / "data")
    try:
        yield embedded
    finally:
        await embedded.suite.stop()


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[EventTap]:
    """The events the stack publishes from the start of the test on; closed however the
    test ends, so a failing test leaves no connection behind to fail a later one."""
    opened = await stack.tap()
    try:
        yield opened
    finally:
        await opened.close()
