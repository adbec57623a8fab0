"""Catalog's rules: what a practitioner profile, a category and a service of each kind must be,
how each changes state, and the events those changes announce.

Pure: nothing here reads a database or a clock. A change that other services must hear of
returns its domain event; the unit of work records it and events.py maps it to its message.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.auth.principal import AccountStatus, Principal
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.ids import is_uuid
from chassis.lifecycle import WrongState
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
    """How discovery orders what it finds. The names are the proto's (SORT_ORDER_<NAME>); the
    values are what REST clients write."""

    RELEVANCE = "relevance"
    PRICE_ASCENDING = "price_asc"
    PRICE_DESCENDING = "price_desc"
    RATING = "rating"
    DISTANCE = "distance"
    NEWEST = "newest"


# Kinds sold as dated sessions for a group.
DATED_KINDS = frozenset({ServiceKind.WORKSHOP, ServiceKind.COURSE})


# Bounds -----------------------------------------------------------------------------------
# Each rule's numbers, stated once: the checks below enforce them and the gateway's OpenAPI
# document states them (gateway/schemas/catalog.py), so a client learns a rule in one round.


@dataclass(frozen=True)
class Bounds:
    """The inclusive range a number (or a text's length, or a list's size) must lie in."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def check(self, v: Violations, field_name: str, value: int) -> None:
        if value not in self:
            v.add(field_name, f"must be between {self.low} and {self.high}", "out_of_range")


MAX_LIST_ITEMS = 20
MAX_PRICE_MINOR = 100_000_000_00  # a hundred million in major units: beyond any wellness price

DISPLAY_NAME_LENGTH = Bounds(2, 100)
BIO_LENGTH = Bounds(0, 5000)
SPECIALIZATION_LENGTH = Bounds(1, 60)
CERTIFICATION_LENGTH = Bounds(1, 200)
YEARS_EXPERIENCE = Bounds(0, 80)
LANGUAGE_COUNT = Bounds(1, 10)
LOCATION_COUNT = Bounds(1, MAX_LIST_ITEMS)
LABEL_LENGTH = Bounds(0, 100)
ADDRESS_LENGTH = Bounds(1, 300)
CITY_LENGTH = Bounds(1, 100)
LATITUDE = Bounds(-90, 90)
LONGITUDE = Bounds(-180, 180)
REASON_LENGTH = Bounds(1, 500)

SLUG_LENGTH = Bounds(1, 80)
CATEGORY_NAME_LENGTH = Bounds(1, 100)
CATEGORY_DESCRIPTION_LENGTH = Bounds(0, 1000)
CATEGORY_POSITION = Bounds(0, 10_000)

TITLE_LENGTH = Bounds(3, 200)
DESCRIPTION_LENGTH = Bounds(0, 5000)
PRICE_MINOR = Bounds(0, MAX_PRICE_MINOR)
DURATION_MINUTES = Bounds(5, 720)
# A session seats one (0 reads as 1); workshops and courses seat a group.
SESSION_SEATS = Bounds(0, 1)
GROUP_SEATS = Bounds(2, 1000)
BUFFER_MINUTES = Bounds(0, 240)
MIN_NOTICE_MINUTES = Bounds(0, 30 * 24 * 60)
BOOKING_WINDOW_DAYS = Bounds(1, 730)
REFUND_RULE_COUNT = Bounds(0, 10)
HOURS_BEFORE = Bounds(0, 8760)
REFUND_PERCENT = Bounds(0, 100)
WORKSHOP_SESSIONS = Bounds(1, 100)
COURSE_SESSIONS = Bounds(2, 100)
PACKAGE_SESSIONS = Bounds(2, 100)
PACKAGE_VALIDITY_DAYS = Bounds(1, 730)
BUNDLE_SIZE = Bounds(2, MAX_LIST_ITEMS)
BUNDLE_QUANTITY = Bounds(1, 20)

