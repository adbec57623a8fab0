"""The events identity emits; their names and schemas are declared in its events.proto."""

from __future__ import annotations

from chassis.bus.envelope import EventType
from estuary.identity.v1 import events_pb2

USER_REGISTERED = EventType.of(events_pb2.UserRegistered)
USER_EMAIL_VERIFIED = EventType.of(events_pb2.UserEmailVerified)
USER_PASSWORD_RESET_REQUESTED = EventType.of(events_pb2.UserPasswordResetRequested)
USER_SUSPENDED = EventType.of(events_pb2.UserSuspended)
USER_REACTIVATED = EventType.of(events_pb2.UserReactivated)
USER_DELETED = EventType.of(events_pb2.UserDeleted)

EMITTED = (
    USER_REGISTERED,
    USER_EMAIL_VERIFIED,
    USER_PASSWORD_RESET_REQUESTED,
    USER_SUSPENDED,
    USER_REACTIVATED,
    USER_DELETED,
)
