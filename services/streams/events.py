"""The events streams emits (names and schemas are declared in the protos), and each domain
event as the message it is published as. It consumes identity's account statuses only."""

from __future__ import annotations

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.streams.v1 import events_pb2
from services.streams.domain.streams import STREAM_PREFIX, PostPublished

POST_PUBLISHED = EventType.of(events_pb2.PostPublished)

EMITTED = (POST_PUBLISHED,)


def event_message(event: object) -> tuple[EventType[Message], Message, str]:
    """A domain event as its event type, its message and the subject it is about."""
    match event:
        case PostPublished(post=post, owner_user_id=owner):
            assert post.published_at is not None
            stream = f"{STREAM_PREFIX}{post.stream_id}"
            name = f"{stream}/posts/{post.id}"
            return (
                POST_PUBLISHED,
                events_pb2.PostPublished(
                    post=name,
                    stream=stream,
                    owner_user_id=owner,
                    title=post.title,
                    level=post.level,
                    publish_time=timestamp(post.published_at),
                ),
                name,
            )
    raise NotImplementedError(f"streams does not publish {event!r}")
