"""The events messaging consumes (names and schemas are declared in the protos). It emits
none: what others must see live goes as broadcasts to the streams (live.py), not as events;
message.sent and notification.delivered, for other services, are still to come."""

from __future__ import annotations

from typing import Any

from chassis.bus.envelope import EventType
from estuary.booking.v1 import events_pb2 as booking_events
from estuary.catalog.v1 import events_pb2 as catalog_events
from estuary.identity.v1 import events_pb2 as identity_events
from estuary.payments.v1 import events_pb2 as payments_events

EMITTED: tuple[EventType[Any], ...] = ()

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
REVIEW_CREATED = EventType.of(catalog_events.ReviewCreated)
PAYMENT_SUCCEEDED = EventType.of(payments_events.PaymentSucceeded)
PAYMENT_FAILED = EventType.of(payments_events.PaymentFailed)
REFUND_ISSUED = EventType.of(payments_events.RefundIssued)
PAYOUT_PAID = EventType.of(payments_events.PayoutPaid)
PAYOUT_FAILED = EventType.of(payments_events.PayoutFailed)
SUBSCRIPTION_TIER_CHANGED = EventType.of(payments_events.SubscriptionTierChanged)

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
