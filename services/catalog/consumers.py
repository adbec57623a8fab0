"""What catalog does when other services' events arrive."""

from __future__ import annotations

from chassis.accounts import account_status_subscription
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import ReceivedEvent
from chassis.wire import optional_instant
from estuary.payments.v1 import events_pb2 as payments_pb
from services.catalog.events import SUBSCRIPTION_TIER_CHANGED
from services.catalog.service_layer.practitioners import apply_tier, follow_account
from services.catalog.uow import CatalogUnitOfWork
from services.catalog.wire import TIERS


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


SUBSCRIPTIONS = (
    account_status_subscription("catalog", on_change=follow_account),
    Subscription(
        queue="catalog.platform-tier",
        events=[SUBSCRIPTION_TIER_CHANGED],
        handler=record_tier_change,
    ),
)
