"""Catalog's rules: what a practitioner profile and a service of each kind must be."""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.auth.principal import AccountStatus
from chassis.errors import AlreadyExists, FieldViolation, InvalidArgument
from chassis.money import check_currency
from chassis.validation import Violations, check_timezone
from services.catalog.reference import COUNTRIES, LANGUAGES


class PractitionerStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Tier(StrEnum):
    FREE = "free"
    ENTRY = "entry"
    PREMIUM = "premium"


class LocationKind(StrEnum):
    VIRTUAL = "virtual"
    IN_PERSON = "in_person"


class ServiceKind(StrEnum):
    SESSION = "session"
    WORKSHOP = "workshop"
    COURSE = "course"
    PACKAGE = "package"
    BUNDLE = "bundle"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    RATING = "rating"
    DISTANCE = "distance"
    NEWEST = "newest"


# Kinds sold as dated sessions for a group.
DATED_KINDS = frozenset({ServiceKind.WORKSHOP, ServiceKind.COURSE})

MAX_PRICE_MINOR = 100_000_000_00  # a hundred million in major units: beyond any wellness price
MAX_LIST_ITEMS = 20


@dataclass
class Location:
    id: str
    kind: LocationKind
    label: str = ""
    address: str = ""
    city: str = ""
    country_code: str = ""
    latitude: float | None = None
    longitude: float | None = None
    removed_at: datetime | None = None


@dataclass
class Onboarding:
    profile_complete: bool
    first_service_created: bool
    availability_set: bool
    payouts_connected: bool

    @property
    def percent_complete(self) -> int:
        steps = (
            self.profile_complete,
            self.first_service_created,
            self.availability_set,
            self.payouts_connected,
        )
        return 25 * sum(steps)


@dataclass
class Profile:
    """What a practitioner says about themselves."""

    display_name: str
    bio: str
    specializations: list[str]
    certifications: list[str]
    years_experience: int
    languages: list[str]
    timezone: str


@dataclass
class Practitioner:
    id: str
    user_id: str
    profile: Profile
    status: PractitionerStatus
    created_at: datetime
    updated_at: datetime
    rejection_reason: str = ""
    featured: bool = False
    tier: Tier = Tier.FREE
    rating_average: float = 0.0
    rating_count: int = 0
    first_service_at: datetime | None = None
    availability_set: bool = False
    payouts_connected: bool = False
    approved_at: datetime | None = None
    locations: list[Location] = field(default_factory=list)
    account_status: AccountStatus = AccountStatus.ACTIVE

    @property
    def is_approved(self) -> bool:
        return self.status is PractitionerStatus.APPROVED

    @property
    def is_listed(self) -> bool:
        """Shown to the public and selling: approved, and the owner's account active."""
        return self.is_approved and self.account_status is AccountStatus.ACTIVE

    @property
    def onboarding(self) -> Onboarding:
        return Onboarding(
            profile_complete=True,
            first_service_created=self.first_service_at is not None,
            availability_set=self.availability_set,
            payouts_connected=self.payouts_connected,
        )

    def active_location(self, location_id: str) -> Location | None:
        return next(
            (loc for loc in self.locations if loc.id == location_id and loc.removed_at is None),
            None,
        )


@dataclass
class Category:
    id: str
    slug: str
    name: str
    description: str
    parent_id: str | None
    position: int
    path: str


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


def service_limit(tier: Tier, limits: dict[Tier, int]) -> int | None:
    """How many active services a tier allows; None for unlimited."""
    limit = limits[tier]
    return None if limit == 0 else limit


# Profiles ----------------------------------------------------------------------------------


def _text(v: Violations, field_name: str, value: str, *, low: int, high: int) -> str:
    value = value.strip()
    if low and not value:
        v.add(field_name, "is required", "required")
    elif len(value) < low:
        v.add(field_name, f"must be at least {low} characters", "too_short")
    elif len(value) > high:
        v.add(field_name, f"must be at most {high} characters", "too_long")
    elif any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        v.add(field_name, "must not contain control characters")
    return value


def _text_list(v: Violations, field_name: str, values: list[str], *, item_max: int) -> list[str]:
    if len(values) > MAX_LIST_ITEMS:
        v.add(field_name, f"must hold at most {MAX_LIST_ITEMS} items", "too_many")
        return []
    cleaned = []
    for index, value in enumerate(values):
        cleaned.append(_text(v, f"{field_name}[{index}]", value, low=1, high=item_max))
    return list(dict.fromkeys(cleaned))


