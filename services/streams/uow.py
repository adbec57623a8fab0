"""Streams' unit of work: the chassis's transaction with streams' repositories on it."""

from __future__ import annotations

from typing import Self

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.db import ConstraintViolation
from chassis.errors import AlreadyExists, DomainError
from chassis.uow import UnitOfWork
from services.streams.events import event_message
from services.streams.repository import (
    Analytics,
    Comments,
    Engagement,
    Follows,
    Media,
    Posts,
    Rooms,
    Sales,
    Streams,
    Subscriptions,
)


def stream_taken(violation: ConstraintViolation) -> DomainError:
    return AlreadyExists("the caller already has a stream", reason="STREAM_EXISTS")


def live_in_progress(violation: ConstraintViolation) -> DomainError:
    return AlreadyExists(
        "the stream is live already; end that live first", reason="LIVE_IN_PROGRESS"
    )


class StreamsUnitOfWork(UnitOfWork):
    streams: Streams
    posts: Posts
    follows: Follows
    engagement: Engagement
    comments: Comments
    rooms: Rooms
    sales: Sales
    subscriptions: Subscriptions
    media: Media
    analytics: Analytics

    conflicts = {"streams.owner_user_id": stream_taken, "lives.stream_id": live_in_progress}

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.streams = Streams(connection, held=self._write)
        self.posts = Posts(connection)
        self.follows = Follows(connection, self.dialect)
        self.engagement = Engagement(connection, self.dialect)
        self.comments = Comments(connection)
        self.rooms = Rooms(connection, self.dialect)
        self.sales = Sales(connection, self.dialect)
        self.subscriptions = Subscriptions(connection, self.dialect)
        self.media = Media(connection)
        self.analytics = Analytics(connection)
        return self

    def event_message(self, event: object) -> tuple[EventType[Message], Message, str]:
        return event_message(event)
