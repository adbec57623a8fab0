"""One stream per practitioner and one publication per post, under concurrency on
PostgreSQL (and SQLite): of many attempts at once exactly one wins, the others conflict."""

from __future__ import annotations

from functools import partial

from chassis.clock import FrozenClock
from services.streams.events import POST_PUBLISHED
from tests.builders import outbox_messages
from tests.integration.streams.world import START, built_streams, practitioner
from tests.races import race

ATTEMPTS = 8


async def test_a_practitioner_creating_streams_at_once_gets_one(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        owner = practitioner()
        outcome = await race(
            [partial(service.desk.create_stream, owner, f"Stream {n}", "") for n in range(ATTEMPTS)]
        )
        won = outcome.one_winner()
        assert (await service.desk.get_stream(f"streams/{won.id}")).owner_user_id == owner.user_id


async def test_a_post_published_at_once_goes_out_once(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        post = await desk.create_post(owner, f"streams/{stream.id}", "Hello", "Text", 0)
        name = f"streams/{stream.id}/posts/{post.id}"
        outcome = await race([partial(desk.publish_post, owner, name) for _ in range(ATTEMPTS)])
        outcome.one_winner()
        assert len(await outbox_messages(service.runtime.database, POST_PUBLISHED)) == 1
