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
    NEW_POST = "new_post"
    WAITLIST_OFFERED = "waitlist_offered"
    REVIEW_REPLIED = "review_replied"
    BOOKING_NO_SHOW = "booking_no_show"


class Channel(StrEnum):
    """Where a notification reaches its recipient."""

    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


@dataclass(frozen=True)
class KindRule:
    """The channels a kind is offered on, those of them a user cannot switch off, and those
    that stay off until the user switches them on."""

    channels: frozenset[Channel]
    required: frozenset[Channel] = frozenset()
    opt_in: frozenset[Channel] = frozenset()


BOTH = frozenset({Channel.IN_APP, Channel.EMAIL})
# A session about to happen or that moved is worth a buzz on the phone: push is on for it.
# Text messages cost money and wake people: offered for what cannot wait, off until chosen.
BOOKING_NEWS = KindRule(BOTH | {Channel.PUSH, Channel.SMS}, opt_in=frozenset({Channel.SMS}))
# Everything else may reach the phone too, once the user asks for it.
PUSH_ON_REQUEST = KindRule(BOTH | {Channel.PUSH}, opt_in=frozenset({Channel.PUSH}))
URGENT_MONEY = KindRule(
    BOTH | {Channel.PUSH, Channel.SMS}, opt_in=frozenset({Channel.PUSH, Channel.SMS})
)
# Transactional mail: a person who cannot read it cannot get into their account. Each kind
# names its required channels itself, so a kind added later is never required by accident
# (which would silently override the opt-outs of everyone who switched it off).
TRANSACTIONAL = KindRule(frozenset({Channel.EMAIL}), required=frozenset({Channel.EMAIL}))
RULES: Mapping[Kind, KindRule] = {
    Kind.EMAIL_VERIFICATION: TRANSACTIONAL,
    Kind.PASSWORD_RESET: TRANSACTIONAL,
    Kind.PRACTITIONER_APPROVED: PUSH_ON_REQUEST,
    Kind.PRACTITIONER_REJECTED: PUSH_ON_REQUEST,
    Kind.BOOKING_CONFIRMED: BOOKING_NEWS,
    Kind.BOOKING_RESCHEDULED: BOOKING_NEWS,
    Kind.BOOKING_CANCELLED: BOOKING_NEWS,
    Kind.BOOKING_REMINDER: BOOKING_NEWS,
    Kind.BOOKING_COMPLETED: PUSH_ON_REQUEST,
    # Charged for a session they missed: they must hear of it, to say so if it is wrong.
    Kind.BOOKING_NO_SHOW: BOOKING_NEWS,
    # A held seat waits two hours for its taker, then goes to the next in line: booking news.
    Kind.WAITLIST_OFFERED: BOOKING_NEWS,
    Kind.REVIEW_CREATED: PUSH_ON_REQUEST,
    Kind.REVIEW_REPLIED: PUSH_ON_REQUEST,
    Kind.PAYMENT_FAILED: URGENT_MONEY,
    Kind.REFUND_ISSUED: PUSH_ON_REQUEST,
    Kind.PAYOUT_PAID: PUSH_ON_REQUEST,
    Kind.PAYOUT_FAILED: URGENT_MONEY,
    Kind.PLATFORM_TIER_CHANGED: PUSH_ON_REQUEST,
    # The messages themselves are in-app already: the digest is the mail of them.
    Kind.MESSAGE_DIGEST: KindRule(frozenset({Channel.EMAIL})),
    # A creator may post daily: in the app by default, a mail or a buzz only when asked for.
    Kind.NEW_POST: KindRule(BOTH | {Channel.PUSH}, opt_in=frozenset({Channel.EMAIL, Channel.PUSH})),
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
    """A user's choices; every offered pair is on unless they switched it off, but for the
    opt-in pairs, off until they switch them on."""

    def __init__(self, chosen: Iterable[Preference] = ()) -> None:
        self._chosen = {(p.kind, p.channel): p.enabled for p in chosen}

    def allows(self, kind: Kind, channel: Channel) -> bool:
        rule = RULES[kind]
        if channel not in rule.channels:
            return False
        if channel in rule.required:
            return True
        return self._chosen.get((kind, channel), channel not in rule.opt_in)

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
    phone_number: str = ""


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
