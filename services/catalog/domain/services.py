"""Services of five kinds: what each must be to go on sale, how one changes, is archived and
is quoted."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import check_currency
from chassis.validation import Violations
from services.catalog.domain.bounds import (
    BOOKING_WINDOW_DAYS,
    BUFFER_MINUTES,
    BUNDLE_QUANTITY,
    BUNDLE_SIZE,
    COURSE_SESSIONS,
    DESCRIPTION_LENGTH,
    DURATION_MINUTES,
    GROUP_SEATS,
    HOURS_BEFORE,
    MIN_NOTICE_MINUTES,
    PACKAGE_SESSIONS,
    PACKAGE_VALIDITY_DAYS,
    PRICE_MINOR,
    REFUND_PERCENT,
    REFUND_RULE_COUNT,
    SESSION_SEATS,
    TITLE_LENGTH,
    WORKSHOP_SESSIONS,
)
from services.catalog.domain.events import ServiceArchived, ServicePublished, ServiceUpdated
from services.catalog.domain.fields import check_paths, check_text
from services.catalog.domain.practitioners import LocationKind, Practitioner


class ServiceKind(StrEnum):
    SESSION = "session"
    WORKSHOP = "workshop"
    COURSE = "course"
    PACKAGE = "package"
    BUNDLE = "bundle"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


# Kinds sold as dated sessions for a group.
DATED_KINDS = frozenset({ServiceKind.WORKSHOP, ServiceKind.COURSE})


@dataclass(frozen=True)
class RefundRule:
    hours_before: int
    refund_percent: int


@dataclass(frozen=True)
class DatedSession:
    starts_at: datetime
    duration_minutes: int


@dataclass(frozen=True)
class PackageTerms:
    session_service_id: str
    session_count: int
    validity_days: int


@dataclass(frozen=True)
class BundleItem:
    service_id: str
    quantity: int


# What a practitioner may change on a service (the kind never changes); "price" and
# "location" each set two attributes.
SERVICE_PATHS = frozenset(
    {
        "title",
        "description",
        "category_id",
        "price",
        "duration_minutes",
        "location",
        "max_participants",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "min_notice_minutes",
        "booking_window_days",
        "cancellation_policy",
        "sessions",
        "package",
        "bundle_items",
    }
)
_PATH_ATTRIBUTES = {
    "price": ("price_minor", "currency"),
    "location": ("location_kind", "location_id"),
}


@dataclass(frozen=True)
class ServiceContext:
    """What checking a service needs to know beyond the service itself."""

    practitioner: Practitioner
    category_exists: bool
    # The practitioner's other services that a package or bundle refers to, by id.
    referenced: dict[str, Service]
    now: datetime
    default_policy: list[RefundRule]


@dataclass
class Service:
    id: str
    practitioner_id: str
    kind: ServiceKind
    title: str
    description: str
    category_id: str
    price_minor: int
    currency: str
    duration_minutes: int
    location_kind: LocationKind
    location_id: str | None
    max_participants: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    booking_window_days: int
    cancellation_policy: list[RefundRule]
    status: ServiceStatus
    created_at: datetime
    updated_at: datetime
    sessions: list[DatedSession] = field(default_factory=list)
    package: PackageTerms | None = None
    bundle_items: list[BundleItem] = field(default_factory=list)
    archived_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is ServiceStatus.ACTIVE

    @property
    def referenced_ids(self) -> list[str]:
        """The other services a package or bundle is made of."""
        wanted = [item.service_id for item in self.bundle_items]
        if self.package and self.package.session_service_id:
            wanted.append(self.package.session_service_id)
        return wanted

    @classmethod
    def publish(
        cls, draft: Service, service_id: str, context: ServiceContext
    ) -> tuple[Service, ServicePublished]:
        """A service put on sale by its practitioner (approved, see check_may_sell): checked
        as its kind needs, and announced."""
        context.practitioner.check_may_sell()
        service = check_service(
            replace(
                draft,
                id=service_id,
                practitioner_id=context.practitioner.id,
                status=ServiceStatus.ACTIVE,
                created_at=context.now,
                updated_at=context.now,
                archived_at=None,
            ),
            context,
        )
        return service, ServicePublished.of(service, context.practitioner)

    def changed(self, paths: Sequence[str], values: Service) -> Service:
        """The service as it would be with the fields named taken from values, unchecked
        (what its context is read for)."""
        check_paths(paths, SERVICE_PATHS)
        changes = {
            attribute: getattr(values, attribute)
            for path in paths
            for attribute in _PATH_ATTRIBUTES.get(path, (path,))
        }
        return replace(self, **changes)

    def update(
        self, paths: Sequence[str], values: Service, context: ServiceContext
    ) -> ServiceUpdated:
        """Changes the fields named, checked again as a whole; an archived service never
        changes."""
        changed = self.changed(paths, values)
        if not self.is_active:
            raise FailedPrecondition("archived services cannot change", reason="ARCHIVED")
        checked = check_service(replace(changed, updated_at=context.now), context)
        vars(self).update(vars(checked))
        return ServiceUpdated.of(self, context.practitioner)

    def archive(self, now: datetime, *, in_use: bool = False) -> ServiceArchived:
        """Withdraws the service from sale, unless an active package or bundle is made of it."""
        if not self.is_active:
            raise FailedPrecondition("the service is already archived", reason="ARCHIVED")
        if in_use:
            raise FailedPrecondition(
                "an active package or bundle contains this service; archive it first",
                reason="IN_USE",
            )
        self.status = ServiceStatus.ARCHIVED
        self.archived_at = now
        self.updated_at = now
        return ServiceArchived(self.id, self.practitioner_id, now)

    def quote(self, practitioner: Practitioner, quantity: int) -> Quote:
        """The price to charge now for this many seats (0 reads as 1); only while on sale."""
        quantity = quantity or 1
        if not self.is_active or not practitioner.is_listed:
            raise FailedPrecondition("the service is not on sale", reason="NOT_ON_SALE")
        seats = self.max_participants if self.kind in DATED_KINDS else 1
        if not 1 <= quantity <= seats:
            raise InvalidArgument.field(
                "quantity", f"must be between 1 and {seats}", "out_of_range"
            )
        return Quote(self, practitioner, quantity)


@dataclass(frozen=True)
class Quote:
    service: Service
    practitioner: Practitioner
    quantity: int

    @property
    def total_minor(self) -> int:
        return self.service.price_minor * self.quantity


def check_service(service: Service, context: ServiceContext) -> Service:
    """A sellable service of its kind, or an error naming every bad field.

    Derived values are filled in: a session seats one, a package takes its duration from its
    session service, an empty cancellation policy becomes the platform default.
    """
    v = Violations()
    s = replace(
        service,
        title=check_text(v, "title", service.title, TITLE_LENGTH),
        description=check_text(v, "description", service.description, DESCRIPTION_LENGTH),
        currency=service.currency.strip().upper(),
    )
    if not context.category_exists:
        v.add("category_id", "is not a category", "unknown_category")
    v.check(lambda: check_currency(s.currency, "price.currency"), "")
    PRICE_MINOR.check(v, "price.amount_minor", s.price_minor)
    _check_location_choice(s, context, v)
    BUFFER_MINUTES.check(v, "buffer_before_minutes", s.buffer_before_minutes)
    BUFFER_MINUTES.check(v, "buffer_after_minutes", s.buffer_after_minutes)
    MIN_NOTICE_MINUTES.check(v, "min_notice_minutes", s.min_notice_minutes)
    BOOKING_WINDOW_DAYS.check(v, "booking_window_days", s.booking_window_days)
    s.cancellation_policy = _check_policy(s.cancellation_policy, context.default_policy, v)
    if s.kind is ServiceKind.SESSION:
        s = _check_session_kind(s, v)
    elif s.kind in DATED_KINDS:
        s = _check_dated_kind(s, context.now, v)
    elif s.kind is ServiceKind.PACKAGE:
        s = _check_package(s, context, v)
    elif s.kind is ServiceKind.BUNDLE:
        s = _check_bundle(s, context, v)
    v.raise_if_any()
    return s


def saving_of(service: Service, parts_price_minor: int | None) -> int | None:
    """What a package's or bundle's parts would cost bought one by one, minus its price."""
    if service.kind not in (ServiceKind.PACKAGE, ServiceKind.BUNDLE) or parts_price_minor is None:
        return None
    return parts_price_minor - service.price_minor


def _check_location_choice(s: Service, context: ServiceContext, v: Violations) -> None:
    if s.location_kind is LocationKind.VIRTUAL:
        s.location_id = None
        return
    if not s.location_id:
        v.add("location.location_id", "is required for an in-person service", "required")
        return
    place = context.practitioner.active_location(s.location_id)
    if place is None or place.kind is not LocationKind.IN_PERSON:
        v.add("location.location_id", "is not one of your in-person locations", "unknown_location")


def _check_policy(
    rules: list[RefundRule], default: list[RefundRule], v: Violations
) -> list[RefundRule]:
    if not rules:
        return list(default)
    if len(rules) > REFUND_RULE_COUNT.high:
        v.add(
            "cancellation_policy",
            f"must hold at most {REFUND_RULE_COUNT.high} rules",
            "too_many",
        )
        return rules
    ordered = sorted(rules, key=lambda r: r.hours_before, reverse=True)
    for index, rule in enumerate(ordered):
        HOURS_BEFORE.check(v, f"cancellation_policy[{index}].hours_before", rule.hours_before)
        REFUND_PERCENT.check(v, f"cancellation_policy[{index}].refund_percent", rule.refund_percent)
    if len({r.hours_before for r in ordered}) != len(ordered):
        v.add("cancellation_policy", "must not repeat an hours_before", "duplicate")
    if any(a.refund_percent < b.refund_percent for a, b in itertools.pairwise(ordered)):
        v.add("cancellation_policy", "must not refund more for cancelling later", "not_monotonic")
    return ordered


def _check_session_kind(s: Service, v: Violations) -> Service:
    DURATION_MINUTES.check(v, "duration_minutes", s.duration_minutes)
    if s.max_participants not in SESSION_SEATS:
        v.add("max_participants", "must be 1 for a session (one client)", "out_of_range")
    if s.sessions or s.package or s.bundle_items:
        v.add(
            "kind",
            "a session has no dated sessions, package terms or bundle items",
            "kind_mismatch",
        )
    return replace(s, max_participants=1)


def _check_dated_kind(s: Service, now: datetime, v: Violations) -> Service:
    DURATION_MINUTES.check(v, "duration_minutes", s.duration_minutes)
    GROUP_SEATS.check(v, "max_participants", s.max_participants)
    count = WORKSHOP_SESSIONS if s.kind is ServiceKind.WORKSHOP else COURSE_SESSIONS
    if len(s.sessions) not in count:
        v.add(
            "sessions",
            f"a {s.kind.value} needs between {count.low} and {count.high} dated sessions",
            "out_of_range",
        )
    if s.package or s.bundle_items:
        v.add("kind", f"a {s.kind.value} has no package terms or bundle items", "kind_mismatch")
    ordered = sorted(s.sessions, key=lambda x: x.starts_at)
    for index, session in enumerate(ordered):
        if session.starts_at <= now:
            v.add(f"sessions[{index}].start_time", "must be in the future", "in_the_past")
        DURATION_MINUTES.check(v, f"sessions[{index}].duration_minutes", session.duration_minutes)
    for index, (a, b) in enumerate(itertools.pairwise(ordered)):
        if a.starts_at + timedelta(minutes=a.duration_minutes) > b.starts_at:
            v.add(f"sessions[{index + 1}].start_time", "overlaps the session before it", "overlap")
    return replace(s, sessions=ordered)


def _check_package(s: Service, context: ServiceContext, v: Violations) -> Service:
    terms = s.package
    if terms is None:
        v.add("package", "is required for a package", "required")
        return s
    if s.sessions or s.bundle_items:
        v.add("kind", "a package has no dated sessions or bundle items", "kind_mismatch")
    PACKAGE_SESSIONS.check(v, "package.session_count", terms.session_count)
    PACKAGE_VALIDITY_DAYS.check(v, "package.validity_days", terms.validity_days)
    part = context.referenced.get(terms.session_service_id)
    if part is None or not part.is_active or part.kind is not ServiceKind.SESSION:
        v.add(
            "package.session_service_id",
            "must be one of your active session services",
            "unknown_service",
        )
        return s
    if part.currency != s.currency:
        v.add(
            "price.currency",
            f"must match the session service's currency {part.currency}",
            "currency_mismatch",
        )
    if s.price_minor >= part.price_minor * terms.session_count:
        v.add(
            "price.amount_minor", "must be less than the sessions bought one by one", "no_discount"
        )
    return replace(s, duration_minutes=part.duration_minutes, max_participants=1)


def _check_bundle(s: Service, context: ServiceContext, v: Violations) -> Service:
    if s.sessions or s.package:
        v.add("kind", "a bundle has no dated sessions or package terms", "kind_mismatch")
    if len(s.bundle_items) not in BUNDLE_SIZE:
        v.add(
            "bundle_items",
            f"a bundle holds between {BUNDLE_SIZE.low} and {BUNDLE_SIZE.high} services",
            "out_of_range",
        )
    if len({i.service_id for i in s.bundle_items}) != len(s.bundle_items):
        v.add("bundle_items", "must not list a service twice", "duplicate")
    total = 0
    duration = 0
    for index, item in enumerate(s.bundle_items):
        BUNDLE_QUANTITY.check(v, f"bundle_items[{index}].quantity", item.quantity)
        part = context.referenced.get(item.service_id)
        if part is None or not part.is_active or part.kind is ServiceKind.BUNDLE:
            v.add(
                f"bundle_items[{index}].service_id",
                "must be one of your active services (not a bundle)",
                "unknown_service",
            )
            continue
        if part.currency != s.currency:
            v.add(
                f"bundle_items[{index}].service_id",
                f"is priced in {part.currency}, not {s.currency}",
                "currency_mismatch",
            )
        total += part.price_minor * item.quantity
        duration += part.duration_minutes * item.quantity
    if s.bundle_items and total and s.price_minor >= total:
        v.add(
            "price.amount_minor", "must be less than the services bought separately", "no_discount"
        )
    return replace(s, duration_minutes=duration, max_participants=1)