def check_profile(profile: Profile, v: Violations | None = None) -> Profile:
    """A valid profile, or an error naming every bad field."""
    own = v is None
    v = v or Violations()
    languages = [lang.strip().lower() for lang in profile.languages]
    if not languages:
        v.add("languages", "must name at least one language (ISO 639-1, e.g. en)", "required")
    elif len(languages) > 10:
        v.add("languages", "must hold at most 10 languages", "too_many")
    for index, language in enumerate(languages):
        if language not in LANGUAGES:
            v.add(
                f"languages[{index}]",
                "must be an ISO 639-1 code such as en or pt",
                "invalid_language",
            )
    if not 0 <= profile.years_experience <= 80:
        v.add("years_experience", "must be between 0 and 80", "out_of_range")
    checked = Profile(
        display_name=_text(v, "display_name", profile.display_name, low=2, high=100),
        bio=_text(v, "bio", profile.bio, low=0, high=5000),
        specializations=_text_list(v, "specializations", profile.specializations, item_max=60),
        certifications=_text_list(v, "certifications", profile.certifications, item_max=200),
        years_experience=profile.years_experience,
        languages=list(dict.fromkeys(languages)),
        timezone=v.check(lambda: check_timezone(profile.timezone, required=True), ""),
    )
    if own:
        v.raise_if_any()
    return checked


def check_location(location: Location, v: Violations, prefix: str = "") -> Location:
    """A virtual location, or an in-person one with an address and coordinates."""
    if location.kind is LocationKind.VIRTUAL:
        return replace(
            location,
            address="",
            city="",
            country_code="",
            latitude=None,
            longitude=None,
            label=location.label.strip()[:100],
        )
    checked = replace(
        location,
        label=_text(v, f"{prefix}label", location.label, low=0, high=100),
        address=_text(v, f"{prefix}address", location.address, low=1, high=300),
        city=_text(v, f"{prefix}city", location.city, low=1, high=100),
        country_code=location.country_code.strip().upper(),
    )
    if checked.country_code not in COUNTRIES:
        # Named as the API names it (country), like lat and lng below.
        v.add(
            f"{prefix}country",
            "must be an ISO 3166-1 alpha-2 code such as PT",
            "invalid_country",
        )
    if checked.latitude is None or not -90 <= checked.latitude <= 90:
        v.add(f"{prefix}lat", "must be a latitude between -90 and 90", "out_of_range")
    if checked.longitude is None or not -180 <= checked.longitude <= 180:
        v.add(f"{prefix}lng", "must be a longitude between -180 and 180", "out_of_range")
    return checked


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidArgument.field("reason", "is required", "required")
    if len(reason) > 500:
        raise InvalidArgument.field("reason", "must be at most 500 characters", "too_long")
    return reason


# Categories --------------------------------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_category(slug: str, name: str, description: str) -> tuple[str, str, str]:
    v = Violations()
    if not _SLUG.match(slug) or len(slug) > 80:
        v.add(
            "slug", "must be lower-case words joined by hyphens, e.g. sound-healing", "invalid_slug"
        )
    checked_name = _text(v, "name", name, low=1, high=100)
    checked_description = _text(v, "description", description, low=0, high=1000)
    v.raise_if_any()
    return slug, checked_name, checked_description


# Services ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceContext:
    """What checking a service needs to know beyond the service itself."""

    practitioner: Practitioner
    category_exists: bool
    # The practitioner's other services that a package or bundle refers to, by id.
    referenced: dict[str, Service]
    now: datetime
    default_policy: list[RefundRule]


def check_service(service: Service, context: ServiceContext) -> Service:
    """A sellable service of its kind, or an error naming every bad field.

    Derived values are filled in: a session seats one, a package takes its duration from its
    session service, an empty cancellation policy becomes the platform default.
    """
    v = Violations()
    s = replace(
        service,
        title=_text(v, "title", service.title, low=3, high=200),
        description=_text(v, "description", service.description, low=0, high=5000),
        currency=service.currency.strip().upper(),
    )
    if not context.category_exists:
        v.add("category_id", "is not a category", "unknown_category")
    v.check(lambda: check_currency(s.currency, "price.currency"), "")
    if not 0 <= s.price_minor <= MAX_PRICE_MINOR:
        v.add("price.amount_minor", "must be between 0 and 10000000000", "out_of_range")
    _check_location_choice(s, context, v)
    _range(v, "buffer_before_minutes", s.buffer_before_minutes, 0, 240)
    _range(v, "buffer_after_minutes", s.buffer_after_minutes, 0, 240)
    _range(v, "min_notice_minutes", s.min_notice_minutes, 0, 30 * 24 * 60)
    _range(v, "booking_window_days", s.booking_window_days, 1, 730)
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


