"""The events booking emits and consumes (names and schemas are declared in the protos), and
each domain event as the message it is published as."""

from __future__ import annotations

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2
from estuary.catalog.v1 import events_pb2 as catalog_events
from estuary.payments.v1 import events_pb2 as payments_events
from estuary.streams.v1 import events_pb2 as streams_events
from services.booking.domain.events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingCreated,
    BookingExpired,
    BookingNoShow,
    BookingRescheduled,
    RefundRequested,
    ReminderDue,
    ScheduleSaved,
    WaitlistOffered,
)
from services.booking.wire import ACTORS, REMINDERS, booked_time, money, snapshot

BOOKING_CREATED = EventType.of(events_pb2.BookingCreated)
BOOKING_CONFIRMED = EventType.of(events_pb2.BookingConfirmed)
BOOKING_RESCHEDULED = EventType.of(events_pb2.BookingRescheduled)
BOOKING_CANCELLED = EventType.of(events_pb2.BookingCancelled)
BOOKING_EXPIRED = EventType.of(events_pb2.BookingExpired)
BOOKING_COMPLETED = EventType.of(events_pb2.BookingCompleted)
BOOKING_NO_SHOW = EventType.of(events_pb2.BookingNoShow)
BOOKING_REMINDER_DUE = EventType.of(events_pb2.BookingReminderDue)
BOOKING_REFUND_REQUESTED = EventType.of(events_pb2.BookingRefundRequested)
SCHEDULE_SAVED = EventType.of(events_pb2.ScheduleSaved)
WAITLIST_OFFERED = EventType.of(events_pb2.WaitlistOffered)

EMITTED = (
    BOOKING_CREATED,
    BOOKING_CONFIRMED,
    BOOKING_RESCHEDULED,
    BOOKING_CANCELLED,
    BOOKING_EXPIRED,
    BOOKING_COMPLETED,
    BOOKING_NO_SHOW,
    BOOKING_REMINDER_DUE,
    BOOKING_REFUND_REQUESTED,
    SCHEDULE_SAVED,
    WAITLIST_OFFERED,
)

# What booking consumes.
SERVICE_PUBLISHED = EventType.of(catalog_events.ServicePublished)
SERVICE_UPDATED = EventType.of(catalog_events.ServiceUpdated)
SERVICE_ARCHIVED = EventType.of(catalog_events.ServiceArchived)
PAYMENT_SUCCEEDED = EventType.of(payments_events.PaymentSucceeded)
PAYMENT_FAILED = EventType.of(payments_events.PaymentFailed)
PARTICIPANT_JOINED = EventType.of(streams_events.ParticipantJoined)
PARTICIPANT_LEFT = EventType.of(streams_events.ParticipantLeft)


def event_message(event: object) -> tuple[EventType[Message], Message, str]:
    """A domain event as its event type, its message and the subject it is about."""
    match event:
        case BookingCreated():
            message = events_pb2.BookingCreated(booking=snapshot(event.booking))
            if event.booking.hold_expires_at is not None:
                message.hold_expire_time.CopyFrom(timestamp(event.booking.hold_expires_at))
            return BOOKING_CREATED, message, _subject(event.booking.id)
        case BookingConfirmed():
            return (
                BOOKING_CONFIRMED,
                events_pb2.BookingConfirmed(
                    booking=snapshot(event.booking), payment_id=event.payment_id
                ),
                _subject(event.booking.id),
            )
        case BookingRescheduled():
            return (
                BOOKING_RESCHEDULED,
                events_pb2.BookingRescheduled(
                    booking=snapshot(event.booking),
                    previous_times=[booked_time(t) for t in event.previous_times],
                    rescheduled_by=ACTORS.to_proto(event.by),
                ),
                _subject(event.booking.id),
            )
        case BookingCancelled():
            return (
                BOOKING_CANCELLED,
                events_pb2.BookingCancelled(
                    booking=snapshot(event.booking),
                    cancelled_by=ACTORS.to_proto(event.by),
                    refund_percent=event.refund_percent,
                    reason=event.reason,
                ),
                _subject(event.booking.id),
            )
        case BookingExpired():
            return (
                BOOKING_EXPIRED,
                events_pb2.BookingExpired(booking=snapshot(event.booking)),
                _subject(event.booking.id),
            )
        case BookingCompleted():
            return (
                BOOKING_COMPLETED,
                events_pb2.BookingCompleted(
                    booking=snapshot(event.booking),
                    amount_paid=money(event.amount_paid),
                    complete_time=timestamp(event.completed_at),
                    completed_by=ACTORS.to_proto(event.by),
                ),
                _subject(event.booking.id),
            )
        case BookingNoShow():
            return (
                BOOKING_NO_SHOW,
                events_pb2.BookingNoShow(
                    booking=snapshot(event.booking),
                    marked_by=ACTORS.to_proto(event.by),
                    amount_paid=money(event.amount_paid),
                    mark_time=timestamp(event.marked_at),
                ),
                _subject(event.booking.id),
            )
        case ReminderDue():
            return (
                BOOKING_REMINDER_DUE,
                events_pb2.BookingReminderDue(
                    booking=snapshot(event.booking),
                    reminder=REMINDERS.to_proto(event.reminder),
                    recipient_user_id=event.recipient_user_id,
                    time=booked_time(event.time),
                    attendees=event.attendees,
                ),
                event.subject,
            )
        case RefundRequested():
            return (
                BOOKING_REFUND_REQUESTED,
                events_pb2.BookingRefundRequested(
                    booking_id=event.booking_id,
                    payment_id=event.payment_id,
                    client_id=event.client_id,
                    amount=money(event.amount),
                    reason=event.reason,
                ),
                _subject(event.booking_id),
            )
        case ScheduleSaved():
            return (
                SCHEDULE_SAVED,
                events_pb2.ScheduleSaved(
                    practitioner_id=event.practitioner_id,
                    practitioner_user_id=event.practitioner_user_id,
                    time_zone=event.time_zone,
                ),
                f"practitioners/{event.practitioner_id}",
            )
        case WaitlistOffered():
            return (
                WAITLIST_OFFERED,
                events_pb2.WaitlistOffered(
                    offer_id=event.offer_id,
                    service_id=event.service_id,
                    client_id=event.client_id,
                    time=booked_time(event.time),
                    expire_time=timestamp(event.expires_at),
                    service_title=event.service_title,
                    time_zone=event.time_zone,
                ),
                f"waitlist/{event.offer_id}",
            )
    raise TypeError(f"booking publishes no {event!r}")


def _subject(booking_id: str) -> str:
    return f"bookings/{booking_id}"
