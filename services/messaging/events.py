"""The events messaging consumes and emits (names and schemas are declared in the protos).
What users must see live goes as broadcasts to the streams (live.py); message.sent and
notification.delivered tell other services, by ids alone, that a message was sent and a
notification reached someone on a channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from estuary.catalog.v1 import events_pb2 as catalog_events
from estuary.identity.v1 import events_pb2 as identity_events
from estuary.messaging.v1 import events_pb2 as messaging_events
from estuary.payments.v1 import events_pb2 as payments_events
from estuary.streams.v1 import events_pb2 as streams_events
from services.messaging.domain.conversations import Message
from services.messaging.domain.notifications import Channel, Kind
from services.messaging.wire import CHANNELS, KINDS

MESSAGE_SENT = EventType.of(messaging_events.MessageSent)
NOTIFICATION_DELIVERED = EventType.of(messaging_events.NotificationDelivered)

EMITTED: tuple[EventType[Any], ...] = (MESSAGE_SENT, NOTIFICATION_DELIVERED)

USER_REGISTERED = EventType.of(identity_events.UserRegistered)
USER_EMAIL_VERIFIED = EventType.of(identity_events.UserEmailVerified)
USER_PASSWORD_RESET_REQUESTED = EventType.of(identity_events.UserPasswordResetRequested)
PRACTITIONER_APPROVED = EventType.of(catalog_events.PractitionerApproved)
PRACTITIONER_REJECTED = EventType.of(catalog_events.PractitionerRejected)
BOOKING_CONFIRMED = EventType.of(booking_events.BookingConfirmed)
BOOKING_RESCHEDULED = EventType.of(booking_events.BookingRescheduled)
BOOKING_CANCELLED = EventType.of(booking_events.BookingCancelled)
BOOKING_REMINDER_DUE = EventType.of(booking_events.BookingReminderDue)
BOOKING_COMPLETED = EventType.of(booking_events.BookingCompleted)
BOOKING_NO_SHOW = EventType.of(booking_events.BookingNoShow)
WAITLIST_OFFERED = EventType.of(booking_events.WaitlistOffered)
REVIEW_CREATED = EventType.of(catalog_events.ReviewCreated)
REVIEW_REPLIED = EventType.of(catalog_events.ReviewReplied)
PAYMENT_SUCCEEDED = EventType.of(payments_events.PaymentSucceeded)
PAYMENT_FAILED = EventType.of(payments_events.PaymentFailed)
REFUND_ISSUED = EventType.of(payments_events.RefundIssued)
PAYOUT_PAID = EventType.of(payments_events.PayoutPaid)
PAYOUT_FAILED = EventType.of(payments_events.PayoutFailed)
SUBSCRIPTION_TIER_CHANGED = EventType.of(payments_events.SubscriptionTierChanged)
POST_PUBLISHED = EventType.of(streams_events.PostPublished)

# What partners' endpoints may subscribe to: the business facts messaging consumes. Not
# identity's user events (they carry one-time tokens and addresses) nor reminders (a nudge
# to one person, not a fact about the business).
PARTNER_EVENTS = (
    PRACTITIONER_APPROVED,
    PRACTITIONER_REJECTED,
    BOOKING_CONFIRMED,
    BOOKING_RESCHEDULED,
    BOOKING_CANCELLED,
    BOOKING_COMPLETED,
    REVIEW_CREATED,
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    REFUND_ISSUED,
    PAYOUT_PAID,
    PAYOUT_FAILED,
    SUBSCRIPTION_TIER_CHANGED,
)
PARTNER_EVENT_TYPES = frozenset(e.name for e in PARTNER_EVENTS)


def message_sent(message: Message, recipients: tuple[str, ...]) -> messaging_events.MessageSent:
    """message.sent of a message: who wrote to whom where, never what."""
    conversation = f"conversations/{message.conversation_id}"
    return messaging_events.MessageSent(
        message=f"{conversation}/messages/{message.id}",
        conversation=conversation,
        sender_user_id=message.sender_id,
        recipient_user_ids=[r for r in recipients if r != message.sender_id],
        reply_to=f"{conversation}/messages/{message.reply_to_id}" if message.reply_to_id else "",
        attachment_count=len(message.attachments),
        send_time=timestamp(message.created_at),
    )


def notification_delivered(
    delivery_id: str,
    recipient_user_id: str,
    kind: Kind,
    channel: Channel,
    cause_event_id: str,
    at: datetime,
) -> messaging_events.NotificationDelivered:
    """notification.delivered of one delivery: ids, kind and channel, never the text."""
    return messaging_events.NotificationDelivered(
        delivery_id=delivery_id,
        recipient_user_id=recipient_user_id,
        kind=KINDS.to_proto(kind),  # type: ignore[arg-type]
        channel=CHANNELS.to_proto(channel),  # type: ignore[arg-type]
        cause_event_id=cause_event_id,
        deliver_time=timestamp(at),
    )
