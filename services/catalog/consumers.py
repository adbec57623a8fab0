"""What catalog does when other services' events arrive."""

from __future__ import annotations

from chassis.accounts import account_status_subscription
from chassis.auth.principal import AccountStatus
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import ReceivedEvent
from chassis.wire import optional_instant
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.payments.v1 import events_pb2 as payments_pb
from services.catalog.events import (
    BOOKING_COMPLETED,
    SCHEDULE_SAVED,
    SUBSCRIPTION_TIER_CHANGED,
)
from services.catalog.service_layer.practitioners import apply_tier, follow_account
from services.catalog.service_layer.reviews import follow_author, make_reviewable
from services.catalog.uow import CatalogUnitOfWork
from services.catalog.wire import TIERS, eligibility_from_proto


async def record_tier_change(
    uow: CatalogUnitOfWork, event: ReceivedEvent[payments_pb.SubscriptionTierChanged]
) -> None:
    """A practitioner's platform tier changed: their service limit follows."""
    change = event.message
    tier = TIERS.from_proto(change.tier)
    if tier is None or not change.user_id:
        raise ValueError(f"subscription.tier_changed {event.id} names no tier or user")
    effective = optional_instant(change.effective_time, change.HasField("effective_time"))
    await apply_tier(uow, change.user_id, tier, effective or event.time)


async def follow_user(uow: CatalogUnitOfWork, user_id: str, status: AccountStatus) -> None:
    """A user's account changed: as a practitioner (their profile, services and replies)
    and as a client (their reviews)."""
    await follow_account(uow, user_id, status)
    await follow_author(uow, user_id, status)


async def record_availability(
    uow: CatalogUnitOfWork, event: ReceivedEvent[booking_pb.ScheduleSaved]
) -> None:
    """The practitioner saved their hours in booking: onboarding's availability step is done."""
    saved = event.message
    practitioner = await uow.practitioners.get(saved.practitioner_id, lock=True)
    if practitioner is None or practitioner.user_id != saved.practitioner_user_id:
        raise ValueError(f"schedule.saved {event.id} names no practitioner of catalog's")
    if practitioner.mark_availability_set(uow.clock.now()):
        await uow.practitioners.save_onboarding(practitioner)


async def record_completed_booking(
    uow: CatalogUnitOfWork, event: ReceivedEvent[booking_pb.BookingCompleted]
) -> None:
    """A session took place: its client may review it."""
    await make_reviewable(uow, eligibility_from_proto(event.message, event.time))


SUBSCRIPTIONS = (
    account_status_subscription("catalog", on_change=follow_user),
    Subscription(
        queue="catalog.platform-tier",
        events=[SUBSCRIPTION_TIER_CHANGED],
        handler=record_tier_change,
    ),
    Subscription(
        queue="catalog.review-eligibility",
        events=[BOOKING_COMPLETED],
        handler=record_completed_booking,
        description="lets the client of a completed booking review it",
    ),
    Subscription(
        queue="catalog.availability",
        events=[SCHEDULE_SAVED],
        handler=record_availability,
        description="marks onboarding's availability step once booking has the hours",
    ),
)
