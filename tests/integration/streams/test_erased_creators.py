"""An erased creator's streams, through streams' real consumers of identity's user.deleted:
the stream is gone for readers (NOT_FOUND), from their feeds and saved posts, nobody follows
it or buys from it any more, its posts' words are erased in the database and no scheduled
one goes out; another creator's stream is untouched; the event again changes nothing; a
write racing the erasure is erased with the rest or refused, a stream made at its moment is
closed with the rest, and none is made after it; their live ends. (Their media
leaving the store, on both shapes: test_media_posts.py.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa

from chassis.accounts import USER_DELETED
from chassis.bus.consumer import EventConsumer
from chassis.bus.envelope import OutgoingEvent
from chassis.clock import FrozenClock
from chassis.errors import NotFound, PermissionDenied
from chassis.money import Money
from estuary.identity.v1 import events_pb2 as identity_pb
from services.streams.bootstrap import StreamsService
from services.streams.events import POST_PUBLISHED, STREAM_SUBSCRIPTION_CHANGED
from services.streams.repository import Posts, Streams
from services.streams.tables import (
    follow_history,
    follows,
    poll_options,
    posts,
    streams,
    tiers,
)
from services.streams.uow import StreamsUnitOfWork
from tests.builders import outbox_messages, person
from tests.integration.messaging.world import OneDelivery, wire_event
from tests.integration.streams.world import (
    START,
    built_streams,
    changed,
    consume,
    follow_at,
    live_on,
    on_livekit,
    practitioner,
)
from tests.races import race

ACCOUNTS = "streams.account-status"


def erasure_of(user_id: str) -> OutgoingEvent:
    return wire_event(USER_DELETED, identity_pb.UserDeleted(user_id=user_id))


async def deliver(service: StreamsService, event: OutgoingEvent) -> list[str]:
    """One delivery of the event to streams' account-status consumer; how it was settled."""
    subscription = next(s for s in service.subscriptions if s.queue == ACCOUNTS)
    consumer = EventConsumer(
        subscription,
        unit_of_work=service.runtime.unit_of_work(StreamsUnitOfWork),
        transport=service.runtime.transport,
    )
    delivery = OneDelivery(event)
    await consumer.handle(delivery)
    return delivery.settled