SEARCH_TEXT_LENGTH = Bounds(0, 200)
RATING = Bounds(0, 5)
# Up to half the earth's circumference: any place on it; a radius must be above 0.
MAX_RADIUS_KM = 20_000
BATCH_IDS = Bounds(0, 1000)


# Practitioners -----------------------------------------------------------------------------


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

    def erased(self, now: datetime) -> Location:
        """What is left of a place once its owner's account is deleted: no address."""
        return replace(
            self,
            label="",
            address="",
            city="",
            latitude=None,
            longitude=None,
            removed_at=self.removed_at or now,
        )


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


PROFILE_PATHS = frozenset(f.name for f in fields(Profile))
LOCATION_PATHS = frozenset({"label", "address", "city", "country_code", "latitude", "longitude"})


@dataclass(frozen=True)
class PractitionerApproved:
    practitioner_id: str
    user_id: str
    display_name: str
    approved_at: datetime


@dataclass(frozen=True)
class PractitionerRejected:
    practitioner_id: str
    user_id: str
    reason: str


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

    @classmethod
    def applying(
        cls,
        practitioner_id: str,
        user_id: str,
        profile: Profile,
        places: list[Location],
        now: datetime,
    ) -> Practitioner:
        """A first application, pending review (profile and places as check_application
        returns them)."""
        return cls(
            id=practitioner_id,
            user_id=user_id,
            profile=profile,
            status=PractitionerStatus.PENDING,
            created_at=now,
            updated_at=now,
            locations=places,
        )

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

    @property
    def active_locations(self) -> list[Location]:
        return [place for place in self.locations if place.removed_at is None]

    def active_location(self, location_id: str) -> Location | None:
        return next((p for p in self.active_locations if p.id == location_id), None)

    def may_be_managed_by(self, principal: Principal | None) -> bool:
        """Only the practitioner themselves and staff manage a profile and its services."""
        return may_manage(principal, self.user_id)

    # Review: pending -> approved or rejected; rejected -> pending again on re-applying.

    def reapply(self, profile: Profile, places: list[Location], now: datetime) -> None:
        """A rejected applicant applies again with a new profile and places; anyone else
        already has their one profile."""
        if self.status is not PractitionerStatus.REJECTED:
            raise practitioner_exists()
        self.profile = profile
        self.status = PractitionerStatus.PENDING
        self.rejection_reason = ""
        self.locations = places
        self.updated_at = now

    def approve(self, now: datetime) -> PractitionerApproved:
        """Staff approve a pending application; identity grants the role on the event."""
        self._require(PractitionerStatus.PENDING, reason="NOT_PENDING")
        self.status = PractitionerStatus.APPROVED
        self.approved_at = now
        self.updated_at = now
        return PractitionerApproved(self.id, self.user_id, self.profile.display_name, now)

    def reject(self, reason: str, now: datetime) -> PractitionerRejected:
        """Staff turn a pending application down, with a reason the applicant sees."""
        reason = check_reason(reason)
        self._require(PractitionerStatus.PENDING, reason="NOT_PENDING")
        self.status = PractitionerStatus.REJECTED
        self.rejection_reason = reason
        self.updated_at = now
        return PractitionerRejected(self.id, self.user_id, reason)

    def feature(self, now: datetime) -> None:
        """Staff feature an approved practitioner in discovery."""
        self._set_featured(True, now)

    def unfeature(self, now: datetime) -> None:
        self._set_featured(False, now)

    def _set_featured(self, featured: bool, now: datetime) -> None:
        self._require(PractitionerStatus.APPROVED, reason="NOT_APPROVED")
        self.featured = featured
        self.updated_at = now

    def _require(self, status: PractitionerStatus, *, reason: str) -> None:
        if self.status is not status:
            raise WrongState(APPLICATION, self.status.value, [status.value], reason=reason)

    # The owner's account, as identity announces it.

    def follow_account(self, status: AccountStatus, now: datetime) -> None:
        """The owner's account changed: suspended leaves discovery until reactivated;
        deleted is erased."""
        if status is AccountStatus.DELETED:
            self.erase(now)
        elif status is AccountStatus.SUSPENDED:
            self.suspend(now)
        else:
            self.reactivate(now)

    def suspend(self, now: datetime) -> None:
        self.account_status = AccountStatus.SUSPENDED
        self.updated_at = now

    def reactivate(self, now: datetime) -> None:
        self.account_status = AccountStatus.ACTIVE
        self.updated_at = now

    def erase(self, now: datetime) -> None:
        """The owner's account is deleted: nothing personal is kept, no place is left. Their
        services are archived by the caller (each Service.archive announces it)."""
        self.account_status = AccountStatus.DELETED
        self.profile = erased_profile(self.profile)
        self.locations = [place.erased(now) for place in self.locations]
        self.updated_at = now

    # The profile and places, changed by the practitioner.

    def update_profile(
        self, paths: Sequence[str], values: Profile, now: datetime, services: Iterable[Service]
    ) -> list[ServiceUpdated]:
        """Changes the profile fields named; when the time zone moves, every active service
        is announced again, as booking keeps schedules in the practitioner's zone."""
        check_paths(paths, PROFILE_PATHS)
        changed = replace(self.profile, **{path: getattr(values, path) for path in paths})
        moved_zone = changed.timezone != self.profile.timezone
        self.profile = check_profile(changed)
        self.updated_at = now
        if not moved_zone:
            return []
        return [ServiceUpdated.of(s, self) for s in services if s.is_active]

    def add_location(self, place: Location) -> None:
        """A new place of work (checked by check_location), within the limit."""
        if len(self.active_locations) >= LOCATION_COUNT.high:
            raise FailedPrecondition(
                f"at most {LOCATION_COUNT.high} locations", reason="TOO_MANY_LOCATIONS"
            )
        self.locations.append(place)

    def own_location(self, location_id: str) -> Location:
        place = self.active_location(location_id)
        if place is None:
            raise NotFound("no such location of yours")
        return place

    def update_location(self, location_id: str, paths: Sequence[str], values: Location) -> Location:
        check_paths(paths, LOCATION_PATHS)
        place = self.own_location(location_id)
        v = Violations()
        checked = check_location(replace(place, **{p: getattr(values, p) for p in paths}), v)
        v.raise_if_any()
        vars(place).update(vars(checked))
        return place

    def remove_location(self, location_id: str, now: datetime, *, in_use: bool) -> Location:
        """Removes a place no active service takes place at."""
        place = self.own_location(location_id)
        if in_use:
            raise FailedPrecondition(
                "an active service takes place there; move or archive it first",
                reason="LOCATION_IN_USE",
            )
        place.removed_at = now
        return place

    # Selling.

    def check_may_sell(self) -> None:
        if not self.is_approved:
            raise not_a_seller()

    def check_service_limit(self, limits: Mapping[Tier, int], active_services: int) -> None:
        """A tier allows so many active services (0: unlimited)."""
        limit = service_limit(self.tier, limits)
        if limit is not None and active_services >= limit:
            raise FailedPrecondition(
                f"your {self.tier.value} plan allows {limit} active services; "
                "archive one or upgrade",
                reason="SERVICE_LIMIT_REACHED",
                metadata={"tier": self.tier.value, "limit": str(limit)},
            )

    def mark_first_service(self, now: datetime) -> bool:
        """Marks onboarding's first service, once; whether this was it."""
        if self.first_service_at is not None:
            return False
        self.first_service_at = now
        self.updated_at = now
        return True


