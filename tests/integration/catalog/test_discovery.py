"""Discovery on both databases: filters combine as documented, distance is right, paging
visits every item once while items are added, and nothing hidden ever shows."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Principal, Role, TokenType
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from chassis.ids import new_id
from chassis.migrations import upgrade
from services.catalog import bootstrap
from services.catalog.domain.categories import Category
from services.catalog.domain.discovery import SortOrder
from services.catalog.domain.practitioners import (
    Location,
    LocationKind,
    PractitionerStatus,
    Profile,
    Tier,
)
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    Service,
    ServiceKind,
    ServiceStatus,
)
from services.catalog.grpc_api import service_view_to_proto
from services.catalog.search import EARTH_RADIUS_KM, PractitionerQuery, ServiceQuery
from services.catalog.service_layer import Catalog
from services.catalog.settings import CatalogSettings
from services.catalog.tables import services
from tests.infrastructure import postgres_database

LISBON = (38.7223, -9.1393)
PORTO = (41.1579, -8.6291)
LONDON = (51.5072, -0.1276)


def person(user_id: str, *roles: Role) -> Principal:
    return Principal(
        subject=user_id,
        token_type=TokenType.ACCESS,
        roles=frozenset(r.value for r in roles) or frozenset({"client"}),
        token_id="t",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


STAFF = person(new_id(), Role.STAFF)


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


@dataclass
class Seller:
    principal: Principal
    practitioner_id: str
    studio: str


@pytest.fixture(params=["sqlite", "postgres"])
async def catalog(request, tmp_path) -> AsyncIterator[Catalog]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/catalog.db"
        yield await _built(url)
        return
    with postgres_database() as url:
        yield await _built(url)


_built_services: list = []


async def _built(url: str) -> Catalog:
    import asyncio

    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, url)
    settings = CatalogSettings(database_url=url, grpc_port=0)
    service = bootstrap.build(settings, transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)))
    _built_services.append(service)
    return service.catalog


@pytest.fixture(autouse=True)
async def _dispose() -> AsyncIterator[None]:
    yield
    while _built_services:
        service = _built_services.pop()
        await service.runtime.database.dispose()
        await service.identity_channel.close()


async def categories(catalog: Catalog) -> dict[str, Category]:
    wellness = await catalog.create_category(STAFF, Category("", "yoga", "Yoga", "", None, 0, ""))
    hatha = await catalog.create_category(
        STAFF, Category("", "hatha", "Hatha", "", wellness.id, 0, "")
    )
    massage = await catalog.create_category(
        STAFF, Category("", "massage", "Massage", "", None, 1, "")
    )
    return {"yoga": wellness, "hatha": hatha, "massage": massage}


async def seller(
    catalog: Catalog,
    name: str,
    where: tuple[float, float],
    languages: list[str],
    *,
    specializations: tuple[str, ...] = ("yoga",),
    tier: Tier = Tier.PREMIUM,
) -> Seller:
    user = person(new_id())
    view = await catalog.apply(
        user,
        Profile(name, f"{name} teaches.", list(specializations), [], 5, languages, "Europe/Lisbon"),
        [
            Location("", LocationKind.VIRTUAL),
            Location("", LocationKind.IN_PERSON, "Studio", "Rua 1", "City", "PT", *where),
        ],
    )
    practitioner = view.practitioner
    await catalog.approve(STAFF, f"practitioners/{practitioner.id}")
    await catalog.set_tier(user.subject, tier, datetime.now(UTC))
    studio = next(p.id for p in practitioner.locations if p.kind is LocationKind.IN_PERSON)
    return Seller(person(user.subject, Role.PRACTITIONER), practitioner.id, studio)


def draft(
    title: str,
    category: Category,
    price: int,
    *,
    in_person: Seller | None = None,
    description: str = "A calm hour.",
    kind: ServiceKind = ServiceKind.SESSION,
) -> Service:
    now = datetime.now(UTC)
    return Service(
        id="",
        practitioner_id="",
        kind=kind,
        title=title,
        description=description,
        category_id=category.id,
        price_minor=price,
        currency="EUR",
        duration_minutes=60,
        location_kind=LocationKind.IN_PERSON if in_person else LocationKind.VIRTUAL,
        location_id=in_person.studio if in_person else None,
        max_participants=1,
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        min_notice_minutes=60,
        booking_window_days=90,
        cancellation_policy=[],
        status=ServiceStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )


async def offer(catalog: Catalog, who: Seller, service: Service) -> str:
    return (await catalog.create_service(who.principal, service)).service.id


async def titles(
    catalog: Catalog, query: ServiceQuery, size: int = 100, category: str = ""
) -> list[str]:
    page = await catalog.list_services(query, size, "", category=category)
    return [v.service.title for v in page.items]


async def test_filters_combine_as_documented(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana Lisboa", LISBON, ["pt", "en"])
    ben = await seller(catalog, "Ben London", LONDON, ["en"], specializations=("massage",))
    await offer(catalog, ana, draft("Hatha flow", cats["hatha"], 4500, in_person=ana))
    await offer(catalog, ana, draft("Online hatha", cats["hatha"], 3000))
    await offer(catalog, ana, draft("Yoga philosophy", cats["yoga"], 9000))
    await offer(catalog, ben, draft("Deep tissue massage", cats["massage"], 7000, in_person=ben))
    await offer(catalog, ben, draft("Yoga for runners", cats["yoga"], 5000, in_person=ben))

    everything = ServiceQuery()
    assert len(await titles(catalog, everything)) == 5
    # A parent category includes its subcategories.
    yoga = everything  # with category="yoga" below: the category and its subcategories
    assert set(await titles(catalog, yoga, category="yoga")) == {
        "Hatha flow",
        "Online hatha",
        "Yoga philosophy",
        "Yoga for runners",
    }
    assert set(
        await titles(catalog, replace(yoga, price_min=4000, price_max=8000), category="yoga")
    ) == {
        "Hatha flow",
        "Yoga for runners",
    }
    assert await titles(
        catalog, replace(yoga, location_kind=LocationKind.VIRTUAL, price_max=8000), category="yoga"
    ) == ["Online hatha"]
    assert set(await titles(catalog, replace(yoga, language="pt"), category="yoga")) == {
        "Hatha flow",
        "Online hatha",
        "Yoga philosophy",
    }
    assert set(await titles(catalog, replace(everything, practitioner_id=ben.practitioner_id))) == {
        "Deep tissue massage",
        "Yoga for runners",
    }
    # Text matches title, description, practitioner name and specializations, with stemming.
    assert set(await titles(catalog, replace(everything, text="massages"))) == {
        "Deep tissue massage",
        "Yoga for runners",
    }  # Ben's specialization is massage
    assert await titles(catalog, replace(everything, text="runners"), category=cats["yoga"].id) == [
        "Yoga for runners"
    ]
    # A known category with nothing in it is an empty page; an unknown one is an error.
    assert await titles(catalog, replace(everything, text="runners"), category="massage") == []
    with pytest.raises(InvalidArgument) as unknown:
        await titles(catalog, everything, category="no-such-category")
    assert [(v.field, v.code) for v in unknown.value.violations] == [
        ("category", "unknown_category")
    ]
    assert await titles(catalog, replace(everything, text="lisboa philosophy")) == [
        "Yoga philosophy"
    ]
    sorted_up = await titles(
        catalog, replace(yoga, sort=SortOrder.PRICE_ASCENDING), category="yoga"
    )
    assert sorted_up == ["Online hatha", "Hatha flow", "Yoga for runners", "Yoga philosophy"]
    sorted_down = await titles(
        catalog, replace(yoga, sort=SortOrder.PRICE_DESCENDING), category="yoga"
    )
    assert sorted_down == list(reversed(sorted_up))

    await _set_rating(catalog, ben.practitioner_id, 4.8)
    await _set_rating(catalog, ana.practitioner_id, 3.9)
    assert set(await titles(catalog, replace(everything, min_rating=4.5))) == {
        "Deep tissue massage",
        "Yoga for runners",
    }
    by_rating = await titles(catalog, replace(yoga, sort=SortOrder.RATING), category="yoga")
    assert by_rating[0] == "Yoga for runners"


async def test_relevance_ranks_title_matches_above_description_matches(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"], specializations=("pilates",))
    await offer(
        catalog,
        ana,
        draft(
            "Calm evening", cats["yoga"], 4000, description="Restorative breathwork to end the day."
        ),
    )
    await offer(catalog, ana, draft("Breathwork basics", cats["yoga"], 4000))
    found = await titles(catalog, ServiceQuery(text="breathwork", sort=SortOrder.RELEVANCE))
    assert found == ["Breathwork basics", "Calm evening"]


async def test_distance_is_haversine_and_sorts_nearest_first_virtual_last(catalog: Catalog):
    cats = await categories(catalog)
    lisbon = await seller(catalog, "Lisbon", LISBON, ["en"])
    porto = await seller(catalog, "Porto", PORTO, ["en"])
    london = await seller(catalog, "London", LONDON, ["en"])
    for who, name in ((london, "far"), (porto, "middle"), (lisbon, "near")):
        await offer(catalog, who, draft(name, cats["yoga"], 4000, in_person=who))
    await offer(catalog, lisbon, draft("online", cats["yoga"], 4000))
    here = (38.7, -9.1)
    page = await catalog.list_services(ServiceQuery(point=here, sort=SortOrder.DISTANCE), 10, "")
    assert [v.service.title for v in page.items] == ["near", "middle", "far", "online"]
    expected = {
        "near": haversine(here, LISBON),
        "middle": haversine(here, PORTO),
        "far": haversine(here, LONDON),
    }
    for view in page.items[:3]:
        assert view.distance_km == pytest.approx(expected[view.service.title], abs=1e-6)
    assert page.items[3].distance_km is None
    # Sorted otherwise, the page shows the same distances (measured there, not read from the
    # sort value).
    by_price = await catalog.list_services(
        ServiceQuery(point=here, sort=SortOrder.PRICE_ASCENDING), 10, ""
    )
    assert {v.service.title: v.distance_km for v in by_price.items} == {
        v.service.title: v.distance_km for v in page.items
    }
    nearby = await titles(catalog, ServiceQuery(point=here, radius_km=300.0))
    assert set(nearby) == {"near", "middle"}  # Porto is ~275 km away; London and online are not

    # The London studio moves to Sintra, next door: discovery measures from the new place.
    sintra = (38.8029, -9.3817)
    await catalog.update_location(
        london.principal,
        london.studio,
        ["latitude", "longitude"],
        Location("", LocationKind.IN_PERSON, latitude=sintra[0], longitude=sintra[1]),
    )
    page = await catalog.list_services(ServiceQuery(point=here, sort=SortOrder.DISTANCE), 10, "")
    assert [v.service.title for v in page.items] == ["near", "far", "middle", "online"]
    assert page.items[1].distance_km == pytest.approx(haversine(here, sintra), abs=1e-6)
    assert set(await titles(catalog, ServiceQuery(point=here, radius_km=50.0))) == {"near", "far"}
    # A service moved online leaves the places searched by radius.
    await catalog.update_service(
        london.principal,
        page.items[1].service.id,
        ["location"],
        replace(page.items[1].service, location_kind=LocationKind.VIRTUAL, location_id=None),
    )
    assert await titles(catalog, ServiceQuery(point=here, radius_km=50.0)) == ["near"]


@pytest.mark.parametrize(
    "sort", [SortOrder.NEWEST, SortOrder.PRICE_ASCENDING, SortOrder.RELEVANCE, SortOrder.DISTANCE]
)
async def test_paging_visits_every_item_once_while_items_are_added(catalog: Catalog, sort):
    cats = await categories(catalog)
    sellers = [
        await seller(catalog, f"Teacher {n}", (38.0 + n * 0.1, -9.0), ["en"]) for n in range(5)
    ]
    originals = set()
    for n in range(25):
        who = sellers[n % 5]
        originals.add(
            await offer(
                catalog,
                who,
                draft(
                    f"Yoga class {n}",
                    cats["yoga"],
                    1000 + (n % 7) * 500,  # ties in price on purpose
                    in_person=who if n % 3 else None,
                    description="yoga " * (1 + n % 4),
                ),
            )
        )
    query = ServiceQuery(
        text="yoga" if sort is SortOrder.RELEVANCE else "",
        point=(38.0, -9.0) if sort is SortOrder.DISTANCE else None,
        sort=sort,
    )
    seen: list[str] = []
    token = ""
    added = 0
    for _ in range(20):  # 25 originals + 6 late ones fit in 5 pages; a cursor loop would not
        page = await catalog.list_services(query, 7, token)
        seen.extend(v.service.id for v in page.items)
        if added < 2:
            # New services arrive between pages: they may or may not appear, but never twice,
            # and never push an original one out.
            for n in range(3):
                who = sellers[n]
                await offer(
                    catalog,
                    who,
                    draft(f"Late yoga {added}-{n}", cats["yoga"], 1000 + n * 500, in_person=who),
                )
            added += 1
        token = page.next_page_token
        if not token:
            break
    assert not token, "paging did not come to an end"
    assert len(seen) == len(set(seen)), "an item was served twice"
    assert originals <= set(seen), "an original item was skipped"


async def test_archived_services_and_unapproved_practitioners_never_appear(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"])
    kept = await offer(catalog, ana, draft("Kept yoga", cats["yoga"], 4000))
    gone = await offer(catalog, ana, draft("Gone yoga", cats["yoga"], 4000))
    await catalog.archive_service(ana.principal, gone)
    assert await titles(catalog, ServiceQuery(text="yoga")) == ["Kept yoga"]
    pending_user = person(new_id())
    await catalog.apply(
        pending_user,
        Profile("Pending Pat", "yoga", ["yoga"], [], 1, ["en"], "Europe/Lisbon"),
        [Location("", LocationKind.VIRTUAL)],
    )
    names = [
        v.practitioner.profile.display_name
        for v in (await catalog.list_practitioners(PractitionerQuery(), 50, "")).items
    ]
    assert names == ["Ana"]
    # Should a practitioner ever lose approval, their services leave discovery with them.
    await _set_status(catalog, ana.practitioner_id, "pending")
    assert await titles(catalog, ServiceQuery()) == []
    with pytest.raises(Exception) as hidden:
        await catalog.get_service(None, kept)
    assert type(hidden.value).__name__ == "NotFound"
    assert (await catalog.get_service(ana.principal, kept)).service.title == "Kept yoga"


async def test_only_the_owner_or_staff_change_a_service_and_clients_cannot_sell(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"])
    ben = await seller(catalog, "Ben", LONDON, ["en"])
    service_id = await offer(catalog, ana, draft("Ana's hour", cats["yoga"], 4000))
    with pytest.raises(PermissionDenied):
        await catalog.update_service(
            ben.principal, service_id, ["price"], draft("x", cats["yoga"], 1)
        )
    with pytest.raises(PermissionDenied):
        await catalog.archive_service(ben.principal, service_id)
    with pytest.raises(PermissionDenied):
        await catalog.create_service(person(new_id()), draft("Client's", cats["yoga"], 100))
    changed = await catalog.update_service(
        STAFF, service_id, ["title"], draft("Renamed by staff", cats["yoga"], 1)
    )
    assert changed.service.title == "Renamed by staff" and changed.service.price_minor == 4000
    with pytest.raises(InvalidArgument) as refused:
        await catalog.update_service(
            ana.principal, service_id, ["kind", "practitioner_id"], draft("x", cats["yoga"], 1)
        )
    assert {v.field for v in refused.value.violations} == {"kind", "practitioner_id"}


async def test_the_tier_limit_counts_active_services_only(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"], tier=Tier.FREE)
    first = await offer(catalog, ana, draft("One", cats["yoga"], 4000))
    await offer(catalog, ana, draft("Two", cats["yoga"], 4000))
    with pytest.raises(FailedPrecondition) as limited:
        await offer(catalog, ana, draft("Three", cats["yoga"], 4000))
    assert limited.value.reason == "SERVICE_LIMIT_REACHED"
    await catalog.archive_service(ana.principal, first)
    assert await offer(catalog, ana, draft("Three", cats["yoga"], 4000))


async def test_packages_and_bundles_show_their_saving_and_need_a_discount(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"])
    hour = await offer(catalog, ana, draft("Hour", cats["yoga"], 5000))
    half = await offer(catalog, ana, draft("Half hour", cats["yoga"], 3000))
    from services.catalog.domain.services import PackageTerms

    package = replace(
        draft("Five hours", cats["yoga"], 20000, kind=ServiceKind.PACKAGE),
        package=PackageTerms(hour, 5, 90),
    )
    made = await catalog.create_service(ana.principal, package)
    assert made.saving_minor == 5000 and made.service.duration_minutes == 60
    bundle = replace(
        draft("Both", cats["yoga"], 9000, kind=ServiceKind.BUNDLE),
        bundle_items=[BundleItem(hour, 1), BundleItem(half, 1)],
    )
    with pytest.raises(InvalidArgument) as no_discount:
        await catalog.create_service(ana.principal, bundle)
    assert [v.field for v in no_discount.value.violations] == ["price.amount_minor"]
    bundle.price_minor = 7000
    assert (await catalog.create_service(ana.principal, bundle)).saving_minor == 1000
    # Discovery computes the saving in its query: it must reach the wire as integer money.
    listed = await catalog.list_services(ServiceQuery(sort=SortOrder.PRICE_DESCENDING), 10, "")
    savings = {v.service.title: service_view_to_proto(v).saving.amount_minor for v in listed.items}
    assert savings == {"Five hours": 5000, "Both": 1000, "Hour": 0, "Half hour": 0}
    with pytest.raises(FailedPrecondition):
        await catalog.archive_service(ana.principal, hour)  # a package is built on it


async def _set_rating(catalog: Catalog, practitioner_id: str, rating: float) -> None:
    # Discovery filters and sorts services by their own rating (reviews keep it; see
    # test_reviews.py): here every service of the practitioner reads ten reviews averaging it.
    async with catalog._uow() as uow:
        await uow.connection.execute(
            sa.update(services)
            .where(services.c.practitioner_id == practitioner_id)
            .values(rating_average=rating, rating_count=10, rating_total=round(rating * 10))
        )
        await uow.commit()


async def _set_status(catalog: Catalog, practitioner_id: str, status: str) -> None:
    # Through the repository: it keeps the services' copy of the listing with the status.
    async with catalog._uow() as uow:
        practitioner = await uow.practitioners.get(practitioner_id)
        assert practitioner is not None
        was = practitioner.status
        practitioner.status = PractitionerStatus(status)
        practitioner.updated_at = datetime.now(UTC)
        await uow.practitioners.review(practitioner, was)
        await uow.commit()


async def test_a_courses_dated_sessions_and_a_bundles_parts_read_back_whole(catalog: Catalog):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"])
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    # Given out of order: the course keeps them in time order, at the instants given.
    given = [
        DatedSession(start + timedelta(days=7), 90),
        DatedSession(start.astimezone(timezone(timedelta(hours=5))), 60),
        DatedSession(start + timedelta(days=14, minutes=30), 45),
    ]
    course = replace(
        draft("Six weeks", cats["yoga"], 12000, kind=ServiceKind.COURSE),
        sessions=given,
        max_participants=8,
    )
    course_id = (await catalog.create_service(ana.principal, course)).service.id
    hour = await offer(catalog, ana, draft("Hour", cats["yoga"], 5000))
    half = await offer(catalog, ana, draft("Half hour", cats["yoga"], 3000))
    bundle = replace(
        draft("Both", cats["yoga"], 7000, kind=ServiceKind.BUNDLE),
        bundle_items=[BundleItem(half, 2), BundleItem(hour, 1)],
    )
    bundle_id = (await catalog.create_service(ana.principal, bundle)).service.id

    expected_sessions = [
        (start, 60),
        (start + timedelta(days=7), 90),
        (start + timedelta(days=14, minutes=30), 45),
    ]
    expected_parts = sorted([(half, 2), (hour, 1)])
    by_id = await catalog.get_service(None, course_id)
    listed = await catalog.list_services(ServiceQuery(kind=ServiceKind.COURSE), 10, "")
    batch = await catalog.batch_get_services([bundle_id, course_id])
    for view in (by_id, listed.items[0], batch[1]):
        read = [(s.starts_at, s.duration_minutes) for s in view.service.sessions]
        assert read == expected_sessions
        assert all(s.starts_at.utcoffset() == timedelta(0) for s in view.service.sessions)
    for view in (batch[0], await catalog.get_service(None, bundle_id)):
        assert [(i.service_id, i.quantity) for i in view.service.bundle_items] == expected_parts
        assert view.service.sessions == []


async def test_a_practitioner_pages_through_their_own_services_and_shows_the_active_ones(
    catalog: Catalog,
):
    cats = await categories(catalog)
    ana = await seller(catalog, "Ana", LISBON, ["en"])
    made = [await offer(catalog, ana, draft(f"Class {n}", cats["yoga"], 4000)) for n in range(3)]
    await catalog.archive_service(ana.principal, made[0])
    first = await catalog.list_own_services(ana.principal, 2, "")
    assert [v.service.id for v in first.items] == [made[2], made[1]] and first.total == 3
    rest = await catalog.list_own_services(ana.principal, 2, first.next_page_token)
    assert [v.service.id for v in rest.items] == [made[0]] and rest.next_page_token == ""
    assert not rest.items[0].service.is_active  # the owner sees archived services too
    public = await catalog.get_practitioner(None, f"practitioners/{ana.practitioner_id}")
    assert {v.service.id for v in public.services} == {made[1], made[2]}
