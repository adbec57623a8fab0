"""Readers' access following payments' word on their subscriptions: each
stream_subscription.changed is kept (unless a later change of the subscription already was),
and the reader's level on the stream becomes the highest its subscriptions grant, following
the stream first if they did not (a paid subscription implies following). When the level
drops (past due, ended, a downgrade taking effect), a reader its new level no longer admits
to the stream's live leaves its room at once."""

from __future__ import annotations

from typing import Any

from chassis.bus.envelope import ReceivedEvent
from chassis.ids import is_uuid
from chassis.wire import ProtoEnum, optional_instant
from estuary.payments.v1 import events_pb2 as payments_events
from services.streams.domain.streams import FREE_LEVEL, STREAM_PREFIX, Follow
from services.streams.domain.subscriptions import (
    SUBSCRIPTION_PREFIX,
    StreamSubscription,
    SubscriptionStatus,
    granted_level,
)
from services.streams.evictions import leave_live
from services.streams.uow import StreamsUnitOfWork
from services.streams.video.port import RoomService

STATUSES = ProtoEnum(
    payments_events.StreamSubscriptionStatus,
    SubscriptionStatus,
    prefix="STREAM_SUBSCRIPTION_STATUS_",
)


def subscription_of(event: ReceivedEvent[Any]) -> StreamSubscription:
    """The subscription as stream_subscription.changed leaves it; a message naming no
    subscription, stream or reader as it should, or no status, levels or sequence a change
    can carry, is refused (retried, then dead-lettered), never guessed at."""
    changed: payments_events.StreamSubscriptionChanged = event.message
    subscription_id = changed.subscription.removeprefix(SUBSCRIPTION_PREFIX)
    stream_id = changed.stream.removeprefix(STREAM_PREFIX)
    named = (
        changed.subscription.startswith(SUBSCRIPTION_PREFIX)
        and changed.stream.startswith(STREAM_PREFIX)
        and all(is_uuid(i) for i in (subscription_id, stream_id, changed.user_id))
    )
    if not named:
        raise ValueError(f"{event.type} {event.id}: not a subscription of a stream's this names")
    status = STATUSES.from_proto(changed.status)
    if status is None or changed.sequence < 1:
        raise ValueError(f"{event.type} {event.id}: no status or sequence a change carries")
    if changed.level <= FREE_LEVEL or changed.granted_level < FREE_LEVEL:
        raise ValueError(
            f"{event.type} {event.id}: level {changed.level} granting "
            f"{changed.granted_level} is not a paid tier's subscription"
        )
    return StreamSubscription(
        subscription_id,
        stream_id,
        changed.user_id,
        changed.level,
        changed.granted_level,
        status,
        optional_instant(
            changed.current_period_end_time, changed.HasField("current_period_end_time")
        ),
        changed.cancel_at_period_end,
        changed.sequence,
    )


async def follow_subscription(
    uow: StreamsUnitOfWork, video: RoomService, event: ReceivedEvent[Any]
) -> None:
    """Applies a subscription's change once and in order: a change older than (or the
    same as) the last applied changes nothing."""
    subscription = subscription_of(event)
    stream_id, user_id = subscription.stream_id, subscription.user_id
    stream = await uow.streams.get(stream_id)
    levels = (subscription.level, subscription.granted_level)
    if stream is None or not all(stream.has_level(level) for level in levels):
        raise ValueError(f"{event.type} {event.id}: streams has no such stream or tier")
    # Payments ends an erased creator's subscriptions; their closed stream follows no one.
    if stream.closed:
        return
    now = uow.clock.now()
    if not await uow.subscriptions.apply(subscription, now):
        return
    level = granted_level(await uow.subscriptions.of_reader(stream_id, user_id))
    follow = await uow.follows.get(stream_id, user_id)
    if follow is None:
        # A subscription that grants nothing does not bring back a reader who left.
        if level > FREE_LEVEL:
            await uow.follows.add(Follow(stream_id, user_id, level, now))
        return
    await uow.follows.set_level(stream_id, user_id, level, now)
    if level < follow.level:
        await leave_live(uow, video, stream_id, user_id, level)
