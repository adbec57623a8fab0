"""Identity's domain events as the messages and subjects they are published as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from chassis.wire import instant
from estuary.identity.v1 import events_pb2
from services.identity.domain.events import (
    UserDeleted,
    UserEmailVerified,
    UserPasswordResetRequested,
    UserReactivated,
    UserRegistered,
    UserSuspended,
)
from services.identity.events import EMITTED, event_message

AT = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)


def test_every_domain_event_is_published_as_its_message_about_its_user():
    registered = UserRegistered("u1", "ana@example.com", "Ana", "secret", AT)
    event_type, message, subject = event_message(registered)
    assert (event_type.name, subject) == ("user.registered", "users/u1")
    assert isinstance(message, events_pb2.UserRegistered)
    assert (message.email, message.full_name, message.verification_token) == (
        "ana@example.com",
        "Ana",
        "secret",
    )
    assert instant(message.verification_expire_time) == AT

    _, reset, _ = event_message(UserPasswordResetRequested("u1", "ana@example.com", "r", AT))
    assert (reset.reset_token, instant(reset.expire_time)) == ("r", AT)
    _, suspended, _ = event_message(UserSuspended("u1", AT))
    assert instant(suspended.suspend_time) == AT
    _, reactivated, _ = event_message(UserReactivated("u1", AT))
    assert instant(reactivated.reactivate_time) == AT
    _, verified, _ = event_message(UserEmailVerified("u1", "ana@example.com"))
    assert verified.email == "ana@example.com"


def test_the_mapping_covers_exactly_the_events_identity_declares():
    published = {
        event_message(event)[0]
        for event in (
            UserRegistered("u", "e", "n", "t", AT),
            UserEmailVerified("u", "e"),
            UserPasswordResetRequested("u", "e", "t", AT),
            UserSuspended("u", AT),
            UserReactivated("u", AT),
            UserDeleted("u"),
        )
    }
    assert published == set(EMITTED)
    with pytest.raises(TypeError, match="identity publishes no"):
        event_message(Unmapped("u"))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Unmapped:
    """A domain event someone added without saying how it is published."""

    user_id: str
