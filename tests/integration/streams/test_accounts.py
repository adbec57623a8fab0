"""Identity's account statuses as streams hears them, through its real consumer: an erased
user's follows and saved posts go (their feed is empty, the streams they read show them
teasers only), their comments keep their place without their words, and another follower's
follows and comments stay."""

from __future__ import annotations

from chassis.accounts import USER_DELETED
from chassis.bus.consumer import EventConsumer
from chassis.clock import FrozenClock
from estuary.identity.v1 import events_pb2 as identity_pb
from services.streams.consumers import SUBSCRIPTIONS
from services.streams.uow import StreamsUnitOfWork
from tests.builders import person
from tests.integration.messaging.world import OneDelivery, wire_event
from tests.integration.streams.world import START, built_streams, practitioner


async def test_an_erased_users_follows_are_forgotten_and_others_stay(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner, erased, staying = service.desk, practitioner(), person(), person()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        post = await desk.create_post(owner, parent, "Welcome", "Breathe in.", 0)
        await desk.publish_post(owner, f"{parent}/posts/{post.id}")
        post_name = f"{parent}/posts/{post.id}"
        for reader in (erased, staying):
            await desk.follow(reader, parent)
        said = await service.engagement.comment(erased, post_name, "My address is ...", "")
        await service.engagement.comment(
            staying, post_name, "Hello", f"{post_name}/comments/{said.id}"
        )
        await service.engagement.save(erased, post_name)

        consumer = EventConsumer(
            SUBSCRIPTIONS[0],
            unit_of_work=service.runtime.unit_of_work(StreamsUnitOfWork),
            transport=service.runtime.transport,
        )
        delivery = OneDelivery(
            wire_event(USER_DELETED, identity_pb.UserDeleted(user_id=erased.user_id))
        )
        await consumer.handle(delivery)

        assert delivery.settled == ["ack"]
        assert (await desk.feed(erased, 10, "")).items == []
        assert [p.locked for p in (await desk.list_posts(erased, parent, 10, "")).items] == [True]
        assert [p.body for p in (await desk.feed(staying, 10, "")).items] == ["Breathe in."]
        thread = (await service.engagement.comments(owner, post_name, 10, "")).items
        assert [(c.author_user_id, c.text, c.deleted) for c in thread] == [
            (erased.user_id, "", True),
            (staying.user_id, "Hello", False),
        ]
        assert (await service.engagement.saved_posts(erased, 10, "")).items == []