# How a refused review names what it refused; repository.py's guarded write says the same.
APPLICATION = "application"


def may_manage(principal: Principal | None, owner_user_id: str) -> bool:
    """Whether a caller may manage what a user owns: the user themselves, or staff."""
    if principal is None or not principal.is_user:
        return False
    return principal.is_staff or principal.user_id == owner_user_id


def not_a_seller() -> PermissionDenied:
    return PermissionDenied(
        "only approved practitioners can create services", reason="NOT_A_PRACTITIONER"
    )


def service_limit(tier: Tier, limits: Mapping[Tier, int]) -> int | None:
    """How many active services a tier allows; None for unlimited."""
    limit = limits[tier]
    return None if limit == 0 else limit


def _text(v: Violations, field_name: str, value: str, bounds: Bounds) -> str:
    value = value.strip()
    if bounds.low and not value:
        v.add(field_name, "is required", "required")
    elif len(value) < bounds.low:
        v.add(field_name, f"must be at least {bounds.low} characters", "too_short")
    elif len(value) > bounds.high:
        v.add(field_name, f"must be at most {bounds.high} characters", "too_long")
    elif any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        v.add(field_name, "must not contain control characters")
    return value


def _text_list(v: Violations, field_name: str, values: list[str], item: Bounds) -> list[str]:
    if len(values) > MAX_LIST_ITEMS:
        v.add(field_name, f"must hold at most {MAX_LIST_ITEMS} items", "too_many")
        return []
    cleaned = []
    for index, value in enumerate(values):
        cleaned.append(_text(v, f"{field_name}[{index}]", value, item))
    return list(dict.fromkeys(cleaned))


