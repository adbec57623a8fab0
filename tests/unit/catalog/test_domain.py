"""Catalog's rules on plain objects: the review of an application, featuring, the owner's
account, places, categories, and what a service of each kind must be. No database, no clock
but the instants passed in."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chassis.auth.principal import AccountStatus, Role
from chassis.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from services.catalog.domain.bounds import (
    BUNDLE_QUANTITY,
    COURSE_SESSIONS,
    DURATION_MINUTES,
    GROUP_SEATS,
    LOCATION_COUNT,
    PACKAGE_SESSIONS,
    WORKSHOP_SESSIONS,
)
from services.catalog.domain.categories import Category
from services.catalog.domain.discovery import (
    SortOrder,
    check_price_range,
    check_radius,
    choose_sort,
)
from services.catalog.domain.events import (
    PractitionerApproved,
    PractitionerRejected,
    ServiceArchived,
    ServicePublished,
    ServiceUpdated,
)
from services.catalog.domain.practitioners import (
    Location,
    LocationKind,
    Practitioner,
    PractitionerStatus,
    Profile,
    Tier,
    check_application,
)
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    PackageTerms,
    RefundRule,
    Service,
    ServiceContext,
    ServiceKind,
    ServiceStatus,
    check_service,
    saving_of,
)
from tests.builders import STAFF, person, profile

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
LIMITS = {Tier.FREE: 2, Tier.ENTRY: 20, Tier.PREMIUM: 0}
DEFAULT_POLICY = [RefundRule(24, 100), RefundRule(0, 0)]
STUDIO = Location(new_id(), LocationKind.IN_PERSON, "Studio", "Rua 1", "Lisboa", "PT", 38.7, -9.1)


def practitioner(status: PractitionerStatus = PractitionerStatus.APPROVED) -> Practitioner:
    """A practitioner in a status, with a studio and the virtual place."""
    found = Practitioner.applying(
        new_id(),
        new_id(),
        profile(),
        [Location(new_id(), LocationKind.VIRTUAL), replace(STUDIO)],
        NOW,
    )
    found.status = status
    return found


def service(
    seller: Practitioner, kind: ServiceKind = ServiceKind.SESSION, **values: object
) -> Service:
    """An active service of a kind, sold by a practitioner (valid as a session)."""
    made = Service(
        id=new_id(),
        practitioner_id=seller.id,
        kind=kind,
        title="Morning yoga",
        description="A calm hour.",
        category_id=new_id(),
        price_minor=4000,
        currency="EUR",
        duration_minutes=60,
        location_kind=LocationKind.VIRTUAL,
        location_id=None,
        max_participants=1,
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        min_notice_minutes=60,
        booking_window_days=90,
        cancellation_policy=[],
        status=ServiceStatus.ACTIVE,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(made, **values)  # type: ignore[arg-type]


def context(seller: Practitioner, *parts: Service, now: datetime = NOW) -> ServiceContext:
    return ServiceContext(
        practitioner=seller,
        category_exists=True,
        referenced={part.id: part for part in parts},
        now=now,
        default_policy=DEFAULT_POLICY,
    )


def refused(check: object, *args: object) -> list[tuple[str, str]]:
    """The (field, code) pairs a check refuses its arguments with."""
    with pytest.raises(InvalidArgument) as error:
        check(*args)  # type: ignore[operator]
    return [(v.field, v.code) for v in error.value.violations]


def said(check: object, *args: object) -> list[tuple[str, str, str]]:
    """What a refusal tells the caller of each field: (field, message, code)."""
    with pytest.raises(InvalidArgument) as error:
        check(*args)  # type: ignore[operator]
    return [(v.field, v.message, v.code) for v in error.value.violations]


def denial(change: Callable[[], object]) -> tuple[str, str]:
    """The reason and message a refused change answers with."""
    with pytest.raises(DomainError) as error:
        change()
    return error.value.reason, error.value.message


def workshop(seller: Practitioner, sessions: list[DatedSession], **values: object) -> Service:
    return service(
        seller, ServiceKind.WORKSHOP, **{"max_participants": 12, "sessions": sessions, **values}
    )


def dated(*hours_from_now: float, minutes: int = 60) -> list[DatedSession]:
    return [DatedSession(NOW + timedelta(hours=h), minutes) for h in hours_from_now]


# The review of an application --------------------------------------------------------------


def test_an_application_is_pending_and_not_listed():
    applied = Practitioner.applying(new_id(), new_id(), profile(), [], NOW)
    assert applied.status is PractitionerStatus.PENDING
    assert not applied.is_listed and applied.created_at == applied.updated_at == NOW


def test_approving_a_pending_application_lists_the_practitioner_and_announces_it():
    pending = practitioner(PractitionerStatus.PENDING)
    event = pending.approve(LATER)
    assert event == PractitionerApproved(
        pending.id, pending.user_id, pending.profile.display_name, LATER
    )
    assert pending.is_approved and pending.is_listed
    assert pending.approved_at == pending.updated_at == LATER


def test_rejecting_keeps_the_reason_the_applicant_sees():
    pending = practitioner(PractitionerStatus.PENDING)
    event = pending.reject("  Add your certifications.  ", LATER)
    assert event == PractitionerRejected(pending.id, pending.user_id, "Add your certifications.")
    assert pending.status is PractitionerStatus.REJECTED
    assert pending.rejection_reason == "Add your certifications."


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_rejection_needs_a_reason_of_reasonable_length(reason):
    pending = practitioner(PractitionerStatus.PENDING)
    with pytest.raises(InvalidArgument) as error:
        pending.reject(reason, LATER)
    assert [v.field for v in error.value.violations] == ["reason"]
    assert pending.status is PractitionerStatus.PENDING


@pytest.mark.parametrize("status", [PractitionerStatus.APPROVED, PractitionerStatus.REJECTED])
@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_only_a_pending_application_is_decided(status, decide):
    decided = practitioner(status)
    with pytest.raises(WrongState) as error:
        if decide == "approve":
            decided.approve(LATER)
        else:
            decided.reject("No.", LATER)
    assert error.value.reason == "NOT_PENDING"
    assert error.value.current == status.value
    assert decided.status is status and decided.updated_at == NOW


def test_a_decided_application_says_its_state():
    assert denial(lambda: practitioner().approve(LATER)) == (
        "NOT_PENDING",
        "the application is approved, not pending",
    )
    assert denial(lambda: practitioner(PractitionerStatus.PENDING).feature(LATER)) == (
        "NOT_APPROVED",
        "the application is pending, not approved",
    )


def test_only_a_rejected_applicant_applies_again_with_new_places():
    rejected = practitioner(PractitionerStatus.REJECTED)
    rejected.rejection_reason = "Add certifications."
    place = Location(new_id(), LocationKind.VIRTUAL)
    rejected.reapply(profile("Ana L."), [place], LATER)
    assert rejected.status is PractitionerStatus.PENDING
    assert rejected.rejection_reason == "" and rejected.locations == [place]
    assert rejected.profile.display_name == "Ana L."
    for status in (PractitionerStatus.PENDING, PractitionerStatus.APPROVED):
        with pytest.raises(AlreadyExists) as error:
            practitioner(status).reapply(profile(), [place], LATER)
        assert error.value.reason == "PRACTITIONER_EXISTS"


@pytest.mark.parametrize("status", [PractitionerStatus.PENDING, PractitionerStatus.REJECTED])
def test_an_unapproved_practitioner_cannot_be_featured(status):
    unapproved = practitioner(status)
    for change in (unapproved.feature, unapproved.unfeature):
        with pytest.raises(WrongState) as error:
            change(LATER)
        assert error.value.reason == "NOT_APPROVED"
    assert unapproved.featured is False


def test_an_approved_practitioner_is_featured_and_unfeatured():
    approved = practitioner()
    approved.feature(LATER)
    assert approved.featured and approved.updated_at == LATER
    approved.unfeature(LATER)
    assert not approved.featured


def test_a_rejection_reason_says_what_it_lacks():
    pending = practitioner(PractitionerStatus.PENDING)
    assert said(pending.reject, "  ", LATER) == [("reason", "is required", "required")]
    assert said(pending.reject, "x" * 501, LATER) == [
        ("reason", "must be at most 500 characters", "too_long")
    ]
    pending.reject("x" * 500, LATER)
    assert pending.rejection_reason == "x" * 500


def test_applying_twice_says_the_profile_exists():
    assert denial(lambda: practitioner().reapply(profile(), [], LATER)) == (
        "PRACTITIONER_EXISTS",
        "you already have a practitioner profile",
    )


def test_unfeaturing_takes_the_practitioner_out_of_the_featured_at_that_time():
    approved = practitioner()
    approved.feature(NOW)
    approved.unfeature(LATER)
    assert approved.featured is False and approved.updated_at == LATER


# Who manages a profile and its services ----------------------------------------------------


def test_only_the_practitioner_and_staff_manage_what_is_theirs():
    owner = practitioner()
    assert owner.may_be_managed_by(person(owner.user_id, Role.PRACTITIONER))
    assert owner.may_be_managed_by(STAFF)
    rival = person(None, Role.PRACTITIONER)
    assert not owner.may_be_managed_by(rival)
    assert not owner.may_be_managed_by(person())
    assert not owner.may_be_managed_by(None)


# The owner's account -----------------------------------------------------------------------


def test_a_suspended_practitioner_leaves_discovery_until_reactivated():
    approved = practitioner()
    approved.follow_account(AccountStatus.SUSPENDED, LATER)
    assert approved.account_status is AccountStatus.SUSPENDED and not approved.is_listed
    approved.follow_account(AccountStatus.ACTIVE, LATER)
    assert approved.is_listed


def test_only_an_active_owner_changes_their_profile():
    owner = practitioner()
    owner.check_owner_may_act()
    owner.suspend(LATER)
    assert denial(owner.check_owner_may_act) == ("ACCOUNT_SUSPENDED", "this account is suspended")
    owner.erase(LATER)
    assert denial(owner.check_owner_may_act) == ("ACCOUNT_DELETED", "this account was deleted")


def test_a_deleted_practitioner_keeps_nothing_personal_and_no_place():
    approved = practitioner()
    approved.locations[0].removed_at = NOW
    approved.follow_account(AccountStatus.DELETED, LATER)
    assert approved.account_status is AccountStatus.DELETED and not approved.is_listed
    assert approved.profile.display_name == "Deleted practitioner"
    assert approved.profile.bio == "" and approved.profile.languages == []
    assert approved.profile.timezone == "Europe/Lisbon"
    assert approved.active_locations == []
    assert [p.removed_at for p in approved.locations] == [NOW, LATER]
    assert all(p.address == p.city == p.label == "" for p in approved.locations)
    assert all(p.latitude is None and p.longitude is None for p in approved.locations)


def test_a_deleted_practitioner_keeps_no_experience_specialization_or_certification():
    approved = practitioner()
    approved.profile = replace(profile(), certifications=["RYT-200"], years_experience=12)
    approved.erase(LATER)
    assert approved.profile == Profile(
        "Deleted practitioner", "", [], [], 0, [], approved.profile.timezone
    )


# The profile and places --------------------------------------------------------------------


def test_moving_time_zone_announces_every_active_service_again():
    seller = practitioner()
    active = service(seller)
    archived = service(seller, status=ServiceStatus.ARCHIVED)
    moved = replace(profile(), timezone="America/Sao_Paulo")
    events = seller.update_profile(["timezone"], moved, LATER, [active, archived])
    assert events == [ServiceUpdated(active, seller.user_id, "America/Sao_Paulo")]
    assert seller.profile.timezone == "America/Sao_Paulo" and seller.updated_at == LATER
    assert seller.update_profile(["bio"], replace(moved, bio="Now pilates."), LATER, [active]) == []


def test_a_profile_update_names_fields_the_practitioner_may_change():
    seller = practitioner()
    assert refused(seller.update_profile, [], profile(), LATER, []) == [("update_mask", "required")]
    assert refused(seller.update_profile, ["status"], profile(), LATER, []) == [
        ("status", "read_only")
    ]
    bad = replace(profile(), display_name="A", languages=["xx"])
    assert refused(seller.update_profile, ["display_name", "languages"], bad, LATER, []) == [
        ("languages[0]", "invalid_language"),
        ("display_name", "too_short"),
    ]


def test_an_application_needs_one_place_and_at_most_the_limit():
    virtual = Location(new_id(), LocationKind.VIRTUAL)
    assert refused(check_application, profile(), []) == [("locations", "required")]
    too_many = [virtual] * (LOCATION_COUNT.high + 1)
    assert refused(check_application, profile(), too_many) == [("locations", "too_many")]
    nowhere = Location(new_id(), LocationKind.IN_PERSON, country_code="ZZ", latitude=91.0)
    assert ("locations[0].country", "invalid_country") in refused(
        check_application, profile(), [nowhere]
    )


def test_a_refused_application_names_every_bad_field_of_the_profile_and_why():
    sloppy = Profile(
        display_name="A",
        bio="x" * 5001,
        specializations=["yoga"] * 21,
        certifications=["RYT-200", "bell\x07", "  "],
        years_experience=81,
        languages=[],
        timezone="Mars/Olympus",
    )
    assert said(check_application, sloppy, [Location(new_id(), LocationKind.VIRTUAL)]) == [
        ("languages", "must name at least one language (ISO 639-1, e.g. en)", "required"),
        ("years_experience", "must be between 0 and 80", "out_of_range"),
        ("display_name", "must be at least 2 characters", "too_short"),
        ("bio", "must be at most 5000 characters", "too_long"),
        ("specializations", "must hold at most 20 items", "too_many"),
        ("certifications[1]", "must not contain control characters", "invalid"),
        ("certifications[2]", "is required", "required"),
        ("timezone", "must be an IANA time zone name such as Europe/Lisbon", "invalid_timezone"),
    ]
    babel = replace(profile(), languages=["en", "xx", *["pt"] * 9])
    assert said(check_application, babel, []) == [
        ("languages", "must hold at most 10 languages", "too_many"),
        ("languages[1]", "must be an ISO 639-1 code such as en or pt", "invalid_language"),
        ("locations", "must hold at least one location (virtual or an address)", "required"),
    ]


def test_a_practitioner_speaks_up_to_ten_languages_written_in_any_case():
    polyglot = ["en", "pt", "es", "fr", "de", "it", "nl", "sv", "pl", "ja"]
    spoken = [" EN ", *polyglot[1:]]
    checked, _ = check_application(replace(profile(), languages=spoken), [STUDIO])
    assert checked.languages == polyglot


def test_a_profile_needs_a_time_zone():
    assert said(check_application, replace(profile(), timezone=""), [STUDIO]) == [
        ("timezone", "is required", "required")
    ]


def test_a_refused_application_names_every_bad_field_of_a_place_and_why():
    nowhere = Location(new_id(), LocationKind.IN_PERSON, "", " ", "x" * 101, "zz", 91.0, -181.0)
    assert said(check_application, profile(), [STUDIO, nowhere]) == [
        ("locations[1].address", "is required", "required"),
        ("locations[1].city", "must be at most 100 characters", "too_long"),
        (
            "locations[1].country",
            "must be an ISO 3166-1 alpha-2 code such as PT",
            "invalid_country",
        ),
        ("locations[1].lat", "must be a latitude between -90 and 90", "out_of_range"),
        ("locations[1].lng", "must be a longitude between -180 and 180", "out_of_range"),
    ]
    assert said(check_application, profile(), [STUDIO] * 21) == [
        ("locations", "must hold at most 20", "too_many")
    ]


def test_a_studio_and_a_name_may_be_as_long_as_their_bounds_and_no_longer():
    named = replace(profile(), display_name="N" * 100)
    studio = replace(STUDIO, label=" " + "S" * 100 + " ")
    checked, [kept] = check_application(named, [studio])
    assert checked.display_name == "N" * 100 and kept.label == "S" * 100
    assert said(check_application, profile(), [replace(STUDIO, label="S" * 101)]) == [
        ("locations[0].label", "must be at most 100 characters", "too_long")
    ]


def test_a_virtual_place_keeps_only_a_short_label():
    online = Location(
        new_id(), LocationKind.VIRTUAL, " " + "L" * 120, "Rua 1", "Lisboa", "PT", 1, 2
    )
    _, [kept] = check_application(profile(), [online])
    assert kept == Location(online.id, LocationKind.VIRTUAL, "L" * 100)


def test_a_practitioner_has_at_most_so_many_places():
    seller = practitioner()
    seller.locations = [Location(new_id(), LocationKind.VIRTUAL) for _ in range(19)]
    seller.add_location(Location(new_id(), LocationKind.VIRTUAL))
    with pytest.raises(FailedPrecondition) as error:
        seller.add_location(Location(new_id(), LocationKind.VIRTUAL))
    assert error.value.reason == "TOO_MANY_LOCATIONS"
    # A removed place no longer counts.
    seller.locations[0].removed_at = NOW
    seller.add_location(Location(new_id(), LocationKind.VIRTUAL))
    assert len(seller.active_locations) == LOCATION_COUNT.high


def test_a_place_in_use_stays_and_another_practitioners_place_is_not_found():
    seller = practitioner()
    with pytest.raises(FailedPrecondition) as error:
        seller.remove_location(STUDIO.id, LATER, in_use=True)
    assert error.value.reason == "LOCATION_IN_USE"
    with pytest.raises(NotFound):
        seller.remove_location(new_id(), LATER, in_use=False)
    removed = seller.remove_location(STUDIO.id, LATER, in_use=False)
    assert removed.removed_at == LATER and seller.active_location(STUDIO.id) is None


def test_a_place_changes_only_as_a_valid_place():
    seller = practitioner()
    moved = seller.update_location(
        STUDIO.id, ["address", "country_code"], replace(STUDIO, address="Rua 2", country_code="es")
    )
    assert (moved.address, moved.country_code) == ("Rua 2", "ES")
    assert refused(
        seller.update_location, STUDIO.id, ["latitude"], replace(STUDIO, latitude=99.0)
    ) == [("lat", "out_of_range")]
    assert refused(seller.update_location, STUDIO.id, ["kind"], STUDIO) == [("kind", "read_only")]


def test_a_refused_place_says_why():
    seller = practitioner()
    seller.locations = [Location(new_id(), LocationKind.VIRTUAL) for _ in range(20)]
    place = Location(new_id(), LocationKind.VIRTUAL)
    assert denial(lambda: seller.add_location(place)) == (
        "TOO_MANY_LOCATIONS",
        "at most 20 locations",
    )
    seller = practitioner()
    assert denial(lambda: seller.remove_location(STUDIO.id, LATER, in_use=True)) == (
        "LOCATION_IN_USE",
        "an active service takes place there; move or archive it first",
    )
    assert denial(lambda: seller.own_location(new_id())) == (
        "NOT_FOUND",
        "no such location of yours",
    )


# Selling -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [PractitionerStatus.PENDING, PractitionerStatus.REJECTED])
def test_only_an_approved_practitioner_publishes(status):
    seller = practitioner(status)
    with pytest.raises(PermissionDenied) as error:
        Service.publish(service(seller), new_id(), context(seller))
    assert error.value.reason == "NOT_A_PRACTITIONER"


def test_a_published_session_seats_one_and_announces_its_terms():
    seller = practitioner()
    draft = service(seller, id="", max_participants=0, cancellation_policy=[])
    made, event = Service.publish(draft, "svc-1", context(seller))
    assert (made.id, made.practitioner_id, made.status) == (
        "svc-1",
        seller.id,
        ServiceStatus.ACTIVE,
    )
    assert made.max_participants == 1 and made.cancellation_policy == DEFAULT_POLICY
    assert event == ServicePublished(made, seller.user_id, "Europe/Lisbon")


@pytest.mark.parametrize(
    ("tier", "active", "allowed"),
    [
        (Tier.FREE, 1, True),
        (Tier.FREE, 2, False),
        (Tier.ENTRY, 19, True),
        (Tier.ENTRY, 20, False),
        (Tier.PREMIUM, 10_000, True),
    ],
)
def test_a_tier_allows_so_many_active_services(tier, active, allowed):
    seller = practitioner()
    seller.tier = tier
    if allowed:
        seller.check_service_limit(LIMITS, active)
        return
    with pytest.raises(FailedPrecondition) as error:
        seller.check_service_limit(LIMITS, active)
    assert error.value.reason == "SERVICE_LIMIT_REACHED"
    assert error.value.metadata == {"tier": tier.value, "limit": str(LIMITS[tier])}


def test_the_tier_limit_says_the_plan_and_how_to_sell_more():
    seller = practitioner()
    seller.tier = Tier.FREE
    assert denial(lambda: seller.check_service_limit(LIMITS, 2)) == (
        "SERVICE_LIMIT_REACHED",
        "your free plan allows 2 active services; archive one or upgrade",
    )


def test_only_an_approved_practitioner_is_told_they_cannot_sell_yet():
    pending = practitioner(PractitionerStatus.PENDING)
    assert denial(lambda: Service.publish(service(pending), new_id(), context(pending))) == (
        "NOT_A_PRACTITIONER",
        "only approved practitioners can create services",
    )


def test_availability_is_marked_once_for_onboarding():
    seller = practitioner()
    assert seller.mark_availability_set(NOW) and seller.onboarding.availability_set
    assert seller.mark_availability_set(LATER) is False and seller.updated_at == NOW


def test_the_first_service_is_marked_once():
    seller = practitioner()
    assert seller.mark_first_service(NOW) and seller.onboarding.first_service_created
    assert not seller.mark_first_service(LATER) and seller.first_service_at == NOW


def test_a_refused_service_names_its_title_description_and_category_and_why():
    seller = practitioner()
    offer = service(seller, title=" Yo ", description="x" * 5001)
    unfiled = replace(context(seller), category_exists=False)
    assert said(check_service, offer, unfiled) == [
        ("title", "must be at least 3 characters", "too_short"),
        ("description", "must be at most 5000 characters", "too_long"),
        ("category_id", "is not a category", "unknown_category"),
    ]


def test_a_refused_service_names_each_term_out_of_bounds_and_why():
    seller = practitioner()
    offer = service(
        seller,
        currency="EURO",
        price_minor=-1,
        buffer_before_minutes=241,
        buffer_after_minutes=-1,
        min_notice_minutes=30 * 24 * 60 + 1,
        booking_window_days=0,
    )
    assert said(check_service, offer, context(seller)) == [
        ("price.currency", "must be an ISO 4217 currency code such as EUR", "invalid_currency"),
        ("price.amount_minor", "must be between 0 and 10000000000", "out_of_range"),
        ("buffer_before_minutes", "must be between 0 and 240", "out_of_range"),
        ("buffer_after_minutes", "must be between 0 and 240", "out_of_range"),
        ("min_notice_minutes", "must be between 0 and 43200", "out_of_range"),
        ("booking_window_days", "must be between 1 and 730", "out_of_range"),
    ]


def test_an_in_person_service_takes_place_at_one_of_its_sellers_studios():
    seller = practitioner()
    online = seller.locations[0]
    for place_id, refusal in (
        (None, ("location.location_id", "is required for an in-person service", "required")),
        (
            online.id,
            ("location.location_id", "is not one of your in-person locations", "unknown_location"),
        ),
        (
            new_id(),
            ("location.location_id", "is not one of your in-person locations", "unknown_location"),
        ),
    ):
        offer = service(seller, location_kind=LocationKind.IN_PERSON, location_id=place_id)
        assert said(check_service, offer, context(seller)) == [refusal]
    at_studio = service(seller, location_kind=LocationKind.IN_PERSON, location_id=STUDIO.id)
    assert check_service(at_studio, context(seller)).location_id == STUDIO.id
    online_only = service(seller, location_id=STUDIO.id)
    assert check_service(online_only, context(seller)).location_id is None


def test_a_refused_cancellation_policy_names_each_bad_rule_and_why():
    seller = practitioner()
    eleven = [RefundRule(h, 50) for h in range(11)]
    assert said(check_service, service(seller, cancellation_policy=eleven), context(seller)) == [
        ("cancellation_policy", "must hold at most 10 rules", "too_many")
    ]
    ten = check_service(service(seller, cancellation_policy=eleven[:10]), context(seller))
    assert [rule.hours_before for rule in ten.cancellation_policy] == list(range(9, -1, -1))
    rules = [RefundRule(24, 101), RefundRule(9000, 50), RefundRule(24, 0)]
    assert said(check_service, service(seller, cancellation_policy=rules), context(seller)) == [
        ("cancellation_policy[0].hours_before", "must be between 0 and 8760", "out_of_range"),
        ("cancellation_policy[1].refund_percent", "must be between 0 and 100", "out_of_range"),
        ("cancellation_policy", "must not repeat an hours_before", "duplicate"),
        ("cancellation_policy", "must not refund more for cancelling later", "not_monotonic"),
    ]


def test_an_update_is_checked_whole_and_announced():
    seller = practitioner()
    sold = service(seller)
    event = sold.update(
        ["title", "price"],
        replace(sold, title="  Evening yoga ", price_minor=5000, currency="eur"),
        context(seller, now=LATER),
    )
    assert (sold.title, sold.price_minor, sold.currency) == ("Evening yoga", 5000, "EUR")
    assert sold.updated_at == LATER and event == ServiceUpdated(
        sold, seller.user_id, "Europe/Lisbon"
    )
    assert refused(sold.update, ["kind"], sold, context(seller)) == [("kind", "read_only")]
    assert refused(
        sold.update, ["duration_minutes"], replace(sold, duration_minutes=1), context(seller)
    ) == [("duration_minutes", "out_of_range")]
    assert sold.duration_minutes == 60


def test_an_archived_service_never_changes_and_is_archived_once():
    seller = practitioner()
    sold = service(seller)
    assert sold.archive(LATER) == ServiceArchived(sold.id, seller.id, LATER)
    assert sold.status is ServiceStatus.ARCHIVED and sold.archived_at == LATER
    for change in (
        lambda: sold.archive(LATER),
        lambda: sold.update(["title"], replace(sold, title="Again"), context(seller)),
    ):
        with pytest.raises(FailedPrecondition) as error:
            change()
        assert error.value.reason == "ARCHIVED"


def test_a_service_a_package_or_bundle_is_made_of_stays_on_sale():
    sold = service(practitioner())
    with pytest.raises(FailedPrecondition) as error:
        sold.archive(LATER, in_use=True)
    assert error.value.reason == "IN_USE" and sold.is_active


def test_a_quote_is_only_for_a_service_on_sale():
    seller = practitioner()
    sold = service(seller)
    assert sold.quote(seller, 0).total_minor == 4000
    suspended = practitioner()
    suspended.suspend(NOW)
    for seller_now, offered in (
        (suspended, service(suspended)),
        (seller, service(seller, status=ServiceStatus.ARCHIVED)),
        (practitioner(PractitionerStatus.PENDING), sold),
    ):
        with pytest.raises(FailedPrecondition) as error:
            offered.quote(seller_now, 1)
        assert error.value.reason == "NOT_ON_SALE"


def test_a_quote_sells_a_session_once_and_a_workshop_by_the_seat():
    seller = practitioner()
    assert refused(service(seller).quote, seller, 2) == [("quantity", "out_of_range")]
    group = workshop(seller, dated(24))
    assert group.quote(seller, 12).total_minor == 12 * 4000
    assert refused(group.quote, seller, 13) == [("quantity", "out_of_range")]


def test_publishing_puts_the_service_on_sale_now_whatever_the_draft_says():
    seller = practitioner()
    stale = NOW - timedelta(days=30)
    draft = service(seller, status=ServiceStatus.ARCHIVED, created_at=stale, updated_at=stale)
    made, _ = Service.publish(draft, new_id(), context(seller, now=LATER))
    assert made.is_active and made.created_at == made.updated_at == LATER


def test_a_service_off_sale_or_in_use_says_why_it_cannot_change():
    seller = practitioner()
    sold = service(seller)
    assert denial(lambda: sold.archive(LATER, in_use=True)) == (
        "IN_USE",
        "an active package or bundle contains this service; archive it first",
    )
    assert denial(lambda: sold.quote(practitioner(PractitionerStatus.PENDING), 1)) == (
        "NOT_ON_SALE",
        "the service is not on sale",
    )
    assert said(sold.quote, seller, 2) == [("quantity", "must be between 1 and 1", "out_of_range")]
    sold.archive(LATER)
    assert denial(lambda: sold.archive(LATER)) == ("ARCHIVED", "the service is already archived")
    retitled = replace(sold, title="Again")
    assert denial(lambda: sold.update(["title"], retitled, context(seller))) == (
        "ARCHIVED",
        "archived services cannot change",
    )


def test_a_session_seats_one_client_and_has_no_dated_sessions():
    seller = practitioner()
    assert said(check_service, service(seller, max_participants=2), context(seller)) == [
        ("max_participants", "must be 1 for a session (one client)", "out_of_range")
    ]
    assert said(check_service, service(seller, sessions=dated(24)), context(seller)) == [
        ("kind", "a session has no dated sessions, package terms or bundle items", "kind_mismatch")
    ]


# Dated sessions ----------------------------------------------------------------------------


def test_dated_sessions_in_the_past_are_refused():
    seller = practitioner()
    past = workshop(seller, dated(-1, 24))
    assert refused(check_service, past, context(seller)) == [
        ("sessions[0].start_time", "in_the_past")
    ]


def test_overlapping_dated_sessions_are_refused_naming_the_later_one():
    seller = practitioner()
    overlapping = workshop(seller, dated(48, 24, 24.5))
    assert refused(check_service, overlapping, context(seller)) == [
        ("sessions[1].start_time", "overlap")
    ]


def test_a_refused_workshop_names_each_bad_session_and_why():
    seller = practitioner()
    sessions = [DatedSession(NOW, 60), DatedSession(NOW + timedelta(minutes=30), 4)]
    assert said(check_service, workshop(seller, sessions), context(seller)) == [
        ("sessions[0].start_time", "must be in the future", "in_the_past"),
        ("sessions[1].duration_minutes", "must be between 5 and 720", "out_of_range"),
        ("sessions[1].start_time", "overlaps the session before it", "overlap"),
    ]


def test_a_workshop_lasts_a_bounded_time_and_has_no_package_terms():
    seller = practitioner()
    short = workshop(seller, dated(24), duration_minutes=4)
    assert said(check_service, short, context(seller)) == [
        ("duration_minutes", "must be between 5 and 720", "out_of_range")
    ]
    sold_as_package = workshop(seller, dated(24), package=PackageTerms(new_id(), 5, 90))
    assert said(check_service, sold_as_package, context(seller)) == [
        ("kind", "a workshop has no package terms or bundle items", "kind_mismatch")
    ]
    undated = replace(workshop(seller, dated(24, 48)), kind=ServiceKind.COURSE, sessions=[])
    assert said(check_service, undated, context(seller)) == [
        ("sessions", "a course needs between 2 and 100 dated sessions", "out_of_range")
    ]


@pytest.mark.parametrize(
    ("kind", "count"),
    [
        (ServiceKind.WORKSHOP, 0),
        (ServiceKind.WORKSHOP, WORKSHOP_SESSIONS.high + 1),
        (ServiceKind.COURSE, 1),
        (ServiceKind.COURSE, COURSE_SESSIONS.high + 1),
    ],
)
def test_too_few_or_too_many_dated_sessions_are_refused(kind, count):
    seller = practitioner()
    sessions = dated(*(24 + 2 * n for n in range(count)))
    group = replace(workshop(seller, sessions), kind=kind)
    assert refused(check_service, group, context(seller)) == [("sessions", "out_of_range")]


@given(
    gaps=st.lists(st.integers(min_value=0, max_value=600), min_size=2, max_size=30),
    durations=st.lists(
        st.integers(min_value=DURATION_MINUTES.low, max_value=DURATION_MINUTES.high),
        min_size=30,
        max_size=30,
    ),
    order=st.randoms(use_true_random=False),
)
def test_dated_sessions_apart_are_kept_in_time_order_and_touching_ones_overlap_nothing(
    gaps, durations, order
):
    seller = practitioner()
    sessions, start = [], NOW + timedelta(days=1)
    for gap, minutes in zip(gaps, durations, strict=False):
        sessions.append(DatedSession(start, minutes))
        start += timedelta(minutes=minutes + gap)
    shuffled = list(sessions)
    order.shuffle(shuffled)
    course = replace(workshop(seller, shuffled), kind=ServiceKind.COURSE)
    assert check_service(course, context(seller)).sessions == sessions


@given(
    first=st.integers(min_value=DURATION_MINUTES.low, max_value=DURATION_MINUTES.high),
    overlap=st.integers(min_value=1, max_value=DURATION_MINUTES.low),
)
def test_a_session_starting_before_the_previous_one_ends_is_an_overlap(first, overlap):
    seller = practitioner()
    start = NOW + timedelta(days=1)
    second = start + timedelta(minutes=first - overlap)
    sessions = [DatedSession(start, first), DatedSession(second, DURATION_MINUTES.low)]
    assert refused(check_service, workshop(seller, sessions), context(seller)) == [
        ("sessions[1].start_time", "overlap")
    ]


@given(seats=st.integers(min_value=-5, max_value=GROUP_SEATS.high + 5))
def test_a_group_seats_between_two_and_the_maximum(seats):
    seller = practitioner()
    group = workshop(seller, dated(24), max_participants=seats)
    if seats in GROUP_SEATS:
        assert check_service(group, context(seller)).max_participants == seats
    else:
        assert refused(check_service, group, context(seller)) == [
            ("max_participants", "out_of_range")
        ]


# Packages ----------------------------------------------------------------------------------


def package(
    seller: Practitioner, part: Service, count: int, price: int, **values: object
) -> Service:
    return service(
        seller,
        ServiceKind.PACKAGE,
        price_minor=price,
        package=PackageTerms(part.id, count, 90),
        duration_minutes=0,
        **values,
    )


@given(
    part_price=st.integers(min_value=0, max_value=100_000),
    count=st.integers(min_value=PACKAGE_SESSIONS.low, max_value=PACKAGE_SESSIONS.high),
    price=st.integers(min_value=0, max_value=10_000_000),
)
def test_a_package_costs_less_than_its_sessions_bought_one_by_one(part_price, count, price):
    seller = practitioner()
    part = service(seller, price_minor=part_price)
    offer = package(seller, part, count, price)
    if price < part_price * count:
        checked = check_service(offer, context(seller, part))
        assert checked.duration_minutes == part.duration_minutes and checked.max_participants == 1
        assert saving_of(checked, part_price * count) == part_price * count - price > 0
    else:
        assert refused(check_service, offer, context(seller, part)) == [
            ("price.amount_minor", "no_discount")
        ]


def test_a_package_is_made_of_an_active_session_of_the_same_currency():
    seller = practitioner()
    part = service(seller)
    assert refused(
        check_service, package(seller, part, 5, 100, currency="USD"), context(seller, part)
    ) == [("price.currency", "currency_mismatch")]
    for other in (
        replace(part, status=ServiceStatus.ARCHIVED),
        replace(part, kind=ServiceKind.WORKSHOP),
    ):
        assert refused(check_service, package(seller, other, 5, 100), context(seller, other)) == [
            ("package.session_service_id", "unknown_service")
        ]
    # Another practitioner's session is not in the context: not one of yours.
    assert refused(check_service, package(seller, part, 5, 100), context(seller)) == [
        ("package.session_service_id", "unknown_service")
    ]


def test_a_refused_package_names_its_terms_and_why():
    seller = practitioner()
    part = service(seller)
    without_terms = replace(package(seller, part, 5, 100), package=None)
    assert said(check_service, without_terms, context(seller)) == [
        ("package", "is required for a package", "required")
    ]
    dated_package = package(seller, part, 1, 100, sessions=dated(24))
    dated_package.package = PackageTerms(part.id, 1, 0)
    assert said(check_service, dated_package, context(seller, part)) == [
        ("kind", "a package has no dated sessions or bundle items", "kind_mismatch"),
        ("package.session_count", "must be between 2 and 100", "out_of_range"),
        ("package.validity_days", "must be between 1 and 730", "out_of_range"),
    ]
    assert said(check_service, package(seller, part, 5, 100), context(seller)) == [
        (
            "package.session_service_id",
            "must be one of your active session services",
            "unknown_service",
        )
    ]
    dollars = package(seller, part, 2, 8000, currency="USD")
    assert said(check_service, dollars, context(seller, part)) == [
        ("price.currency", "must match the session service's currency EUR", "currency_mismatch"),
        (
            "price.amount_minor",
            "must be less than the sessions bought one by one",
            "no_discount",
        ),
    ]


# Bundles -----------------------------------------------------------------------------------


def bundle(seller: Practitioner, items: list[BundleItem], price: int, **values: object) -> Service:
    return service(seller, ServiceKind.BUNDLE, price_minor=price, bundle_items=items, **values)


def test_a_bundle_lists_a_service_once():
    seller = practitioner()
    part, other = service(seller), service(seller)
    twice = bundle(seller, [BundleItem(part.id, 1), BundleItem(part.id, 2)], 100)
    assert refused(check_service, twice, context(seller, part, other)) == [
        ("bundle_items", "duplicate")
    ]


def test_a_bundles_parts_are_in_its_currency():
    seller = practitioner()
    euros, dollars = service(seller), service(seller, currency="USD")
    mixed = bundle(seller, [BundleItem(euros.id, 1), BundleItem(dollars.id, 1)], 100)
    assert refused(check_service, mixed, context(seller, euros, dollars)) == [
        ("bundle_items[1].service_id", "currency_mismatch")
    ]


def test_a_bundle_has_no_dated_sessions_or_package_terms_and_no_bundle_inside():
    seller = practitioner()
    part, other = service(seller), service(seller)
    items = [BundleItem(part.id, 1), BundleItem(other.id, 1)]
    with_dates = bundle(seller, items, 100, sessions=dated(24))
    assert refused(check_service, with_dates, context(seller, part, other)) == [
        ("kind", "kind_mismatch")
    ]
    nested = service(seller, ServiceKind.BUNDLE)
    inner = bundle(seller, [BundleItem(part.id, 1), BundleItem(nested.id, 1)], 100)
    assert refused(check_service, inner, context(seller, part, nested)) == [
        ("bundle_items[1].service_id", "unknown_service")
    ]


def test_a_refused_bundle_names_each_bad_item_and_why():
    seller = practitioner()
    euros, dollars = service(seller), service(seller, currency="USD")
    alone = bundle(seller, [BundleItem(euros.id, 1)], 100, package=PackageTerms(euros.id, 2, 9))
    assert said(check_service, alone, context(seller, euros)) == [
        ("kind", "a bundle has no dated sessions or package terms", "kind_mismatch"),
        ("bundle_items", "a bundle holds between 2 and 20 services", "out_of_range"),
    ]
    items = [BundleItem(new_id(), 1), BundleItem(euros.id, 0), BundleItem(dollars.id, 1)]
    assert said(check_service, bundle(seller, items, 100), context(seller, euros, dollars)) == [
        (
            "bundle_items[0].service_id",
            "must be one of your active services (not a bundle)",
            "unknown_service",
        ),
        ("bundle_items[1].quantity", "must be between 1 and 20", "out_of_range"),
        ("bundle_items[2].service_id", "is priced in USD, not EUR", "currency_mismatch"),
    ]
    twice = bundle(seller, [BundleItem(euros.id, 1), BundleItem(euros.id, 1)], 8000)
    assert said(check_service, twice, context(seller, euros)) == [
        ("bundle_items", "must not list a service twice", "duplicate"),
        (
            "price.amount_minor",
            "must be less than the services bought separately",
            "no_discount",
        ),
    ]


def test_a_package_or_bundle_seats_one_whatever_its_draft_said():
    seller = practitioner()
    parts = service(seller), service(seller)
    items = [BundleItem(p.id, 1) for p in parts]
    for offer in (
        package(seller, parts[0], 5, 100, max_participants=8),
        bundle(seller, items, 100, max_participants=8),
    ):
        assert check_service(offer, context(seller, *parts)).max_participants == 1


def test_a_session_has_no_parts_of_other_kinds():
    seller = practitioner()
    session = service(seller, bundle_items=[BundleItem(new_id(), 1)])
    assert refused(check_service, session, context(seller)) == [("kind", "kind_mismatch")]


@given(
    prices=st.lists(st.integers(min_value=1, max_value=50_000), min_size=2, max_size=20),
    quantities=st.lists(
        st.integers(min_value=BUNDLE_QUANTITY.low, max_value=BUNDLE_QUANTITY.high),
        min_size=20,
        max_size=20,
    ),
    discount=st.integers(min_value=-1000, max_value=1000),
)
def test_a_bundle_costs_less_than_its_parts_and_lasts_as_long_as_they_do(
    prices, quantities, discount
):
    seller = practitioner()
    parts = [service(seller, price_minor=p, duration_minutes=30 + n) for n, p in enumerate(prices)]
    items = [BundleItem(p.id, q) for p, q in zip(parts, quantities, strict=False)]
    total = sum(p.price_minor * i.quantity for p, i in zip(parts, items, strict=False))
    price = max(total - discount, 0)
    offer = bundle(seller, items, price)
    if price < total:
        checked = check_service(offer, context(seller, *parts))
        minutes = sum(p.duration_minutes * i.quantity for p, i in zip(parts, items, strict=False))
        assert checked.duration_minutes == minutes and checked.max_participants == 1
        assert saving_of(checked, total) == total - price
    else:
        assert refused(check_service, offer, context(seller, *parts)) == [
            ("price.amount_minor", "no_discount")
        ]


# Cancellation policies ---------------------------------------------------------------------


@given(
    rules=st.lists(
        st.tuples(st.integers(0, 8760), st.integers(0, 100)),
        min_size=1,
        max_size=10,
        unique_by=lambda rule: rule[0],
    )
)
def test_a_policy_never_refunds_more_for_cancelling_later(rules):
    seller = practitioner()
    offer = service(seller, cancellation_policy=[RefundRule(h, p) for h, p in rules])
    by_notice = sorted(rules, reverse=True)
    monotonic = all(a[1] >= b[1] for a, b in itertools.pairwise(by_notice))
    if monotonic:
        kept = check_service(offer, context(seller)).cancellation_policy
        assert [(r.hours_before, r.refund_percent) for r in kept] == by_notice
    else:
        assert refused(check_service, offer, context(seller)) == [
            ("cancellation_policy", "not_monotonic")
        ]


def test_a_policy_repeats_no_notice():
    seller = practitioner()
    offer = service(seller, cancellation_policy=[RefundRule(24, 50), RefundRule(24, 50)])
    assert refused(check_service, offer, context(seller)) == [("cancellation_policy", "duplicate")]


# Categories --------------------------------------------------------------------------------


def category(slug: str, parent: Category | None = None) -> Category:
    return Category.create(new_id(), Category("", slug, slug.title(), "", None, 0, ""), parent)


def test_a_category_is_filed_under_its_parents_path():
    top = category("yoga")
    child = category("hatha", top)
    assert top.path == f"/{top.id}/" and child.path == f"/{top.id}/{child.id}/"
    assert child.parent_id == top.id


def test_a_category_never_moves_under_itself_or_beneath_it():
    top = category("yoga")
    child = category("hatha", top)
    for parent in (top, child):
        with pytest.raises(InvalidArgument) as error:
            top.move_under(parent)
        assert [(v.field, v.code) for v in error.value.violations] == [("parent_id", "cycle")]
    child.move_under(None)
    assert (child.parent_id, child.path) == (None, f"/{child.id}/")


def test_a_category_with_subcategories_or_services_is_not_deleted():
    top = category("yoga")
    top.check_removable(has_children=False, has_services=False)
    for children, services in ((True, False), (False, True)):
        with pytest.raises(FailedPrecondition) as error:
            top.check_removable(has_children=children, has_services=services)
        assert error.value.reason == "IN_USE"


def test_a_category_is_named_by_a_slug_and_filed_at_a_bounded_position():
    values = Category("", "Sound Healing", "", "", None, -1, "")
    assert refused(Category.create, new_id(), values, None) == [
        ("slug", "invalid_slug"),
        ("name", "required"),
        ("position", "out_of_range"),
    ]
    top = category("yoga")
    assert refused(top.update, ["path"], top) == [("path", "read_only")]


def test_a_category_description_is_at_most_1000_characters():
    values = Category("", "yoga", "Yoga", "x" * 1001, None, 0, "")
    assert said(Category.create, new_id(), values, None) == [
        ("description", "must be at most 1000 characters", "too_long")
    ]


def test_a_slug_is_at_most_80_characters():
    assert category("a" * 80).slug == "a" * 80
    values = Category("", "a" * 81, "Long", "", None, 0, "")
    assert said(Category.create, new_id(), values, None) == [
        (
            "slug",
            "must be lower-case words joined by hyphens, e.g. sound-healing",
            "invalid_slug",
        )
    ]


def test_a_category_in_use_or_moved_beneath_itself_says_why():
    top = category("yoga")
    assert denial(lambda: top.check_removable(has_children=True, has_services=True)) == (
        "IN_USE",
        "the category has subcategories",
    )
    assert denial(lambda: top.check_removable(has_children=False, has_services=True)) == (
        "IN_USE",
        "services are filed under it",
    )
    assert said(top.move_under, top) == [
        ("parent_id", "cannot be the category itself or one beneath it", "cycle")
    ]


def test_staff_rename_a_category_and_only_move_it_under_another_by_moving_it():
    top, other = category("yoga"), category("mindfulness")
    child = category("hatha", top)
    values = Category("", "hatha-flow", " Hatha flow ", "Slow.", other.id, 3, "")
    child.update(["slug", "name", "description", "position", "parent_id"], values)
    assert (child.slug, child.name, child.description, child.position) == (
        "hatha-flow",
        "Hatha flow",
        "Slow.",
        3,
    )
    assert (child.parent_id, child.path) == (top.id, f"/{top.id}/{child.id}/")
    child.update(["name"], replace(values, name="Hatha"))
    assert (child.name, child.slug, child.description) == ("Hatha", "hatha-flow", "Slow.")


def test_an_update_says_it_names_no_field_or_one_that_cannot_change():
    top = category("yoga")
    assert said(top.update, [], top) == [
        ("update_mask", "must name at least one field", "required")
    ]
    assert said(top.update, ["id", "path"], top) == [
        ("id", "cannot be changed here", "read_only"),
        ("path", "cannot be changed here", "read_only"),
    ]


# Discovery ---------------------------------------------------------------------------------


def test_the_sort_defaults_to_relevance_for_words_and_newest_without():
    assert choose_sort(None, has_text=True, point=None) is SortOrder.RELEVANCE
    assert choose_sort(None, has_text=False, point=None) is SortOrder.NEWEST
    with pytest.raises(InvalidArgument):
        choose_sort(SortOrder.DISTANCE, has_text=True, point=None)
    with pytest.raises(InvalidArgument):
        choose_sort(SortOrder.RELEVANCE, has_text=False, point=(0.0, 0.0))


def test_a_radius_needs_a_point_and_a_price_range_its_order():
    assert refused(check_radius, 10.0, None) == [("radius_km", "required")]
    assert refused(check_radius, 0.0, (0.0, 0.0)) == [("radius_km", "out_of_range")]
    assert check_radius(None, None) is None
    assert refused(check_price_range, 10, 5) == [("price_max", "out_of_range")]
