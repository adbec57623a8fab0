"""The events identity emits and the ones it consumes."""

from __future__ import annotations

from chassis.bus.envelope import EventType
from estuary.identity.v1 import events_pb2

USER_REGISTERED = EventType(
    "user.registered",
    events_pb2.UserRegistered,
    "identity",
    "An account was created; carries the email verification token.",
)
USER_EMAIL_VERIFIED = EventType(
    "user.email_verified",
    events_pb2.UserEmailVerified,
    "identity",
    "A user proved they own their email address.",
)
USER_PASSWORD_RESET_REQUESTED = EventType(
    "user.password_reset_requested",
    events_pb2.UserPasswordResetRequested,
    "identity",
    "A password reset was asked for; carries the single-use reset token.",
)
USER_DELETED = EventType(
    "user.deleted",
    events_pb2.UserDeleted,
    "identity",
    "A user's personal data was erased; consumers erase their copies.",
)

EMITTED = (USER_REGISTERED, USER_EMAIL_VERIFIED, USER_PASSWORD_RESET_REQUESTED, USER_DELETED)