def check_paths(paths: Sequence[str], allowed: frozenset[str]) -> None:
    """An update names at least one field, each one the caller may change."""
    v = Violations()
    if not paths:
        v.add("update_mask", "must name at least one field", "required")
    for path in paths:
        if path not in allowed:
            v.add(path, "cannot be changed here", "read_only")
    v.raise_if_any()


def check_profile(profile: Profile, v: Violations | None = None) -> Profile:
    """A valid profile, or an error naming every bad field."""
    own = v is None
    v = v or Violations()
    languages = [lang.strip().lower() for lang in profile.languages]
    if not languages:
        v.add("languages", "must name at least one language (ISO 639-1, e.g. en)", "required")
    elif len(languages) > LANGUAGE_COUNT.high:
        v.add("languages", f"must hold at most {LANGUAGE_COUNT.high} languages", "too_many")
    for index, language in enumerate(languages):
        if language not in LANGUAGES:
            v.add(
                f"languages[{index}]",
                "must be an ISO 639-1 code such as en or pt",
                "invalid_language",
            )
    YEARS_EXPERIENCE.check(v, "years_experience", profile.years_experience)
    checked = Profile(
        display_name=_text(v, "display_name", profile.display_name, DISPLAY_NAME_LENGTH),
        bio=_text(v, "bio", profile.bio, BIO_LENGTH),
        specializations=_text_list(
            v, "specializations", profile.specializations, SPECIALIZATION_LENGTH
        ),
        certifications=_text_list(
            v, "certifications", profile.certifications, CERTIFICATION_LENGTH
        ),
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
            label=location.label.strip()[: LABEL_LENGTH.high],
        )
    checked = replace(
        location,
        label=_text(v, f"{prefix}label", location.label, LABEL_LENGTH),
        address=_text(v, f"{prefix}address", location.address, ADDRESS_LENGTH),
        city=_text(v, f"{prefix}city", location.city, CITY_LENGTH),
        country_code=location.country_code.strip().upper(),
    )
    if checked.country_code not in COUNTRIES:
        # Named as the API names it (country), like lat and lng below.
        v.add(
            f"{prefix}country",
            "must be an ISO 3166-1 alpha-2 code such as PT",
            "invalid_country",
        )
    if checked.latitude not in LATITUDE:
        v.add(f"{prefix}lat", "must be a latitude between -90 and 90", "out_of_range")
    if checked.longitude not in LONGITUDE:
        v.add(f"{prefix}lng", "must be a longitude between -180 and 180", "out_of_range")
    return checked