async def rows(service: StreamsService, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with service.runtime.database.engine.connect() as connection:
        return [tuple(r) for r in await connection.execute(query)]


def stream_posts(stream_id: str) -> sa.Select[Any]:
    return (
        sa.select(posts.c.title, posts.c.body, posts.c.scheduled_for)
        .where(posts.c.stream_id == stream_id)
        .order_by(posts.c.id)
    )


async def test_an_erased_creators_stream_is_gone_for_readers_and_its_words_with_it(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, sales = service.desk, service.sales
        owner, keeper, reader, newcomer = practitioner(), practitioner(), person(), person()
        stream = await desk.create_stream(owner, "Grief", "What losing my father taught me")
        parent = f"streams/{stream.id}"
        await desk.create_tier(owner, parent, "Inner circle", Money(900, "EUR"))
        post = await desk.create_post(owner, parent, "Welcome", "My story.", 1, poll=["Yes", "No"])
        name = f"{parent}/posts/{post.id}"
        await desk.publish_post(owner, name)
        await desk.create_post(
            owner, parent, "Later", "Soon.", 0, scheduled_for=START + timedelta(hours=1)
        )
        kept = await desk.create_stream(keeper, "Breath", "")
        kept_post = await desk.create_post(keeper, f"streams/{kept.id}", "Inhale", "Slowly.", 0)
        kept_name = f"streams/{kept.id}/posts/{kept_post.id}"
        await desk.publish_post(keeper, kept_name)
        await follow_at(service, stream.id, reader, 1)
        await desk.follow(reader, f"streams/{kept.id}")
        await service.engagement.save(reader, name)
        await service.engagement.save(reader, kept_name)
        assert [p.title for p in (await desk.feed(reader, 10, "")).items] == ["Inhale", "Welcome"]

        event = erasure_of(owner.user_id)
        assert await deliver(service, event) == ["ack"]

        for gone in (
            partial(desk.get_stream, parent),
            partial(desk.get_post, reader, name),
            partial(desk.list_posts, reader, parent, 10, ""),
            partial(desk.follow, newcomer, parent),
            partial(service.engagement.like, reader, name),
            # What payments asks before a tip, an unlock or a subscription is sold.
            partial(sales.sale_terms, parent),
            partial(sales.sale_terms, name),
            partial(sales.sale_terms, f"{parent}/tiers/1"),
        ):
            with pytest.raises(NotFound) as refused:
                await gone()
            assert refused.value.reason == "STREAM_NOT_FOUND"
        assert [p.title for p in (await desk.feed(reader, 10, "")).items] == ["Inhale"]
        saved = (await service.engagement.saved_posts(reader, 10, "")).items
        assert [p.title for p in saved] == ["Inhale"]
        assert (await desk.followers(parent, 0, 10, "")).items == []
        assert (await desk.followers(f"streams/{kept.id}", 0, 10, "")).items == [reader.user_id]

        assert await rows(service, stream_posts(stream.id)) == [("", "", None), ("", "", None)]
        assert await rows(service, stream_posts(kept.id)) == [("Inhale", "Slowly.", None)]
        assert await rows(
            service, sa.select(poll_options.c.text).where(poll_options.c.post_id == post.id)
        ) == [("",), ("",)]
        assert await rows(
            service,
            sa.select(streams.c.title, streams.c.description, streams.c.closed_at).where(
                streams.c.id == stream.id
            ),
        ) == [("", "", START)]
        assert await rows(
            service, sa.select(tiers.c.display_name).where(tiers.c.stream_id == stream.id)
        ) == [("",), ("",)]
        # Its announcement, which carried its title, is not kept to be sent again.
        assert await outbox_messages(service.runtime.database, POST_PUBLISHED, name) == []
        assert len(await outbox_messages(service.runtime.database, POST_PUBLISHED, kept_name)) == 1

        clock.advance(timedelta(hours=2))
        assert await desk.publish_due_posts() == 0
        # Payments cancelling the reader's subscription does not bring their follow back.
        subscription = changed(parent, reader.user_id, 1, 1, cancel_at_period_end=True)
        paying = await consume(
            service, "streams.subscriptions", STREAM_SUBSCRIPTION_CHANGED, subscription
        )
        assert paying.settled == ["ack"]
        following = sa.select(follows.c.user_id).where(follows.c.stream_id == stream.id)
        assert await rows(service, following) == []

        history = sa.select(sa.func.count()).select_from(follow_history)
        before = await rows(service, history)
        # The same event again, then identity saying it again: nothing further changes.
        assert await deliver(service, event) == ["ack"]
        assert await deliver(service, erasure_of(owner.user_id)) == ["ack"]
        assert await rows(service, history) == before
        assert await rows(
            service, sa.select(streams.c.closed_at).where(streams.c.id == stream.id)
        ) == [(START,)]
        assert [p.title for p in (await desk.feed(reader, 10, "")).items] == ["Inhale"]


def paused_after_add(
    monkeypatch: pytest.MonkeyPatch, repository: type[Posts] | type[Streams]
) -> tuple[asyncio.Event, asyncio.Event]:
    """Makes the repository's add wait, its row written and not yet committed, until the
    test says go on: (written, go_on)."""
    written, go_on = asyncio.Event(), asyncio.Event()
    add = repository.add

    async def add_then_wait(self: Any, row: Any) -> None:
        await add(self, row)
        written.set()
        await go_on.wait()

    monkeypatch.setattr(repository, "add", add_then_wait)
    return written, go_on


async def test_a_post_in_flight_when_its_creator_is_erased_is_erased_with_the_rest(
    empty_database_url, monkeypatch: pytest.MonkeyPatch
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Grief", "")
        parent = f"streams/{stream.id}"
        written, go_on = paused_after_add(monkeypatch, Posts)
        posting = asyncio.create_task(desk.create_post(owner, parent, "Last words", "Mine", 0))
        await written.wait()
        # The post is written, not yet committed, when the erasure comes.
        erasing = asyncio.create_task(deliver(service, erasure_of(owner.user_id)))
        await asyncio.wait([erasing], timeout=1)
        go_on.set()
        await posting
        assert await erasing == ["ack"]
        assert await rows(service, stream_posts(stream.id)) == [("", "", None)]


async def test_a_stream_made_at_its_creators_erasure_is_closed_and_none_is_made_after(
    empty_database_url, monkeypatch: pytest.MonkeyPatch
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        written, go_on = paused_after_add(monkeypatch, Streams)
        making = asyncio.create_task(desk.create_stream(owner, "Grief", "My story"))
        await written.wait()
        # The stream is written, not yet committed, when the erasure comes.
        erasing = asyncio.create_task(deliver(service, erasure_of(owner.user_id)))
        await asyncio.wait([erasing], timeout=1)
        go_on.set()
        made = await making
        assert await erasing == ["ack"]
        closed = sa.select(streams.c.title, streams.c.description, streams.c.closed_at).where(
            streams.c.id == made.id
        )
        [(title, description, closed_at)] = await rows(service, closed)
        assert (title, description) == ("", "") and closed_at is not None
        monkeypatch.undo()

        with pytest.raises(PermissionDenied) as refused:
            await desk.create_stream(owner, "Grief again", "")
        assert refused.value.reason == "ACCOUNT_DELETED"
        mine = sa.select(streams.c.id).where(streams.c.owner_user_id == owner.user_id)
        assert await rows(service, mine) == [(made.id,)]


async def test_readers_following_and_a_creator_posting_at_the_erasure_leave_nothing_behind(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner, readers = service.desk, practitioner(), [person() for _ in range(4)]
        stream = await desk.create_stream(owner, "Grief", "")
        parent = f"streams/{stream.id}"
        posting = [
            partial(desk.create_post, owner, parent, f"Last words {n}", "Private", 0)
            for n in range(4)
        ]
        following = [partial(desk.follow, reader, parent) for reader in readers]
        outcome = await race(
            [partial(deliver, service, erasure_of(owner.user_id)), *posting, *following]
        )
        assert outcome.outcomes[0] == ["ack"]
        unexpected = [e for e in outcome.losses if not isinstance(e, NotFound)]
        assert unexpected == []
        written = await rows(service, stream_posts(stream.id))
        assert written == [("", "", None)] * len(written)
        following_now = sa.select(follows.c.user_id).where(follows.c.stream_id == stream.id)
        assert await rows(service, following_now) == []


async def test_an_erased_creators_live_ends_and_everyone_leaves_its_room(empty_database_url):
    async with on_livekit(empty_database_url, FrozenClock(START)) as (service, fake):
        owner, stream, live = await live_on(service, level=0)
        viewer = person()
        await service.desk.follow(viewer, f"streams/{stream.id}")
        await fake.join(live.room, owner.user_id)
        await fake.join(live.room, viewer.user_id)
        erased = identity_pb.UserDeleted(user_id=owner.user_id)
        delivery = await consume(service, "streams.room-evictions", USER_DELETED, erased)
        assert delivery.settled == ["ack"]
        assert [r.room for r in fake.called("DeleteRoom")] == [live.room]
        assert live.room not in fake.participants
        async with service.runtime.unit_of_work(StreamsUnitOfWork)(write=False) as uow:
            assert await uow.rooms.live_of(stream.id) is None
            assert await uow.rooms.rooms_of(viewer.user_id) == []
