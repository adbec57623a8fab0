"""Catalog's use cases on the real unit of work over a temporary SQLite file, on a frozen
clock, with no process, port or bus started: the rules that reach the database (who may
change what, the guarded review, the tier limit, places in use, the outbox's events and the
audit log's staff actions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chassis.audit import STAFF_ACTION_RECORDED
from chassis.auth.principal import AccountStatus, Principal, Role
from chassis.clock import FrozenClock
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.ids import new_id
from chassis.lifecycle import WrongState
from chassis.wire import from_struct, instant
from services.catalog.bootstrap import CatalogService
from services.catalog.domain.categories import Category
from services.catalog.domain.practitioners import (
    Location,
    LocationKind,
    Practitioner,
    PractitionerStatus,
    Tier,
)
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    Service,
    ServiceKind,
    ServiceStatus,
)
from services.catalog.events import (
    PRACTITIONER_APPROVED,
    PRACTITIONER_REJECTED,
    SERVICE_ARCHIVED,
    SERVICE_PUBLISHED,
    SERVICE_UPDATED,
)
from services.catalog.search import PractitionerQuery
from services.catalog.service_layer import Catalog
from services.catalog.service_layer.practitioners import follow_account
from services.catalog.uow import CatalogUnitOfWork
from tests.builders import (
    STAFF,
    VIRTUAL,
    built_catalog,
    draft,
    outbox_events,
    outbox_messages,
    person,
    profile,
)

STUDIO = Location("", LocationKind.IN_PERSON, "Studio", "Rua Augusta 1", "Lisboa", "PT", 38.7, -9.1)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
async def shop(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[CatalogService]:
    async with built_catalog(f"sqlite+aiosqlite:///{tmp_path}/catalog.db", clock=clock) as built:
        yield built


@pytest.fixture
def catalog(shop: CatalogService) -> Catalog:
    return shop.catalog


async def selling(
    catalog: Catalog, clock: FrozenClock, name: str = "Ana Lima", tier: Tier = Tier.PREMIUM
) -> tuple[Principal, Practitioner]:
    """An approved practitioner with a virtual place and a studio, on a tier."""
    user = person()
    applied = await catalog.apply(user, profile(name), [*VIRTUAL, STUDIO])
    approved = await catalog.approve(STAFF, f"practitioners/{applied.practitioner.id}")
    await catalog.set_tier(user.subject, tier, clock.now())
    return person(user.subject, Role.PRACTITIONER), approved.practitioner


async def yoga(catalog: Catalog, slug: str = "yoga") -> Category:
    return await catalog.create_category(STAFF, Category("", slug, "Yoga", "", None, 0, ""))


def session(category: Category, **values: object) -> Service:
    return replace(draft(category.id), **values)  # type: ignore[arg-type]


def workshop(category: Category, sessions: list[DatedSession]) -> Service:
    return session(category, kind=ServiceKind.WORKSHOP, max_participants=10, sessions=sessions)


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[tuple[str, str]]:
    return [(v.field, v.code) for v in error.value.violations]


async def staff_actions(shop: CatalogService, subject: str) -> list[dict[str, object]]:
    found = await outbox_messages(shop.runtime.database, STAFF_ACTION_RECORDED, subject)
    return [
        {"action": m.action, "before": from_struct(m.before), "after": from_struct(m.after)}
        for m in found
    ]


# The review of an application --------------------------------------------------------------


async def test_an_approval_is_announced_and_filed_as_a_staff_action(shop, catalog, clock):
    user = person()
    applied = await catalog.apply(user, profile(), VIRTUAL)
    subject = f"practitioners/{applied.practitioner.id}"
    clock.advance(timedelta(hours=2))
    approved = await catalog.approve(STAFF, subject)
    assert approved.practitioner.status is PractitionerStatus.APPROVED
    [announced] = await outbox_messages(shop.runtime.database, PRACTITIONER_APPROVED, subject)
    assert (announced.user_id, announced.display_name) == (user.subject, "Ana Lima")
    assert instant(announced.approve_time) == clock.now()
    assert await staff_actions(shop, subject) == [
        {
            "action": "practitioner.approve",
            "before": {"status": "pending", "featured": False, "rejection_reason": ""},
            "after": {"status": "approved", "featured": False, "rejection_reason": ""},
        }
    ]
    with pytest.raises(WrongState) as again:
        await catalog.reject(STAFF, subject, "Too late.")
    assert again.value.reason == "NOT_PENDING" and again.value.current == "approved"
    assert await outbox_events(shop.runtime.database, PRACTITIONER_REJECTED.name) == 0


async def test_a_rejected_applicant_sees_the_reason_and_may_apply_again(shop, catalog):
    user = person()
    applied = await catalog.apply(user, profile(), VIRTUAL)
    subject = f"practitioners/{applied.practitioner.id}"
    await catalog.reject(STAFF, subject, "  Add your certifications. ")
    [rejected] = await outbox_messages(shop.runtime.database, PRACTITIONER_REJECTED, subject)
    assert rejected.reason == "Add your certifications."
    own = await catalog.get_practitioner(user, "practitioners/me")
    assert own.practitioner.rejection_reason == "Add your certifications." and own.owner_view
    again = await catalog.apply(user, profile("Ana L."), [STUDIO])
    assert again.practitioner.id == applied.practitioner.id
    assert again.practitioner.status is PractitionerStatus.PENDING
    stored = (await catalog.get_practitioner(user, "practitioners/me")).practitioner
    assert stored.rejection_reason == "" and stored.profile.display_name == "Ana L."
    assert [p.kind for p in stored.active_locations] == [LocationKind.IN_PERSON]
    # A pending application is not public.
    with pytest.raises(NotFound):
        await catalog.get_practitioner(None, subject)


async def test_staff_never_review_their_own_application(catalog):
    reviewer = person(None, Role.STAFF)
    applied = await catalog.apply(reviewer, profile(), VIRTUAL)
    with pytest.raises(PermissionDenied) as refused:
        await catalog.approve(reviewer, f"practitioners/{applied.practitioner.id}")
    assert refused.value.reason == "OWN_ACCOUNT"


async def test_an_unapproved_practitioner_cannot_be_featured(shop, catalog, clock):
    applied = await catalog.apply(person(), profile(), VIRTUAL)
    subject = f"practitioners/{applied.practitioner.id}"
    with pytest.raises(WrongState) as refused:
        await catalog.feature(STAFF, subject, True)
    assert refused.value.reason == "NOT_APPROVED"
    assert await staff_actions(shop, subject) == []
    _, approved = await selling(catalog, clock, "Bea Costa")
    featured = await catalog.feature(STAFF, f"practitioners/{approved.id}", True)
    assert featured.practitioner.featured
    found = await catalog.list_practitioners(PractitionerQuery(featured_only=True), 10, "")
    assert [v.practitioner.id for v in found.items] == [approved.id]


# Who may change a service ------------------------------------------------------------------


async def test_a_rival_practitioner_cannot_change_or_archive_anothers_service(shop, catalog, clock):
    ana, _ = await selling(catalog, clock)
    ben, _ = await selling(catalog, clock, "Ben Reis")
    category = await yoga(catalog)
    made = (await catalog.create_service(ana, session(category))).service
    subject = f"services/{made.id}"
    with pytest.raises(PermissionDenied):
        await catalog.update_service(ben, made.id, ["title"], replace(made, title="Mine now"))
    with pytest.raises(PermissionDenied):
        await catalog.archive_service(ben, made.id)
    unchanged = await catalog.get_service(None, made.id)
    assert unchanged.service.title == "Morning yoga" and unchanged.on_sale
    # Its practitioner changes it without a staff action; staff change it with one.
    await catalog.update_service(ana, made.id, ["title"], replace(made, title="Hatha flow"))
    assert await staff_actions(shop, subject) == []
    await catalog.archive_service(STAFF, made.id)
    [archived] = await staff_actions(shop, subject)
    assert archived["action"] == "service.archive"
    assert archived["before"]["status"] == "active"  # type: ignore[index]
    assert archived["after"]["status"] == "archived"  # type: ignore[index]
    # Archived: public no more, still there for its practitioner.
    with pytest.raises(NotFound):
        await catalog.get_service(None, made.id)
    assert (await catalog.get_service(ana, made.id)).service.status is ServiceStatus.ARCHIVED


async def test_a_service_change_is_checked_whole_and_announced_with_its_terms(shop, catalog, clock):
    ana, practitioner = await selling(catalog, clock)
    category = await yoga(catalog)
    made = (await catalog.create_service(ana, session(category))).service
    subject = f"services/{made.id}"
    [published] = await outbox_messages(shop.runtime.database, SERVICE_PUBLISHED, subject)
    assert published.service.practitioner_user_id == ana.subject
    assert published.service.timezone == "Europe/Lisbon"
    with pytest.raises(InvalidArgument) as bad:
        await catalog.update_service(
            ana, made.id, ["duration_minutes", "status"], replace(made, duration_minutes=1)
        )
    assert fields(bad) == [("status", "read_only")]
    with pytest.raises(InvalidArgument) as bad:
        await catalog.update_service(
            ana, made.id, ["duration_minutes"], replace(made, duration_minutes=1)
        )
    assert fields(bad) == [("duration_minutes", "out_of_range")]
    changed = await catalog.update_service(
        ana, made.id, ["price"], replace(made, price_minor=5500, currency="eur")
    )
    assert (changed.service.price_minor, changed.service.currency) == (5500, "EUR")
    [updated] = await outbox_messages(shop.runtime.database, SERVICE_UPDATED, subject)
    assert updated.service.price.amount_minor == 5500
    assert practitioner.id == updated.service.practitioner_id


# What a service of each kind must be -------------------------------------------------------


async def test_dated_sessions_in_the_past_overlapping_or_too_many_are_refused(catalog, clock):
    ana, _ = await selling(catalog, clock)
    category = await yoga(catalog)
    soon = clock.now() + timedelta(days=1)
    cases = [
        (
            [DatedSession(clock.now() - timedelta(hours=1), 60)],
            ("sessions[0].start_time", "in_the_past"),
        ),
        (
            [DatedSession(soon, 90), DatedSession(soon + timedelta(minutes=60), 60)],
            ("sessions[1].start_time", "overlap"),
        ),
        (
            [DatedSession(soon + timedelta(hours=2 * n), 60) for n in range(101)],
            ("sessions", "out_of_range"),
        ),
    ]
    for sessions, expected in cases:
        with pytest.raises(InvalidArgument) as refused:
            await catalog.create_service(ana, workshop(category, sessions))
        assert fields(refused) == [expected]
    assert (await catalog.list_own_services(ana, 10, "")).total == 0
    # The clock decides what is past: a session an hour ahead is fine until the hour passes.
    ahead = [DatedSession(clock.now() + timedelta(hours=1), 60)]
    assert (await catalog.create_service(ana, workshop(category, ahead))).service.sessions == ahead


async def test_a_bundles_duplicate_item_currency_mismatch_and_kind_mismatch_are_refused(
    catalog, clock
):
    ana, _ = await selling(catalog, clock)
    ben, _ = await selling(catalog, clock, "Ben Reis")
    category = await yoga(catalog)
    hour = (await catalog.create_service(ana, session(category))).service.id
    half = (await catalog.create_service(ana, session(category, title="Half hour"))).service.id
    dollars = (
        await catalog.create_service(ana, session(category, title="In dollars", currency="USD"))
    ).service.id
    theirs = (await catalog.create_service(ben, session(category))).service.id

    def bundle(*items: BundleItem, **values: object) -> Service:
        return session(category, kind=ServiceKind.BUNDLE, bundle_items=list(items), **values)

    cases = [
        (bundle(BundleItem(hour, 1), BundleItem(hour, 2)), ("bundle_items", "duplicate")),
        (
            bundle(BundleItem(hour, 1), BundleItem(dollars, 1)),
            ("bundle_items[1].service_id", "currency_mismatch"),
        ),
        (
            bundle(
                BundleItem(hour, 1),
                BundleItem(half, 1),
                sessions=[DatedSession(clock.now() + timedelta(days=1), 60)],
            ),
            ("kind", "kind_mismatch"),
        ),
        (
            bundle(BundleItem(hour, 1), BundleItem(theirs, 1)),
            ("bundle_items[1].service_id", "unknown_service"),
        ),
    ]
    for offer, expected in cases:
        with pytest.raises(InvalidArgument) as refused:
            await catalog.create_service(ana, replace(offer, price_minor=1000))
        assert fields(refused) == [expected]
    made = await catalog.create_service(
        ana, replace(bundle(BundleItem(hour, 1), BundleItem(half, 1)), price_minor=7000)
    )
    assert made.saving_minor == 1000 and made.service.duration_minutes == 120


async def test_the_tier_limit_holds_and_the_first_service_marks_onboarding(catalog, clock):
    ana, practitioner = await selling(catalog, clock, tier=Tier.FREE)
    assert not practitioner.onboarding.first_service_created
    category = await yoga(catalog)
    first = (await catalog.create_service(ana, session(category))).service
    await catalog.create_service(ana, session(category, title="Second"))
    with pytest.raises(FailedPrecondition) as refused:
        await catalog.create_service(ana, session(category, title="Third"))
    assert refused.value.reason == "SERVICE_LIMIT_REACHED"
    assert refused.value.metadata == {"tier": "free", "limit": "2"}
    await catalog.archive_service(ana, first.id)
    await catalog.create_service(ana, session(category, title="Third"))
    own = (await catalog.get_practitioner(ana, "practitioners/me")).practitioner
    assert own.onboarding.first_service_created and own.first_service_at == clock.now()


async def test_only_an_approved_practitioner_sells(catalog):
    applicant = person()
    await catalog.apply(applicant, profile(), VIRTUAL)
    category = await yoga(catalog)
    for caller in (applicant, person()):
        with pytest.raises(PermissionDenied) as refused:
            await catalog.create_service(caller, session(category))
        assert refused.value.reason == "NOT_A_PRACTITIONER"


async def test_a_quote_for_a_service_not_on_sale_is_refused(shop, catalog, clock):
    ana, _ = await selling(catalog, clock)
    category = await yoga(catalog)
    sold = (await catalog.create_service(ana, session(category))).service
    archived = (await catalog.create_service(ana, session(category, title="Old"))).service
    await catalog.archive_service(ana, archived.id)
    quote = await catalog.quote(sold.id, 0)
    assert (quote.quantity, quote.total_minor) == (1, 4000)
    with pytest.raises(FailedPrecondition) as refused:
        await catalog.quote(archived.id, 1)
    assert refused.value.reason == "NOT_ON_SALE"
    with pytest.raises(NotFound):
        await catalog.quote(new_id(), 1)
    # A suspended practitioner's services are not on sale either, until reactivated.
    await _account(shop, ana.subject, AccountStatus.SUSPENDED)
    with pytest.raises(FailedPrecondition) as refused:
        await catalog.quote(sold.id, 1)
    assert refused.value.reason == "NOT_ON_SALE"
    await _account(shop, ana.subject, AccountStatus.ACTIVE)
    assert (await catalog.quote(sold.id, 1)).total_minor == 4000


# Categories --------------------------------------------------------------------------------


async def test_a_category_with_services_or_subcategories_is_not_deleted(shop, catalog, clock):
    ana, _ = await selling(catalog, clock)
    top = await yoga(catalog)
    child = await catalog.create_category(STAFF, Category("", "hatha", "Hatha", "", top.id, 0, ""))
    await catalog.create_service(ana, session(child))
    for category in (top, child):
        with pytest.raises(FailedPrecondition) as refused:
            await catalog.delete_category(STAFF, category.id)
        assert refused.value.reason == "IN_USE"
    empty = await yoga(catalog, "empty")
    await catalog.delete_category(STAFF, empty.id)
    assert "empty" not in {c.slug for c in await catalog.list_categories()}
    assert [a["action"] for a in await staff_actions(shop, f"categories/{empty.id}")] == [
        "category.create",
        "category.delete",
    ]


async def test_a_category_moves_with_its_subtree_but_never_under_itself(catalog):
    top = await yoga(catalog)
    child = await catalog.create_category(STAFF, Category("", "hatha", "Hatha", "", top.id, 0, ""))
    with pytest.raises(InvalidArgument) as refused:
        await catalog.update_category(
            STAFF, top.id, ["parent_id"], replace(top, parent_id=child.id)
        )
    assert fields(refused) == [("parent_id", "cycle")]
    other = await yoga(catalog, "mindfulness")
    await catalog.update_category(STAFF, top.id, ["parent_id"], replace(top, parent_id=other.id))
    paths = {c.slug: c.path for c in await catalog.list_categories()}
    assert paths["hatha"] == f"/{other.id}/{top.id}/{child.id}/"


async def test_a_taken_slug_or_an_unknown_parent_is_refused_by_name(catalog):
    top = await yoga(catalog)
    other = await yoga(catalog, "mindfulness")
    for attempt in (
        catalog.create_category(STAFF, Category("", "yoga", "Yoga again", "", None, 0, "")),
        catalog.update_category(STAFF, other.id, ["slug"], replace(other, slug="yoga")),
    ):
        with pytest.raises(AlreadyExists) as taken:
            await attempt
        assert (taken.value.reason, taken.value.message) == ("SLUG_TAKEN", "that slug is taken")
        assert [(v.field, v.message, v.code) for v in taken.value.violations] == [
            ("slug", "is already taken", "taken")
        ]
    nowhere = new_id()
    for attempt in (
        catalog.create_category(STAFF, Category("", "hatha", "Hatha", "", nowhere, 0, "")),
        catalog.update_category(STAFF, top.id, ["parent_id"], replace(top, parent_id=nowhere)),
    ):
        with pytest.raises(InvalidArgument) as unknown:
            await attempt
        assert [(v.field, v.message, v.code) for v in unknown.value.violations] == [
            ("parent_id", "is not a category", "unknown_category")
        ]
    assert sorted(c.slug for c in await catalog.list_categories()) == ["mindfulness", "yoga"]


# Places ------------------------------------------------------------------------------------


async def test_a_practitioner_has_at_most_twenty_places(catalog, clock):
    ana, practitioner = await selling(catalog, clock)
    for _ in range(20 - len(practitioner.active_locations)):
        await catalog.create_location(ana, Location("", LocationKind.VIRTUAL))
    with pytest.raises(FailedPrecondition) as refused:
        await catalog.create_location(ana, Location("", LocationKind.VIRTUAL))
    assert refused.value.reason == "TOO_MANY_LOCATIONS"
    some = (await catalog.get_practitioner(ana, "practitioners/me")).practitioner.locations[0]
    await catalog.delete_location(ana, some.id)
    await catalog.create_location(ana, Location("", LocationKind.VIRTUAL))


async def test_a_place_an_active_service_uses_stays(catalog, clock):
    ana, practitioner = await selling(catalog, clock)
    ben, _ = await selling(catalog, clock, "Ben Reis")
    studio = next(p for p in practitioner.locations if p.kind is LocationKind.IN_PERSON)
    category = await yoga(catalog)
    there = session(category, location_kind=LocationKind.IN_PERSON, location_id=studio.id)
    made = (await catalog.create_service(ana, there)).service
    with pytest.raises(NotFound):
        await catalog.delete_location(ben, studio.id)
    with pytest.raises(FailedPrecondition) as refused:
        await catalog.delete_location(ana, studio.id)
    assert refused.value.reason == "LOCATION_IN_USE"
    await catalog.archive_service(ana, made.id)
    await catalog.delete_location(ana, studio.id)


# The profile and the owner's account -------------------------------------------------------


async def test_moving_time_zone_announces_the_active_services_again(shop, catalog, clock):
    ana, _ = await selling(catalog, clock)
    category = await yoga(catalog)
    kept = (await catalog.create_service(ana, session(category))).service
    gone = (await catalog.create_service(ana, session(category, title="Gone"))).service
    await catalog.archive_service(ana, gone.id)
    moved = replace(profile(), timezone="America/Sao_Paulo")
    await catalog.update_practitioner(ana, "practitioners/me", ["timezone"], moved)
    updates = await outbox_messages(shop.runtime.database, SERVICE_UPDATED)
    assert [(u.service.service_id, u.service.timezone) for u in updates] == [
        (kept.id, "America/Sao_Paulo")
    ]
    await catalog.update_practitioner(ana, "", ["bio"], replace(moved, bio="Now pilates."))
    assert await outbox_events(shop.runtime.database, SERVICE_UPDATED.name) == 1
    other = await catalog.apply(person(), profile("Cai"), VIRTUAL)
    with pytest.raises(PermissionDenied):
        await catalog.update_practitioner(
            ana, f"practitioners/{other.practitioner.id}", ["bio"], moved
        )


async def test_a_deleted_account_erases_the_profile_and_archives_every_service(
    shop, catalog, clock
):
    ana, practitioner = await selling(catalog, clock)
    category = await yoga(catalog)
    made = [
        (await catalog.create_service(ana, session(category, title=title))).service.id
        for title in ("One", "Two")
    ]
    await _account(shop, ana.subject, AccountStatus.DELETED)
    archived = await outbox_messages(shop.runtime.database, SERVICE_ARCHIVED)
    assert sorted(a.service_id for a in archived) == sorted(made)
    erased = (
        await catalog.get_practitioner(STAFF, f"practitioners/{practitioner.id}")
    ).practitioner
    assert erased.profile.display_name == "Deleted practitioner"
    assert erased.profile.bio == "" and erased.active_locations == []
    assert all(p.address == "" and p.latitude is None for p in erased.locations)
    for service_id in made:
        assert (
            await catalog.get_service(STAFF, service_id)
        ).service.status is ServiceStatus.ARCHIVED
    with pytest.raises(NotFound):
        await catalog.get_practitioner(None, f"practitioners/{practitioner.id}")


async def _account(shop: CatalogService, user_id: str, status: AccountStatus) -> None:
    """The owner's account changed, as the account-status consumer applies it."""
    async with shop.runtime.unit_of_work(CatalogUnitOfWork)() as uow:
        await follow_account(uow, user_id, status)
        await uow.commit()