def check_application(
    profile: Profile, places: Sequence[Location]
) -> tuple[Profile, list[Location]]:
    """An application's profile and places (at least one, at most the limit), or an error
    naming every bad field. Places keep the ids they were given."""
    v = Violations()
    checked = check_profile(profile, v)
    if not places:
        v.add("locations", "must hold at least one location (virtual or an address)", "required")
    elif len(places) > LOCATION_COUNT.high:
        v.add("locations", f"must hold at most {LOCATION_COUNT.high}", "too_many")
    checked_places = [check_location(p, v, f"locations[{n}].") for n, p in enumerate(places)]
    v.raise_if_any()
    return checked, checked_places


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidArgument.field("reason", "is required", "required")
    if len(reason) > REASON_LENGTH.high:
        raise InvalidArgument.field(
            "reason", f"must be at most {REASON_LENGTH.high} characters", "too_long"
        )
    return reason


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


def practitioner_exists(_violation: object = None) -> AlreadyExists:
    """One practitioner profile per user (re-applying reuses the rejected one)."""
    return AlreadyExists("you already have a practitioner profile", reason="PRACTITIONER_EXISTS")


# Categories --------------------------------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

CATEGORY_PATHS = frozenset({"slug", "name", "description", "parent_id", "position"})


@dataclass
class Category:
    id: str
    slug: str
    name: str
    description: str
    parent_id: str | None
    position: int
    # The ids from the root down to this one, as /root/.../id/: a subtree is a path prefix.
    path: str

    @classmethod
    def create(cls, category_id: str, values: Category, parent: Category | None) -> Category:
        """A new category, at the top or under its parent (values checked first)."""
        slug, name, description, position = check_category(values)
        category = cls(category_id, slug, name, description, None, position, f"/{category_id}/")
        if parent is not None:
            category.move_under(parent)
        return category

    def update(self, paths: Sequence[str], values: Category) -> None:
        """Changes the fields named (a move is move_under's)."""
        check_paths(paths, CATEGORY_PATHS)
        changed = replace(self, **{p: getattr(values, p) for p in paths if p != "parent_id"})
        self.slug, self.name, self.description, self.position = check_category(changed)

    def move_under(self, parent: Category | None) -> None:
        """Files the category under a parent, or at the top; never under itself or beneath."""
        if parent is None:
            self.parent_id, self.path = None, f"/{self.id}/"
            return
        if parent.path.startswith(self.path):
            raise InvalidArgument.field(
                "parent_id", "cannot be the category itself or one beneath it", "cycle"
            )
        self.parent_id, self.path = parent.id, f"{parent.path}{self.id}/"

    def check_removable(self, *, has_children: bool, has_services: bool) -> None:
        if has_children:
            raise FailedPrecondition("the category has subcategories", reason="IN_USE")
        if has_services:
            raise FailedPrecondition("services are filed under it", reason="IN_USE")


def check_category(category: Category) -> tuple[str, str, str, int]:
    """A category's slug, name, description and position, or an error naming each bad one."""
    v = Violations()
    slug = category.slug
    if not _SLUG.match(slug) or len(slug) > SLUG_LENGTH.high:
        v.add(
            "slug", "must be lower-case words joined by hyphens, e.g. sound-healing", "invalid_slug"
        )
    name = _text(v, "name", category.name, CATEGORY_NAME_LENGTH)
    description = _text(v, "description", category.description, CATEGORY_DESCRIPTION_LENGTH)
    CATEGORY_POSITION.check(v, "position", category.position)
    v.raise_if_any()
    return slug, name, description, category.position


def unknown_parent() -> InvalidArgument:
    return InvalidArgument.field("parent_id", "is not a category", "unknown_category")


def slug_taken(_violation: object = None) -> AlreadyExists:
    """Category slugs are unique: they appear in URLs."""
    return AlreadyExists(
        "that slug is taken",
        reason="SLUG_TAKEN",
        violations=[FieldViolation("slug", "is already taken", "taken")],
    )


# Services ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ServicePublished:
    """A service went on sale, with the terms booking and payments need."""

    service: Service
    practitioner_user_id: str
    timezone: str

    @classmethod
    def of(cls, service: Service, practitioner: Practitioner) -> ServicePublished:
        return cls(replace(service), practitioner.user_id, practitioner.profile.timezone)


