"""A creator's erasure takes what their followers were told of their posts, on both
databases: the in-app notification and the mail (sent or not) go, a post heard after the
erasure tells no one, and an erasure racing a post's notices leaves none behind
(PostgreSQL)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chassis.bus.consumer import EventConsumer, Subscription
from chassis.ids import new_id
from chassis.wire import timestamp
from estuary.streams.v1 import events_pb2 as streams_pb
from services.messaging import events
from services.messaging.domain.notifications import Channel, Kind
from services.messaging.service_layer import notifying
from services.messaging.settings import MessagingSettings
from services.messaging.tables import post_notices
from services.messaging.templates import Templates
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.integration.messaging.world import START, OneDelivery, World, wire_event, world


@dataclass
class ListedFollowers:
    """Streams' followers of every stream, as streams would list them; `pause` leaves room
    between the consumer's check of its creator and its writes, for the race below."""

    readers: list[str]
    pause: float = 0.0

    async def of(self, stream: str, level: int) -> list[str]:
        await asyncio.sleep(self.pause)
        return list(self.readers)


def new_post_consumer(w: World, followers: ListedFollowers) -> EventConsumer:
    """messaging.notifications' handler with the followers above in place of streams'."""
    return EventConsumer(
        Subscription(
            queue="messaging.notifications",
            events=[events.POST_PUBLISHED],
            handler=notifying(Templates(), MessagingSettings(), None, followers),
        ),
        unit_of_work=w.service.runtime.unit_of_work(MessagingUnitOfWork),
        transport=w.service.runtime.transport,
    )


async def publish_post(consumer: EventConsumer, creator: str, title: str) -> None:
    stream = f"streams/{new_id()}"
    event = wire_event(
        events.POST_PUBLISHED,
        streams_pb.PostPublished(
            post=f"{stream}/posts/{new_id()}",
            stream=stream,
            owner_user_id=creator,
            title=title,
            level=0,
            publish_time=timestamp(START),
        ),
    )
    delivery = OneDelivery(event)
    await consumer.handle(delivery)
    assert delivery.settled == ["ack"]


async def new_posts_of(w: World, reader: str) -> list[str]:
    page = await w.desk.page(person(reader), 50, "", unread_only=False)
    return [n.title for n in page.items if n.kind is Kind.NEW_POST]


async def test_an_erased_creators_posts_leave_their_followers_notifications_and_mail(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        creator = await w.register("pia@example.com")
        reader, other = await w.register("rea@example.com"), await w.register("oli@example.com")
        await w.desk.update_preferences(person(reader), [(Kind.NEW_POST, Channel.EMAIL, True)])
        consumer = new_post_consumer(w, ListedFollowers([reader, other]))
        await publish_post(consumer, creator, "My secret garden")
        await publish_post(consumer, creator, "Second light")
        assert sorted(await new_posts_of(w, reader)) == [
            "New post: My secret garden",
            "New post: Second light",
        ]
        assert await w.mails_to(reader) == 3  # the verification mail, and one per post
        assert await w.send_mail() == 5  # the three verification mails are sent too
        # Another creator's post stays.
        keeper = await w.register("kai@example.com")
        await publish_post(consumer, keeper, "Kept")

        await w.erase(creator)
        assert await new_posts_of(w, reader) == ["New post: Kept"]
        assert await new_posts_of(w, other) == ["New post: Kept"]
        # Sent or not, what the mails said of the posts goes; the verification mail stays.
        assert await w.mails_to(reader) == 2
        assert await w.count(post_notices, owner_user_id=creator) == 0
        assert await w.count(post_notices, owner_user_id=keeper) == 1

        # A post published just before the erasure and heard after it tells no one.
        await publish_post(consumer, creator, "Late news")
        assert await new_posts_of(w, reader) == ["New post: Kept"]
        assert await w.count(post_notices, owner_user_id=creator) == 0


async def test_an_erasure_racing_a_posts_notices_leaves_none_behind(postgres_url):
    async with world(postgres_url) as w:
        reader = await w.register("rea@example.com")
        # The pause puts the consumer's followers lookup between its check of the creator
        # and its writes, where the erasure would otherwise slip in.
        consumer = new_post_consumer(w, ListedFollowers([reader], pause=0.05))
        for round_ in range(8):
            creator = await w.register(f"creator{round_}@example.com")
            await asyncio.gather(
                publish_post(consumer, creator, f"Race {round_}"), w.erase(creator)
            )
        assert await new_posts_of(w, reader) == []