# Lists -------------------------------------------------------------------------------------


async def test_own_services_are_paged_newest_first(catalog, clock):
    ana, _ = await selling(catalog, clock)
    category = await yoga(catalog)
    titles = ["First", "Second", "Third"]
    for title in titles:
        await catalog.create_service(ana, session(category, title=title))
    first = await catalog.list_own_services(ana, 2, "")
    assert [v.service.title for v in first.items] == ["Third", "Second"] and first.total == 3
    rest = await catalog.list_own_services(ana, 2, first.next_page_token)
    assert [v.service.title for v in rest.items] == ["First"] and rest.next_page_token == ""
    with pytest.raises(InvalidArgument):
        await catalog.list_own_services(ana, 2, first.next_page_token + "x")


async def test_applications_wait_for_review_oldest_first(catalog):
    names = ["Ana", "Bea", "Cai"]
    for name in names:
        await catalog.apply(person(), profile(name), VIRTUAL)
    first = await catalog.list_applications(PractitionerStatus.PENDING, 2, "")
    rest = await catalog.list_applications(PractitionerStatus.PENDING, 2, first.next_page_token)
    listed = [v.practitioner.profile.display_name for v in [*first.items, *rest.items]]
    assert listed == names and first.total == 3 and rest.next_page_token == ""