@dataclass(frozen=True)
class ServiceUpdated:
    """A service's terms changed (or its practitioner's time zone did)."""

    service: Service
    practitioner_user_id: str
    timezone: str

    @classmethod
    def of(cls, service: Service, practitioner: Practitioner) -> ServiceUpdated:
        return cls(replace(service), practitioner.user_id, practitioner.profile.timezone)


@dataclass(frozen=True)
class ServiceArchived:
    service_id: str
    practitioner_id: str
    archived_at: datetime


def check_service(service: Service, context: ServiceContext) -> Service:
    """A sellable service of its kind, or an error naming every bad field.

    Derived values are filled in: a session seats one, a package takes its duration from its
    session service, an empty cancellation policy becomes the platform default.
    """
    v = Violations()
    s = replace(
        service,
        title=_text(v, "title", service.title, TITLE_LENGTH),
        description=_text(v, "description", service.description, DESCRIPTION_LENGTH),
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


# Discovery ---------------------------------------------------------------------------------


def check_search_text(text: str) -> str:
    if len(text) > SEARCH_TEXT_LENGTH.high:
        raise InvalidArgument.field(
            "query", f"must be at most {SEARCH_TEXT_LENGTH.high} characters", "too_long"
        )
    return text


def check_point(latitude: float, longitude: float) -> tuple[float, float]:
    v = Violations()
    if latitude not in LATITUDE:
        v.add("lat", "must be between -90 and 90", "out_of_range")
    if longitude not in LONGITUDE:
        v.add("lng", "must be between -180 and 180", "out_of_range")
    v.raise_if_any()
    return (latitude, longitude)


def check_radius(radius_km: float | None, point: tuple[float, float] | None) -> float | None:
    if radius_km is None:
        return None
    if point is None:
        raise InvalidArgument.field("radius_km", "needs lat and lng", "required")
    if not 0 < radius_km <= MAX_RADIUS_KM:
        raise InvalidArgument.field(
            "radius_km", f"must be between 0 and {MAX_RADIUS_KM}", "out_of_range"
        )
    return float(radius_km)


def check_rating(rating: float | None) -> float | None:
    if rating is not None and rating not in RATING:
        raise InvalidArgument.field(
            "min_rating", f"must be between {RATING.low} and {RATING.high}", "out_of_range"
        )
    return rating


def check_price_range(price_min: int | None, price_max: int | None) -> None:
    v = Violations()
    if price_min is not None and price_min < 0:
        v.add("price_min", "must not be negative", "out_of_range")
    if price_max is not None and price_max < 0:
        v.add("price_max", "must not be negative", "out_of_range")
    if price_min is not None and price_max is not None and price_min > price_max:
        v.add("price_max", "must not be below price_min", "out_of_range")
    v.raise_if_any()


def choose_sort(
    sort: SortOrder | None, *, has_text: bool, point: tuple[float, float] | None
) -> SortOrder:
    """The order asked for, or by default relevance when searching words, else newest."""
    if sort is None:
        return SortOrder.RELEVANCE if has_text else SortOrder.NEWEST
    if sort is SortOrder.DISTANCE and point is None:
        raise InvalidArgument.field("sort", "distance needs lat and lng", "required")
    if sort is SortOrder.RELEVANCE and not has_text:
        raise InvalidArgument.field("sort", "relevance needs a query", "required")
    return sort


def check_batch(field_name: str, ids: Sequence[str]) -> None:
    """A batch read names at most so many ids, each one an id."""
    if len(ids) > BATCH_IDS.high:
        raise InvalidArgument.field(
            field_name, f"must hold at most {BATCH_IDS.high} ids", "too_many"
        )
    bad = [i for i in ids if not is_uuid(i)]
    if bad:
        raise InvalidArgument.field(field_name, f"not ids: {', '.join(bad[:5])}")
