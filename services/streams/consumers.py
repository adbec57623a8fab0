"""What streams does when other services' events arrive. Identity's account statuses: a
suspended user's writes are refused (the chassis) and, through a queue of its own, they leave
every video room at once; an erased user's follows and saved posts go, their comments keep
their place in their threads without their words, and a creator's streams close (their
posts' words erased, their media deleted from the store by the sweep: erasures.py) and
their lives end. Booking's confirmations, moves and
cancellations of virtual bookings open, move and close their session rooms. Payments' paid
stream orders are recorded as sales, and readers' subscription changes set their levels."""

from __future__ import annotations

from typing import Any

from chassis.accounts import USER_DELETED, USER_SUSPENDED, account_status_subscription
from chassis.auth.principal import AccountStatus
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import ReceivedEvent
from chassis.ids import is_uuid
from chassis.wire import instant
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import catalog_pb2
from services.streams.domain.rooms import Meeting, SessionRoom
from services.streams.erasures import close_streams_of
from services.streams.events import (
    BOOKING_CANCELLED,
    BOOKING_CONFIRMED,
    BOOKING_RESCHEDULED,
    STREAM_ORDER_PAID,
    STREAM_SUBSCRIPTION_CHANGED,
)
from services.streams.evictions import end_lives_of, leave_every_room
from services.streams.rooms import close_session_room, move_session_room, open_session_room
from services.streams.sales import record_sale
from services.streams.subscriptions import follow_subscription
from services.streams.uow import StreamsUnitOfWork
from services.streams.video.local import LocalRooms
from services.streams.video.port import RoomService


def session_room_of(event: ReceivedEvent[Any]) -> SessionRoom | None:
    """The room a booking event describes: None for a booking that is not virtual or has no
    dated meeting (a package). A message that names no booking or people, or a meeting that
    ends before it starts, is refused (retried, then dead-lettered), never guessed at."""
    booking: booking_pb.BookingSnapshot = event.message.booking
    if booking.location_kind != catalog_pb2.LOCATION_KIND_VIRTUAL or not booking.times:
        return None
    for field in ("booking_id", "practitioner_user_id", "client_id"):
        if not is_uuid(getattr(booking, field)):
            raise ValueError(f"{event.type} {event.id}: booking.{field} is not an id")
    meetings = tuple(Meeting(instant(t.start_time), instant(t.end_time)) for t in booking.times)
    if any(m.end <= m.start for m in meetings):
        raise ValueError(f"{event.type} {event.id}: a meeting ends before it starts")
    return SessionRoom(
        booking.booking_id, booking.practitioner_user_id, booking.client_id, meetings
    )


async def _account(uow: StreamsUnitOfWork, user_id: str, status: AccountStatus) -> None:
    if status is AccountStatus.DELETED:
        await uow.follows.forget(user_id, uow.clock.now())
        await uow.engagement.forget(user_id)
        await uow.comments.erase_author(user_id)
        await close_streams_of(uow, user_id)


def subscriptions(video: RoomService | None = None) -> tuple[Subscription, ...]:
    """Streams' consumers on its room service (None: the queues and events alone, as the
    declaration lists them)."""
    rooms = video or LocalRooms()

    async def evict(uow: StreamsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        user_id = event.message.user_id
        if not is_uuid(user_id):
            raise ValueError(f"{event.type} {event.id}: user_id is not an id")
        await leave_every_room(uow, rooms, user_id)
        if event.type == USER_DELETED.name:
            await end_lives_of(uow, rooms, user_id)

    async def follow_booking(uow: StreamsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        if event.type == BOOKING_CANCELLED.name:
            booking_id = event.message.booking.booking_id
            if not is_uuid(booking_id):
                raise ValueError(f"{event.type} {event.id}: booking.booking_id is not an id")
            await close_session_room(uow, rooms, booking_id)
            return
        room = session_room_of(event)
        if room is None:
            return
        if event.type == BOOKING_CONFIRMED.name:
            await open_session_room(uow, rooms, room)
        else:
            await move_session_room(uow, room)

    async def follow_level(uow: StreamsUnitOfWork, event: ReceivedEvent[Any]) -> None:
        await follow_subscription(uow, rooms, event)

    return (
        account_status_subscription("streams", on_change=_account),
        # A queue of its own: a LiveKit that does not answer delays the removal (retried),
        # never the refusal of the account's writes.
        Subscription(
            queue="streams.room-evictions",
            events=[USER_SUSPENDED, USER_DELETED],
            handler=evict,
            description="removes a suspended or erased user from every video room, and ends "
            "an erased creator's lives",
        ),
        Subscription(
            queue="streams.session-rooms",
            events=[BOOKING_CONFIRMED, BOOKING_RESCHEDULED, BOOKING_CANCELLED],
            handler=follow_booking,
            description="opens, moves and closes the rooms of virtual bookings",
        ),
        Subscription(
            queue="streams.sales",
            events=[STREAM_ORDER_PAID],
            handler=record_sale,
            description="records tips, unlocks and subscriptions' periods payments reports paid",
        ),
        Subscription(
            queue="streams.subscriptions",
            events=[STREAM_SUBSCRIPTION_CHANGED],
            handler=follow_level,
            description="sets readers' levels as their subscriptions to paid tiers change",
        ),
    )


SUBSCRIPTIONS = subscriptions()
