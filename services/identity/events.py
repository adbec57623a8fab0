"""The events identity emits: their types (declared in its events.proto) and the proto
message each domain event is published as."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import timestamp
from estuary.identity.v1 import events_pb2
from services.identity.domain.events import (
    UserDeleted,
    UserEmailVerified,
    UserEvent,
    UserPasswordResetRequested,
    UserReactivated,
    UserRegistered,
    UserSuspended,
)

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


def event_message(event: UserEvent) -> tuple[EventType[Any], Message, str]:
    """A domain event as the event type, message and subject it is published as."""
    subject = f"users/{event.user_id}"
    match event:
        case UserRegistered():
            return (
                USER_REGISTERED,
                events_pb2.UserRegistered(
                    user_id=event.user_id,
                    email=event.email,
                    full_name=event.full_name,
                    verification_token=event.verification_token,
                    verification_expire_time=timestamp(event.verification_expires_at),
                ),
                subject,
            )
        case UserEmailVerified():
            return (
                USER_EMAIL_VERIFIED,
                events_pb2.UserEmailVerified(user_id=event.user_id, email=event.email),
                subject,
            )
        case UserPasswordResetRequested():
            return (
                USER_PASSWORD_RESET_REQUESTED,
                events_pb2.UserPasswordResetRequested(
                    user_id=event.user_id,
                    email=event.email,
                    reset_token=event.reset_token,
                    expire_time=timestamp(event.expires_at),
                ),
                subject,
            )
        case UserSuspended():
            return (
                USER_SUSPENDED,
                events_pb2.UserSuspended(
                    user_id=event.user_id, suspend_time=timestamp(event.suspended_at)
                ),
                subject,
            )
        case UserReactivated():
            return (
                USER_REACTIVATED,
                events_pb2.UserReactivated(
                    user_id=event.user_id, reactivate_time=timestamp(event.reactivated_at)
                ),
                subject,
            )
        case UserDeleted():
            return USER_DELETED, events_pb2.UserDeleted(user_id=event.user_id), subject
    raise TypeError(f"identity publishes no {event!r}")
