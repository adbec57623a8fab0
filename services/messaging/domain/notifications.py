"""Notifications: what kinds there are, on which channels each may reach a user, and which
of them a user cannot switch off."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chassis.errors import FieldViolation, InvalidArgument

# A notification's resource name: "notifications/{id}".
NOTIFICATION_PREFIX = "notifications/"


class Kind(StrEnum):
    """What a notification is about."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"
    PRACTITIONER_APPROVED = "practitioner_approved"
    PRACTITIONER_REJECTED = "practitioner_rejected"
    BOOKING_CONFIRMED = "booking_confirmed"
    BOOKING_RESCHEDULED = "booking_rescheduled"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_REMINDER = "booking_reminder"
    BOOKING_COMPLETED = "booking_completed"
    REVIEW_CREATED = "review_created"
    PAYMENT_FAILED = "payment_failed"
    REFUND_ISSUED = "refund_issued"
    PAYOUT_PAID = "payout_paid"
    PAYOUT_FAILED = "payout_failed"
    PLATFORM_TIER_CHANGED = "platform_tier_changed"
    MESSAGE_DIGEST = "message_digest"


class Channel(StrEnum):
    """Where a notification reaches its recipient."""

    IN_APP = "in_app"
    EMAIL = "email"


@dataclass(frozen=True)
class KindRule:
    """The channels a kind is offered on, and those of them a user cannot switch off."""

    channels: frozenset[Channel]
    required: frozenset[Channel] = frozenset()


BOTH = frozenset({Channel.IN_APP, Channel.EMAIL})
# Transactional mail: a person who cannot read it cannot get into their account. Each kind
# names its required channels itself, so a kind added later is never required by accident
# (which would silently override the opt-outs of everyone who switched it off).
TRANSACTIONAL = KindRule(frozenset({Channel.EMAIL}), required=frozenset({Channel.EMAIL}))
RULES: Mapping[Kind, KindRule] = {
    Kind.EMAIL_VERIFICATION: TRANSACTIONAL,
    Kind.PASSWORD_RESET: TRANSACTIONAL,
    Kind.PRACTITIONER_APPROVED: KindRule(BOTH),
    Kind.PRACTITIONER_REJECTED: KindRule(BOTH),
    Kind.BOOKING_CONFIRMED: KindRule(BOTH),
    Kind.BOOKING_RESCHEDULED: KindRule(BOTH),
    Kind.BOOKING_CANCELLED: KindRule(BOTH),
    Kind.BOOKING_REMINDER: KindRule(BOTH),
    Kind.BOOKING_COMPLETED: KindRule(BOTH),
    Kind.REVIEW_CREATED: KindRule(BOTH),
    Kind.PAYMENT_FAILED: KindRule(BOTH),
    Kind.REFUND_ISSUED: KindRule(BOTH),
    Kind.PAYOUT_PAID: KindRule(BOTH),
    Kind.PAYOUT_FAILED: KindRule(BOTH),
    Kind.PLATFORM_TIER_CHANGED: KindRule(BOTH),
    # The messages themselves are in-app already: the digest is the mail of them.
    Kind.MESSAGE_DIGEST: KindRule(frozenset({Channel.EMAIL})),
}
if RULES.keys() != set(Kind):
    raise ValueError(f"kinds without a rule: {sorted(set(Kind) - RULES.keys())}")


@dataclass(frozen=True)
class Preference:
    """Whether one kind reaches a user on one channel."""

    kind: Kind
    channel: Channel
    enabled: bool

    @property
    def required(self) -> bool:
        return self.channel in RULES[self.kind].required


class Preferences:
    """A user's choices; every offered pair is on unless they switched it off."""

    def __init__(self, chosen: Iterable[Preference] = ()) -> None:
        self._chosen = {(p.kind, p.channel): p.enabled for p in chosen}

    def allows(self, kind: Kind, channel: Channel) -> bool:
        rule = RULES[kind]
        if channel not in rule.channels:
            return False
        if channel in rule.required:
            return True
        return self._chosen.get((kind, channel), True)

    def channels_for(self, kind: Kind) -> list[Channel]:
        """The channels a notice of this kind goes out on, in a stable order."""
        return [c for c in Channel if self.allows(kind, c)]

    def all(self) -> list[Preference]:
        """Every pair a user can receive, with its effective setting."""
        return [
            Preference(kind, channel, self.allows(kind, channel))
            for kind in Kind
            for channel in Channel
            if channel in RULES[kind].channels
        ]


def validate_changes(changes: list[tuple[Kind | None, Channel | None, bool]]) -> list[Preference]:
    """The changes a user asked for, or one error naming every bad entry."""
    violations: list[FieldViolation] = []
    accepted: list[Preference] = []
    seen: set[tuple[Kind, Channel]] = set()
    for n, (kind, channel, enabled) in enumerate(changes):
        at = f"preferences[{n}]"
        if kind is None:
            violations.append(FieldViolation(f"{at}.kind", "is not a notification kind", "invalid"))
            continue
        if channel is None:
            violations.append(FieldViolation(f"{at}.channel", "is not a channel", "invalid"))
            continue
        rule = RULES[kind]
        if channel not in rule.channels:
            violations.append(
                FieldViolation(
                    f"{at}.channel", f"{kind.value} is not sent by {channel.value}", "not_offered"
                )
            )
        elif channel in rule.required and not enabled:
            violations.append(
                FieldViolation(
                    f"{at}.enabled",
                    f"{kind.value} mail cannot be switched off: it is how an account is reached",
                    "required",
                )
            )
        elif (kind, channel) in seen:
            violations.append(
                FieldViolation(f"{at}", f"{kind.value} by {channel.value} is listed twice", "twice")
            )
        else:
            seen.add((kind, channel))
            accepted.append(Preference(kind, channel, enabled))
    if not changes:
        violations.append(
            FieldViolation("preferences", "must list at least one change", "required")
        )
    if violations:
        raise InvalidArgument(
            "; ".join(f"{v.field}: {v.message}" for v in violations), violations=violations
        )
    return accepted


@dataclass(frozen=True)
class Recipient:
    """A user as messaging knows them, from identity's events."""

    user_id: str
    email: str = ""
    full_name: str = ""
    locale: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class Notice:
    """Something one user must hear of, decided from one event: the event's id makes it
    happen once per recipient and kind, however often the event is delivered."""

    event_id: str
    kind: Kind
    recipient_user_id: str
    subject: str
    context: Mapping[str, Any] = field(default_factory=dict)
    # Where to write when messaging holds no address for the user (the registration event
    # itself carries the address).
    email: str = ""


@dataclass(frozen=True)
class Notification:
    """One in-app notification."""

    id: str
    recipient_user_id: str
    kind: Kind
    title: str
    body: str
    subject: str
    created_at: datetime
    read_at: datetime | None = None
