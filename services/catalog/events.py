"""The events catalog emits and consumes (names and schemas are declared in the protos), and
each domain event as the message it is published as."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.booking.v1 import events_pb2 as booking_events
from estuary.catalog.v1 import events_pb2
from estuary.payments.v1 import events_pb2 as payments_events
from services.catalog.domain.events import (
    PractitionerApproved,
    PractitionerRejected,
    ReviewCreated,
    ReviewReplied,
    ServiceArchived,
    ServicePublished,
    ServiceTermsChanged,
    ServiceUpdated,
)
from services.catalog.wire import service_terms

PRACTITIONER_APPROVED = EventType.of(events_pb2.PractitionerApproved)
PRACTITIONER_REJECTED = EventType.of(events_pb2.PractitionerRejected)
SERVICE_PUBLISHED = EventType.of(events_pb2.ServicePublished)
SERVICE_UPDATED = EventType.of(events_pb2.ServiceUpdated)
SERVICE_ARCHIVED = EventType.of(events_pb2.ServiceArchived)
REVIEW_CREATED = EventType.of(events_pb2.ReviewCreated)
REVIEW_REPLIED = EventType.of(events_pb2.ReviewReplied)

EMITTED = (
    PRACTITIONER_APPROVED,
    PRACTITIONER_REJECTED,
    SERVICE_PUBLISHED,
    SERVICE_UPDATED,
    SERVICE_ARCHIVED,
    REVIEW_CREATED,
    REVIEW_REPLIED,
)

SUBSCRIPTION_TIER_CHANGED = EventType.of(payments_events.SubscriptionTierChanged)
BOOKING_COMPLETED = EventType.of(booking_events.BookingCompleted)
SCHEDULE_SAVED = EventType.of(booking_events.ScheduleSaved)

# The events that carry a service's terms, and the messages they are published as.
_TERMS: dict[type[ServiceTermsChanged], tuple[EventType[Any], Callable[..., Message]]] = {
    ServicePublished: (SERVICE_PUBLISHED, events_pb2.ServicePublished),
    ServiceUpdated: (SERVICE_UPDATED, events_pb2.ServiceUpdated),
}


def event_message(event: object) -> tuple[EventType[Message], Message, str]:
    """A domain event as its event type, its message and the subject it is about."""
    match event:
        case PractitionerApproved():
            return (
                PRACTITIONER_APPROVED,
                events_pb2.PractitionerApproved(
                    practitioner_id=event.practitioner_id,
                    user_id=event.user_id,
                    display_name=event.display_name,
                    approve_time=timestamp(event.approved_at),
                ),
                f"practitioners/{event.practitioner_id}",
            )
        case PractitionerRejected():
            return (
                PRACTITIONER_REJECTED,
                events_pb2.PractitionerRejected(
                    practitioner_id=event.practitioner_id,
                    user_id=event.user_id,
                    reason=event.reason,
                ),
                f"practitioners/{event.practitioner_id}",
            )
        case ServiceTermsChanged():
            event_type, message = _TERMS[type(event)]
            terms = service_terms(event.service, event.practitioner_user_id, event.timezone)
            return event_type, message(service=terms), f"services/{event.service.id}"
        case ServiceArchived():
            return (
                SERVICE_ARCHIVED,
                events_pb2.ServiceArchived(
                    service_id=event.service_id,
                    practitioner_id=event.practitioner_id,
                    archive_time=timestamp(event.archived_at),
                ),
                f"services/{event.service_id}",
            )
        case ReviewCreated():
            return (
                REVIEW_CREATED,
                events_pb2.ReviewCreated(
                    review_id=event.review_id,
                    booking_id=event.booking_id,
                    service_id=event.service_id,
                    practitioner_id=event.practitioner_id,
                    practitioner_user_id=event.practitioner_user_id,
                    client_id=event.client_id,
                    rating=event.rating,
                    create_time=timestamp(event.created_at),
                ),
                f"reviews/{event.review_id}",
            )
        case ReviewReplied():
            return (
                REVIEW_REPLIED,
                events_pb2.ReviewReplied(
                    review_id=event.review_id,
                    service_id=event.service_id,
                    practitioner_id=event.practitioner_id,
                    client_id=event.client_id,
                    reply_time=timestamp(event.replied_at),
                ),
                f"reviews/{event.review_id}",
            )
    raise TypeError(f"catalog publishes no {event!r}")
