"""One stream per practitioner, one publication per post, one like per reader and one vote
per voter, under concurrency on PostgreSQL (and SQLite): of many attempts at once exactly one
wins and the others conflict, or (a like, idempotent) all succeed and count once."""

from __future__ import annotations

from functools import partial

from chassis.clock import FrozenClock
from services.streams.events import POST_PUBLISHED
from tests.builders import outbox_messages, person
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


async def test_a_reader_liking_and_saving_a_post_many_times_at_once_does_each_once(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner, reader = service.desk, practitioner(), person()
        stream = await desk.create_stream(owner, "Breath", "")
        post = await desk.create_post(owner, f"streams/{stream.id}", "Hello", "Text", 0)
        name = f"streams/{stream.id}/posts/{post.id}"
        await desk.publish_post(owner, name)
        await desk.follow(reader, f"streams/{stream.id}")
        outcome = await race(
            [partial(service.engagement.like, reader, name) for _ in range(ATTEMPTS)]
        )
        assert (len(outcome.wins), outcome.losses) == (ATTEMPTS, [])
        read = await desk.get_post(owner, name)
        assert read.like_count == 1
        assert (await desk.get_post(reader, name)).liked_by_me
        saves = await race(
            [partial(service.engagement.save, reader, name) for _ in range(ATTEMPTS)]
        )
        assert (len(saves.wins), saves.losses) == (ATTEMPTS, [])
        assert (await service.engagement.saved_posts(reader, 10, "")).total == 1


async def test_a_voter_voting_many_times_at_once_casts_one_vote(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner, voter = service.desk, practitioner(), person()
        stream = await desk.create_stream(owner, "Breath", "")
        post = await desk.create_post(
            owner, f"streams/{stream.id}", "Ask", "Text", 0, ["Morning", "Evening"]
        )
        name = f"streams/{stream.id}/posts/{post.id}"
        await desk.publish_post(owner, name)
        await desk.follow(voter, f"streams/{stream.id}")
        outcome = await race(
            [partial(service.engagement.vote, voter, name, n % 2) for n in range(ATTEMPTS)]
        )
        won = outcome.one_winner()
        read = await desk.get_post(owner, name)
        assert read.poll is not None and won.poll is not None
        assert sum(o.votes for o in read.poll.options) == 1
        assert [o.votes for o in read.poll.options] == [o.votes for o in won.poll.options]
