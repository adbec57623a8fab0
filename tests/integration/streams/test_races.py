"""One stream per practitioner, one publication per post, one like per reader, one vote per
voter, one live per stream and one session room per booking, under concurrency on
PostgreSQL (and SQLite): of many attempts at once exactly one wins and the others conflict,
or (a like, a booking confirmed again, idempotent) all succeed and count once; of a
subscription's changes applied at once, the latest stands."""

from __future__ import annotations

from functools import partial

from chassis.clock import FrozenClock
from chassis.ids import new_id
from chassis.money import Money
from estuary.booking.v1 import events_pb2 as booking_pb
from services.streams.events import (
    BOOKING_CONFIRMED,
    POST_PUBLISHED,
    STREAM_SUBSCRIPTION_CHANGED,
)
from services.streams.uow import StreamsUnitOfWork
from tests.builders import outbox_messages, person
from tests.integration.streams.world import (
    START,
    built_streams,
    changed,
    consume,
    on_livekit,
    practitioner,
    snapshot,
)
from tests.races import race

ATTEMPTS = 8
QUEUE = "streams.subscriptions"


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


async def test_lives_started_at_once_on_one_stream_make_one_live_and_one_room(
    empty_database_url,
):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        owner = practitioner()
        stream = await service.desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        outcome = await race(
            [partial(service.rooms.start_live, owner, parent, 0) for _ in range(ATTEMPTS)]
        )
        won = outcome.one_winner()
        async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
            assert await uow.rooms.live_of(stream.id) == won
        assert won.room in fake.rooms


async def test_a_booking_confirmed_many_times_at_once_gets_one_room(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        host, client = practitioner(), person()
        booking_id = person().user_id
        confirmed = booking_pb.BookingConfirmed(
            booking=snapshot(booking_id, host.user_id, client.user_id, START)
        )
        # Distinct deliveries (each its own event id), so the inbox alone cannot settle it.
        outcome = await race(
            [
                partial(consume, service, "streams.session-rooms", BOOKING_CONFIRMED, confirmed)
                for _ in range(ATTEMPTS)
            ]
        )
        assert [d.settled for d in outcome.wins] == [["ack"]] * ATTEMPTS
        assert [r.name for r in fake.called("CreateRoom")] == [f"session-{booking_id}"]
        token = await service.rooms.session_token(client, f"bookings/{booking_id}")
        assert token.admission.room == f"session-{booking_id}"


async def test_a_subscriptions_changes_applied_at_once_leave_the_latests_level(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        await desk.create_tier(owner, parent, "Friends", Money(500, "EUR"))
        # The latest change grants nothing (a failed renewal), then the level (a renewal).
        for latest_grants in (0, 1):
            reader = person()
            await desk.follow(reader, parent)
            subscription = f"streamSubscriptions/{new_id()}"
            changes = [
                changed(
                    parent,
                    reader.user_id,
                    sequence,
                    (sequence + latest_grants + ATTEMPTS) % 2,
                    subscription=subscription,
                )
                for sequence in range(ATTEMPTS, 0, -1)
            ]
            outcome = await race(
                [
                    partial(
                        consume, service, "streams.subscriptions", STREAM_SUBSCRIPTION_CHANGED, c
                    )
                    for c in changes
                ]
            )
            assert outcome.losses == []
            # A delivery a conflict sent back comes again, as the broker would redeliver it.
            for change, delivery in zip(changes, outcome.wins, strict=True):
                if delivery.settled != ["ack"]:
                    again = await consume(service, QUEUE, STREAM_SUBSCRIPTION_CHANGED, change)
                    assert again.settled == ["ack"]
            async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
                follow = await uow.follows.get(stream.id, reader.user_id)
                [kept] = await uow.subscriptions.of_reader(stream.id, reader.user_id)
            assert kept.sequence == ATTEMPTS
            assert follow is not None
            assert (kept.granted_level, follow.level) == (latest_grants, latest_grants)
