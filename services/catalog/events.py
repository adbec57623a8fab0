"""The events catalog emits and consumes; names and schemas are declared in the protos."""

from __future__ import annotations

from chassis.bus.envelope import EventType
from estuary.catalog.v1 import events_pb2
from estuary.payments.v1 import events_pb2 as payments_events

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
