"""Readers' access following payments' stream_subscription.changed, on both databases: a
paid subscription follows the stream at its level (in the owner's analytics too), a level
lost locks the paid posts again and sends the reader out of a live their level no longer
admits, a change older than (or the same as) the last applied changes nothing, a message that
does not name a subscription as it should is dead-lettered, and a reader cannot unfollow a
stream they pay for."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from google.protobuf.message import Message

from chassis.clock import FrozenClock
from chassis.errors import FailedPrecondition
from chassis.ids import new_id
from chassis.money import Money
from estuary.payments.v1 import events_pb2 as payments_pb
from services.streams.bootstrap import StreamsService
from services.streams.events import STREAM_SUBSCRIPTION_CHANGED
from services.streams.tables import stream_subscriptions as table
from services.streams.uow import StreamsUnitOfWork
from tests.builders import person
from tests.integration.streams.world import (
    START,
    built_streams,
    changed,
    consume,
    live_on,
    on_livekit,
    practitioner,
)

QUEUE = "streams.subscriptions"
ENDED = payments_pb.STREAM_SUBSCRIPTION_STATUS_ENDED


async def a_stream(service: StreamsService) -> tuple[str, str, str]:
    """A stream with two paid tiers and a published post at level 1: the owner's user id,
    the stream's and the post's names."""
    desk, owner = service.desk, practitioner()
    stream = await desk.create_stream(owner, "Breath", "")
    parent = f"streams/{stream.id}"
    await desk.create_tier(owner, parent, "Friends", Money(500, "EUR"))
    await desk.create_tier(owner, parent, "Circle", Money(900, "EUR"))
    post = await desk.create_post(owner, parent, "Deep", "The whole practice", 1)
    name = f"{parent}/posts/{post.id}"
    await desk.publish_post(owner, name)
    return owner.user_id, parent, name


async def level_of(service: StreamsService, stream: str, user_id: str) -> int | None:
    async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
        follow = await uow.follows.get(stream.removeprefix("streams/"), user_id)
    return None if follow is None else follow.level


async def apply(service: StreamsService, message: Message) -> list[str]:
    return (await consume(service, QUEUE, STREAM_SUBSCRIPTION_CHANGED, message)).settled


async def test_a_paid_subscription_follows_the_stream_at_its_level_and_a_lost_one_locks_again(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        owner_id, stream, post = await a_stream(service)
        reader = person()
        assert (await service.desk.get_post(reader, post)).locked
        subscription = f"streamSubscriptions/{new_id()}"
        paid = changed(stream, reader.user_id, 1, 1, subscription=subscription)
        assert await apply(service, paid) == ["ack"]
        # Not a follower before: the subscription follows the stream at the level it grants.
        assert await level_of(service, stream, reader.user_id) == 1
        [fed] = (await service.desk.feed(reader, 10, "")).items
        assert (fed.locked, fed.body) == (False, "The whole practice")
        # The owner's analytics count the reader at the paid level.
        found = await service.analytics.analytics(person(owner_id), f"{stream}/analytics", 1)
        [today] = found.subscribers
        assert (list(today.by_level), today.total) == ([(0, 0), (1, 1), (2, 0)], 1)

        # A renewal that failed: nothing granted, the reader follows on at the free level.
        failed = changed(stream, reader.user_id, 2, 0, subscription=subscription)
        assert await apply(service, failed) == ["ack"]
        assert await level_of(service, stream, reader.user_id) == 0
        [fed] = (await service.desk.feed(reader, 10, "")).items
        assert (fed.locked, fed.body) == (True, "")
        # Paid again, upgraded, then ended: each change of the one subscription in turn.
        for sequence, granted, level in ((3, 1, 1), (4, 2, 2)):
            upgraded = changed(
                stream, reader.user_id, sequence, granted, subscription=subscription, level=level
            )
            assert await apply(service, upgraded) == ["ack"]
            assert await level_of(service, stream, reader.user_id) == granted
        ended = changed(
            stream, reader.user_id, 5, 0, subscription=subscription, level=2, status=ENDED
        )
        assert await apply(service, ended) == ["ack"]
        assert await level_of(service, stream, reader.user_id) == 0


async def test_the_owners_analytics_count_a_subscriber_at_their_paid_level(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        owner_id, stream, _ = await a_stream(service)
        free, paying = person(), person()
        await service.desk.follow(free, stream)
        await service.desk.follow(paying, stream)
        assert await apply(service, changed(stream, paying.user_id, 1, 2, level=2)) == ["ack"]
        found = await service.analytics.analytics(person(owner_id), f"{stream}/analytics", 1)
        [today] = found.subscribers
        assert (list(today.by_level), today.total) == ([(0, 1), (1, 0), (2, 1)], 2)


@pytest.mark.parametrize(
    ("sequences", "level"),
    [
        # A redelivery under another event id: the same sequence applies once.
        ((1, 1), 1),
        # Out of order: the later change came first, the earlier one is ignored.
        ((2, 1), 0),
        # Stale: an older change after the latest.
        ((1, 3, 2), 1),
    ],
)
async def test_a_change_older_than_the_last_applied_changes_nothing(
    empty_database_url, sequences, level
):
    # Odd sequences grant level 1, even ones nothing (a failed renewal).
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        _, stream, _ = await a_stream(service)
        reader = person()
        await service.desk.follow(reader, stream)
        subscription = f"streamSubscriptions/{new_id()}"
        for sequence in sequences:
            message = changed(
                stream, reader.user_id, sequence, sequence % 2, subscription=subscription
            )
            assert await apply(service, message) == ["ack"]
        assert await level_of(service, stream, reader.user_id) == level
        async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
            [kept] = await uow.subscriptions.of_reader(
                stream.removeprefix("streams/"), reader.user_id
            )
        assert kept.sequence == max(sequences)


async def test_a_subscription_that_grants_nothing_does_not_follow_a_reader_who_left(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        _, stream, _ = await a_stream(service)
        reader = person()
        failed = changed(
            stream, reader.user_id, 1, 0, status=payments_pb.STREAM_SUBSCRIPTION_STATUS_FAILED
        )
        assert await apply(service, failed) == ["ack"]
        assert await level_of(service, stream, reader.user_id) is None


@pytest.mark.parametrize(
    "broken",
    [
        {"subscription": "streamSubscriptions/nope"},
        {"subscription": new_id()},
        {"stream": "streams/nope"},
        {"stream": f"streams/{new_id()}"},
        {"user_id": ""},
        {"status": payments_pb.STREAM_SUBSCRIPTION_STATUS_UNSPECIFIED},
        {"sequence": 0},
        {"level": 0},
        {"level": 7, "granted_level": 7},
        {"granted_level": -1},
    ],
)
async def test_a_message_that_names_no_subscription_as_it_should_changes_nothing(
    empty_database_url, broken
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        _, stream, _ = await a_stream(service)
        reader = person()
        message = changed(stream, reader.user_id, 1, 1)
        for name, value in broken.items():
            setattr(message, name, value)
        settled = await apply(service, message)
        assert settled != ["ack"]
        assert await level_of(service, stream, reader.user_id) is None
        async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
            kept = await uow.connection.execute(sa.select(sa.func.count()).select_from(table))
        assert kept.scalar_one() == 0


async def test_a_reader_whose_level_drops_below_the_lives_leaves_it_at_once(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, stream, live = await live_on(service, level=1)
        parent = f"streams/{stream.id}"
        lapsing, staying = person(), person()
        subscriptions = {}
        for reader in (lapsing, staying):
            subscriptions[reader.user_id] = f"streamSubscriptions/{new_id()}"
            paid = changed(parent, reader.user_id, 1, 1, subscription=subscriptions[reader.user_id])
            assert await apply(service, paid) == ["ack"]
            await service.rooms.live_token(reader, f"{parent}/live")
            await fake.join(live.room, reader.user_id)
        # A renewal of the other one changes nothing for the room.
        renewed = changed(
            parent, staying.user_id, 2, 1, subscription=subscriptions[staying.user_id]
        )
        assert await apply(service, renewed) == ["ack"]
        assert fake.called("RemoveParticipant") == []
        lapsed = changed(parent, lapsing.user_id, 2, 0, subscription=subscriptions[lapsing.user_id])
        assert await apply(service, lapsed) == ["ack"]
        assert [(r.room, r.identity) for r in fake.called("RemoveParticipant")] == [
            (live.room, lapsing.user_id)
        ]
        assert set(fake.participants[live.room]) == {staying.user_id}


async def test_a_level_drop_the_live_still_admits_keeps_the_reader_in_it(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        _, stream, live = await live_on(service, level=0)
        parent = f"streams/{stream.id}"
        reader = person()
        subscription = f"streamSubscriptions/{new_id()}"
        paid = changed(parent, reader.user_id, 1, 1, subscription=subscription)
        assert await apply(service, paid) == ["ack"]
        await fake.join(live.room, reader.user_id)
        lapsed = changed(parent, reader.user_id, 2, 0, subscription=subscription)
        assert await apply(service, lapsed) == ["ack"]
        assert fake.called("RemoveParticipant") == []
        assert set(fake.participants[live.room]) == {reader.user_id}


async def test_a_reader_cannot_unfollow_a_stream_they_pay_for_until_it_ends(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        _, stream, _ = await a_stream(service)
        reader = person()
        subscription = f"streamSubscriptions/{new_id()}"
        assert await apply(
            service, changed(stream, reader.user_id, 1, 1, subscription=subscription)
        ) == ["ack"]
        with pytest.raises(FailedPrecondition) as refused:
            await service.desk.unfollow(reader, stream)
        assert refused.value.reason == "SUBSCRIPTION_ACTIVE"
        assert await level_of(service, stream, reader.user_id) == 1
        ended = changed(stream, reader.user_id, 2, 0, subscription=subscription, status=ENDED)
        assert await apply(service, ended) == ["ack"]
        await service.desk.unfollow(reader, stream)
        assert await level_of(service, stream, reader.user_id) is None
