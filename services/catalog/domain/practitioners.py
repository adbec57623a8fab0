"""Practitioners: the application and its review, the profile and places, featuring, selling
within a tier, and the owner's account as identity announces it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from chassis.auth.principal import AccountStatus, Principal, refuse_inactive_account
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.lifecycle import WrongState
from chassis.validation import Violations, check_timezone
from services.catalog.domain.bounds import (
    ADDRESS_LENGTH,
    BIO_LENGTH,
    CERTIFICATION_LENGTH,
    CITY_LENGTH,
    DISPLAY_NAME_LENGTH,
    LABEL_LENGTH,
    LANGUAGE_COUNT,
    LATITUDE,
    LOCATION_COUNT,
    LONGITUDE,
    REASON_LENGTH,
    SPECIALIZATION_LENGTH,
    YEARS_EXPERIENCE,
)
from services.catalog.domain.events import (
    PractitionerApproved,
    PractitionerRejected,
    ServiceUpdated,
)
from services.catalog.domain.fields import check_paths, check_text, check_text_list
from services.catalog.reference import COUNTRIES, LANGUAGES

if TYPE_CHECKING:
    from services.catalog.domain.services import Service


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

    def check_owner_may_act(self) -> None:
        """The owner's own changes need their account active. Checked on the row locked in
        the change's transaction, so a change let in at the door just before the account was
        deleted either lands before the erasure (which then takes it too) or is refused."""
        refuse_inactive_account(self.account_status)

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

    def mark_availability_set(self, now: datetime) -> bool:
        """Marks onboarding's availability step (booking saved their hours), once; whether
        this was it."""
        if self.availability_set:
            return False
        self.availability_set = True
        self.updated_at = now
        return True

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
        display_name=check_text(v, "display_name", profile.display_name, DISPLAY_NAME_LENGTH),
        bio=check_text(v, "bio", profile.bio, BIO_LENGTH),
        specializations=check_text_list(
            v, "specializations", profile.specializations, SPECIALIZATION_LENGTH
        ),
        certifications=check_text_list(
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
        label=check_text(v, f"{prefix}label", location.label, LABEL_LENGTH),
        address=check_text(v, f"{prefix}address", location.address, ADDRESS_LENGTH),
        city=check_text(v, f"{prefix}city", location.city, CITY_LENGTH),
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