def _range(v: Violations, field_name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        v.add(field_name, f"must be between {low} and {high}", "out_of_range")


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
    if len(rules) > 10:
        v.add("cancellation_policy", "must hold at most 10 rules", "too_many")
        return rules
    ordered = sorted(rules, key=lambda r: r.hours_before, reverse=True)
    for index, rule in enumerate(ordered):
        if not 0 <= rule.hours_before <= 8760:
            v.add(
                f"cancellation_policy[{index}].hours_before",
                "must be between 0 and 8760",
                "out_of_range",
            )
        if not 0 <= rule.refund_percent <= 100:
            v.add(
                f"cancellation_policy[{index}].refund_percent",
                "must be between 0 and 100",
                "out_of_range",
            )
    if len({r.hours_before for r in ordered}) != len(ordered):
        v.add("cancellation_policy", "must not repeat an hours_before", "duplicate")
    if any(a.refund_percent < b.refund_percent for a, b in itertools.pairwise(ordered)):
        v.add("cancellation_policy", "must not refund more for cancelling later", "not_monotonic")
    return ordered


def _check_session_kind(s: Service, v: Violations) -> Service:
    _range(v, "duration_minutes", s.duration_minutes, 5, 720)
    if s.max_participants not in (0, 1):
        v.add("max_participants", "must be 1 for a session (one client)", "out_of_range")
    if s.sessions or s.package or s.bundle_items:
        v.add(
            "kind",
            "a session has no dated sessions, package terms or bundle items",
            "kind_mismatch",
        )
    return replace(s, max_participants=1)


def _check_dated_kind(s: Service, now: datetime, v: Violations) -> Service:
    _range(v, "duration_minutes", s.duration_minutes, 5, 720)
    _range(v, "max_participants", s.max_participants, 2, 1000)
    low = 1 if s.kind is ServiceKind.WORKSHOP else 2
    if not low <= len(s.sessions) <= 100:
        v.add(
            "sessions",
            f"a {s.kind.value} needs between {low} and 100 dated sessions",
            "out_of_range",
        )
    if s.package or s.bundle_items:
        v.add("kind", f"a {s.kind.value} has no package terms or bundle items", "kind_mismatch")
    ordered = sorted(s.sessions, key=lambda x: x.starts_at)
    for index, session in enumerate(ordered):
        if session.starts_at <= now:
            v.add(f"sessions[{index}].start_time", "must be in the future", "in_the_past")
        if not 5 <= session.duration_minutes <= 720:
            v.add(
                f"sessions[{index}].duration_minutes", "must be between 5 and 720", "out_of_range"
            )
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
    _range(v, "package.session_count", terms.session_count, 2, 100)
    _range(v, "package.validity_days", terms.validity_days, 1, 730)
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
    if not 2 <= len(s.bundle_items) <= MAX_LIST_ITEMS:
        v.add(
            "bundle_items",
            f"a bundle holds between 2 and {MAX_LIST_ITEMS} services",
            "out_of_range",
        )
    if len({i.service_id for i in s.bundle_items}) != len(s.bundle_items):
        v.add("bundle_items", "must not list a service twice", "duplicate")
    total = 0
    duration = 0
    for index, item in enumerate(s.bundle_items):
        _range(v, f"bundle_items[{index}].quantity", item.quantity, 1, 20)
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


def practitioner_exists(_violation: object = None) -> AlreadyExists:
    """One practitioner profile per user (re-applying reuses the rejected one)."""
    return AlreadyExists("you already have a practitioner profile", reason="PRACTITIONER_EXISTS")


def slug_taken(_violation: object = None) -> AlreadyExists:
    """Category slugs are unique: they appear in URLs."""
    return AlreadyExists(
        "that slug is taken",
        reason="SLUG_TAKEN",
        violations=[FieldViolation("slug", "is already taken", "taken")],
    )


def erased_profile(profile: Profile) -> Profile:
    """What is left of a profile once its owner's account is deleted: nothing personal."""
    return Profile(
        display_name="Deleted practitioner",
        bio="",
        specializations=[],
        certifications=[],
        years_experience=0,
        languages=[],
        timezone=profile.timezone,
    )
