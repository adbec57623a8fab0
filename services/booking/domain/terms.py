"""Booking's own copy of each service's booking terms, as catalog announces them.

Slots are cut from this copy, so a slot request makes no call to catalog; a service not
heard of yet is fetched once. A newer announcement replaces an older one, never the reverse
(events may arrive out of order).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from services.booking.domain.slots import GroupSession, SlotRules


class ServiceKind(StrEnum):
    SESSION = "session"
    WORKSHOP = "workshop"
    COURSE = "course"
    PACKAGE = "package"
    BUNDLE = "bundle"


# Kinds sold as seats on dated sessions, and kinds sold as entitlements to later sessions.
GROUP_KINDS = frozenset({ServiceKind.WORKSHOP, ServiceKind.COURSE})
PURCHASE_KINDS = frozenset({ServiceKind.PACKAGE, ServiceKind.BUNDLE})


class LocationKind(StrEnum):
    VIRTUAL = "virtual"
    IN_PERSON = "in_person"


@dataclass(frozen=True)
class RefundRule:
    """Cancelling at least hours_before the start refunds refund_percent."""

    hours_before: int
    refund_percent: int


@dataclass(frozen=True)
class DatedSession:
    """One meeting of a workshop or course."""

    start: datetime
    duration_minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True)
class PackageTerms:
    session_service_id: str
    session_count: int
    validity_days: int


@dataclass(frozen=True)
class BundleItem:
    service_id: str
    quantity: int


@dataclass(frozen=True)
class ServiceTerms:
    """What booking needs to sell a service: who gives it, when, for how long, for whom."""

    service_id: str
    practitioner_id: str
    practitioner_user_id: str
    time_zone: str
    kind: ServiceKind
    title: str
    price_minor: int
    currency: str
    duration_minutes: int
    max_participants: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    booking_window_days: int
    location_kind: LocationKind
    updated_at: datetime
    on_sale: bool = True
    cancellation_policy: tuple[RefundRule, ...] = ()
    location_id: str = ""
    sessions: tuple[DatedSession, ...] = ()
    package: PackageTerms | None = None
    bundle_items: tuple[BundleItem, ...] = field(default_factory=tuple)

    @property
    def is_group(self) -> bool:
        return self.kind in GROUP_KINDS

    @property
    def is_purchase(self) -> bool:
        return self.kind in PURCHASE_KINDS

    @property
    def min_notice(self) -> timedelta:
        return timedelta(minutes=self.min_notice_minutes)

    @property
    def booking_window(self) -> timedelta:
        return timedelta(days=self.booking_window_days)

    @property
    def parts(self) -> list[str]:
        """The services a package or bundle is made of."""
        found = [item.service_id for item in self.bundle_items]
        if self.package is not None:
            found.append(self.package.session_service_id)
        return found

    def supersedes(self, held: ServiceTerms | None) -> bool:
        """Whether these terms are at least as new as those held (a late, older
        announcement changes nothing)."""
        return held is None or self.updated_at >= held.updated_at

    def archived(self, at: datetime) -> ServiceTerms:
        """The terms once withdrawn from sale (kept for the bookings made earlier)."""
        return replace(self, on_sale=False, updated_at=max(at, self.updated_at))

    def slot_rules(self, step_minutes: int) -> SlotRules:
        """How this session service cuts slots."""
        return SlotRules(
            duration=timedelta(minutes=self.duration_minutes),
            step=timedelta(minutes=step_minutes),
            buffer_before=timedelta(minutes=self.buffer_before_minutes),
            buffer_after=timedelta(minutes=self.buffer_after_minutes),
            min_notice=self.min_notice,
            booking_window=self.booking_window,
        )

    def check_on_sale(self) -> None:
        if not self.on_sale:
            raise FailedPrecondition("the service is not on sale", reason="NOT_ON_SALE")

    def meetings_for(self, start: datetime | None) -> list[DatedSession]:
        """The dated sessions a seat covers: a workshop's one chosen by its start, or every
        meeting of a course (whose start, if given, must be its first)."""
        ordered = sorted(self.sessions, key=lambda s: s.start)
        if self.kind is ServiceKind.COURSE:
            if start is not None and ordered and start != ordered[0].start:
                raise InvalidArgument.field(
                    "start_time",
                    "a course is booked as a whole: leave it empty or give its first meeting",
                    "not_a_session",
                )
            return ordered
        if start is None:
            raise InvalidArgument.field(
                "start_time", "is required: which dated session of the workshop", "required"
            )
        chosen = [s for s in ordered if s.start == start]
        if not chosen:
            raise InvalidArgument.field(
                "start_time", "is not one of the workshop's dated sessions", "not_a_session"
            )
        return chosen

    def group_sessions(self, taken: dict[datetime, int]) -> list[GroupSession]:
        """Each dated session as the slot engine sees it, with the seats taken so far."""
        return [
            GroupSession(s.start, s.end, self.max_participants, taken.get(s.start, 0))
            for s in self.sessions
        ]
