"""The events identity emits: their types (declared in its events.proto) and the proto
message each domain event is published as."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.wire import from_struct, optional_instant, timestamp
from estuary.chassis.v1 import events_pb2 as chassis_events
from estuary.identity.v1 import events_pb2
from services.identity.domain.audit import AuditEntry
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


_TYPE_OF = {event_type.message: event_type for event_type in EMITTED}


def event_message(event: UserEvent) -> tuple[EventType[Any], Message, str]:
    """A domain event as the event type, message and subject it is published as."""
    message = _message(event)
    return _TYPE_OF[type(message)], message, f"users/{event.user_id}"


def _message(event: UserEvent) -> Message:
    match event:
        case UserRegistered():
            return events_pb2.UserRegistered(
                user_id=event.user_id,
                email=event.email,
                full_name=event.full_name,
                verification_token=event.verification_token,
                verification_expire_time=timestamp(event.verification_expires_at),
            )
        case UserEmailVerified():
            return events_pb2.UserEmailVerified(user_id=event.user_id, email=event.email)
        case UserPasswordResetRequested():
            return events_pb2.UserPasswordResetRequested(
                user_id=event.user_id,
                email=event.email,
                reset_token=event.reset_token,
                expire_time=timestamp(event.expires_at),
            )
        case UserSuspended():
            return events_pb2.UserSuspended(
                user_id=event.user_id, suspend_time=timestamp(event.suspended_at)
            )
        case UserReactivated():
            return events_pb2.UserReactivated(
                user_id=event.user_id, reactivate_time=timestamp(event.reactivated_at)
            )
        case UserDeleted():
            return events_pb2.UserDeleted(user_id=event.user_id)
    raise TypeError(f"identity publishes no {event!r}")


def staff_action_entry(
    entry_id: str,
    service: str,
    action: chassis_events.StaffActionRecorded,
    received_at: datetime,
) -> AuditEntry:
    """A staff action, from any service, as the audit log files it (at the time it was
    taken, or when it arrived if the message does not say)."""
    return AuditEntry(
        id=entry_id,
        service=service,
        actor_id=action.actor_id,
        action=action.action,
        target=action.target,
        target_user_id=action.target_user_id,
        before=from_struct(action.before),
        after=from_struct(action.after),
        reason=action.reason,
        request_id=action.request_id,
        created_at=optional_instant(action.record_time, action.HasField("record_time"))
        or received_at,
    )
