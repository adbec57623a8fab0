"""The events catalog emits and consumes (names and schemas are declared in the protos), and
each domain event as the message it is published as."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.catalog.v1 import events_pb2
from estuary.payments.v1 import events_pb2 as payments_events
from services.catalog.domain.events import (
    PractitionerApproved,
    PractitionerRejected,
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

EMITTED = (
    PRACTITIONER_APPROVED,
    PRACTITIONER_REJECTED,
    SERVICE_PUBLISHED,
    SERVICE_UPDATED,
    SERVICE_ARCHIVED,
)

SUBSCRIPTION_TIER_CHANGED = EventType.of(payments_events.SubscriptionTierChanged)

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
    raise TypeError(f"catalog publishes no {event!r}")
