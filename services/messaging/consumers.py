"""What messaging does when other services' events arrive: identity's users (addresses,
account statuses) and every event someone must hear of."""

from __future__ import annotations

from typing import Any

from chassis.accounts import account_status_subscription
from chassis.auth.principal import AccountStatus
from chassis.bus.consumer import Subscription
from services.messaging import events
from services.messaging.followers import Followers
from services.messaging.live import LiveHub
from services.messaging.partner_webhooks import queue_deliveries
from services.messaging.service_layer import forget_recipient, notifying
from services.messaging.settings import MessagingSettings
from services.messaging.templates import Templates

NOTIFIED = (
    events.USER_REGISTERED,
    events.USER_EMAIL_VERIFIED,
    events.USER_PASSWORD_RESET_REQUESTED,
    events.PRACTITIONER_APPROVED,
    events.PRACTITIONER_REJECTED,
    events.BOOKING_CONFIRMED,
    events.BOOKING_RESCHEDULED,
    events.BOOKING_CANCELLED,
    events.BOOKING_REMINDER_DUE,
    events.BOOKING_COMPLETED,
    events.BOOKING_NO_SHOW,
    events.WAITLIST_OFFERED,
    events.REVIEW_CREATED,
    events.REVIEW_REPLIED,
    events.PAYMENT_FAILED,
    events.REFUND_ISSUED,
    events.PAYOUT_PAID,
    events.PAYOUT_FAILED,
    events.SUBSCRIPTION_TIER_CHANGED,
    events.POST_PUBLISHED,
)


def subscriptions(
    settings: MessagingSettings | None = None,
    templates: Templates | None = None,
    live: LiveHub | None = None,
    followers: Followers | None = None,
) -> tuple[Subscription, ...]:
    """Messaging's consumers, with its settings, templates, live streams and streams'
    followers (None: the queues and events alone, as the declaration lists them)."""
    configured = settings or MessagingSettings()

    async def account(uow: Any, user_id: str, status: AccountStatus) -> None:
        if status is AccountStatus.DELETED:
            await forget_recipient(uow, user_id)

    return (
        account_status_subscription("messaging", on_change=account),
        Subscription(
            queue="messaging.notifications",
            events=list(NOTIFIED),
            handler=notifying(templates or Templates(), configured, live, followers),
            description="notifies users (in-app, mail) of what concerns them, once per event",
        ),
        Subscription(
            queue="messaging.partner-webhooks",
            events=list(events.PARTNER_EVENTS),
            handler=queue_deliveries,
            description="queues each event partners subscribed to for their webhook endpoints, "
            "once per event and endpoint",
        ),
    )


SUBSCRIPTIONS = subscriptions()
