"""The events streams emits (names and schemas are declared in the protos), and each domain
event as the message it is published as. It consumes identity's account statuses,
booking's confirmations, moves and cancellations (session rooms), and payments' paid stream
orders (sales) and readers' subscription changes (their levels)."""

from __future__ import annotations

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from estuary.payments.v1 import events_pb2 as payments_events
from estuary.streams.v1 import events_pb2
from services.streams.domain.rooms import RoomRole, SessionAttended
from services.streams.domain.streams import STREAM_PREFIX, PostPublished, TierRepriced

POST_PUBLISHED = EventType.of(events_pb2.PostPublished)
PARTICIPANT_JOINED = EventType.of(events_pb2.ParticipantJoined)
PARTICIPANT_LEFT = EventType.of(events_pb2.ParticipantLeft)
TIER_REPRICED = EventType.of(events_pb2.TierRepriced)

EMITTED = (POST_PUBLISHED, PARTICIPANT_JOINED, PARTICIPANT_LEFT, TIER_REPRICED)

BOOKING_CONFIRMED = EventType.of(booking_events.BookingConfirmed)
BOOKING_RESCHEDULED = EventType.of(booking_events.BookingRescheduled)
BOOKING_CANCELLED = EventType.of(booking_events.BookingCancelled)
STREAM_ORDER_PAID = EventType.of(payments_events.StreamOrderPaid)
STREAM_SUBSCRIPTION_CHANGED = EventType.of(payments_events.StreamSubscriptionChanged)

ROOM_ROLES = {
    RoomRole.PRACTITIONER: events_pb2.ROOM_ROLE_PRACTITIONER,
    RoomRole.CLIENT: events_pb2.ROOM_ROLE_CLIENT,
}


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
        case TierRepriced(tier=tier, at=at):
            stream = f"{STREAM_PREFIX}{tier.stream_id}"
            name = f"{stream}/tiers/{tier.level}"
            return (
                TIER_REPRICED,
                events_pb2.TierRepriced(
                    tier=name,
                    stream=stream,
                    level=tier.level,
                    price=tier.price.to_proto(),
                    change_time=timestamp(at),
                ),
                name,
            )
        case SessionAttended(joined=True) as attended:
            return (
                PARTICIPANT_JOINED,
                events_pb2.ParticipantJoined(
                    booking_id=attended.booking_id,
                    user_id=attended.user_id,
                    role=ROOM_ROLES[attended.role],
                    room=attended.room,
                    join_time=timestamp(attended.at),
                ),
                f"bookings/{attended.booking_id}",
            )
        case SessionAttended(joined=False) as attended:
            return (
                PARTICIPANT_LEFT,
                events_pb2.ParticipantLeft(
                    booking_id=attended.booking_id,
                    user_id=attended.user_id,
                    role=ROOM_ROLES[attended.role],
                    room=attended.room,
                    leave_time=timestamp(attended.at),
                ),
                f"bookings/{attended.booking_id}",
            )
    raise NotImplementedError(f"streams does not publish {event!r}")
