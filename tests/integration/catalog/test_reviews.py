"""Reviews on the real unit of work, on SQLite and on PostgreSQL: booking.completed (through
the consumer's own handler) opens a booking to review; one review per booking and client,
never changed; one reply; staff hiding; erasure with the author's account; the ratings'
arithmetic on services and practitioners, and discovery filtering and sorting by them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.message import Message

from chassis.audit import STAFF_ACTION_RECORDED
from chassis.auth.principal import Principal, Role
from chassis.bus.envelope import ReceivedEvent
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
from chassis.wire import from_struct, timestamp
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.identity.v1 import events_pb2 as identity_pb
from services.catalog.bootstrap import CatalogService
from services.catalog.consumers import SUBSCRIPTIONS
from services.catalog.domain.categories import Category
from services.catalog.domain.discovery import SortOrder
from services.catalog.domain.practitioners import Tier
from services.catalog.events import BOOKING_COMPLETED, REVIEW_CREATED, REVIEW_REPLIED
from services.catalog.search import PractitionerQuery, ServiceQuery
from services.catalog.service_layer import Catalog
from services.catalog.uow import CatalogUnitOfWork
from tests.builders import STAFF, VIRTUAL, built_catalog, draft, outbox_messages, person, profile

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def shop(empty_database_url: str, clock: FrozenClock) -> AsyncIterator[CatalogService]:
    async with built_catalog(empty_database_url, clock=clock) as built:
        yield built


@pytest.fixture
def catalog(shop: CatalogService) -> Catalog:
    return shop.catalog


@dataclass
class Practice:
    owner: Principal
    practitioner_id: str
    services: dict[str, str]


async def practice(catalog: Catalog, *titles: str, name: str = "Ana Lima") -> Practice:
    """An approved practitioner selling a session per title."""
    user = person()
    applied = await catalog.apply(user, profile(name), VIRTUAL)
    await catalog.approve(STAFF, f"practitioners/{applied.practitioner.id}")
    owner = person(user.subject, Role.PRACTITIONER)
    slug = f"c{new_id()[-12:]}"
    category = await catalog.create_category(STAFF, Category("", slug, "Yoga", "", None, 0, ""))
    await catalog.set_tier(user.subject, Tier.PREMIUM, START)
    made = {}
    for title in titles:
        service = draft(category.id)
        service.title = title
        made[title] = (await catalog.create_service(owner, service)).service.id
    return Practice(owner, applied.practitioner.id, made)


def received(message: Message, event_type: str, at: datetime) -> ReceivedEvent[Any]:
    producer = "identity" if event_type.startswith("user.") else "booking"
    return ReceivedEvent(new_id(), event_type, f"/estuary/{producer}", "", at, message)


def completed(
    service_id: str, practitioner_id: str, client: Principal, *, ended: datetime = START
) -> booking_pb.BookingCompleted:
    return booking_pb.BookingCompleted(
        booking=booking_pb.BookingSnapshot(
            booking_id=new_id(),
            service_id=service_id,
            practitioner_id=practitioner_id,
            client_id=client.user_id,
        ),
        complete_time=timestamp(ended),
    )


async def deliver(shop: CatalogService, message: Message, event_type: str) -> None:
    """An event applied as its catalog consumer applies it, in a unit of work of its own."""
    subscription = next(s for s in SUBSCRIPTIONS if any(e.name == event_type for e in s.events))
    async with shop.runtime.unit_of_work(CatalogUnitOfWork)() as uow:
        await subscription.handler(uow, received(message, event_type, shop.runtime.clock.now()))
        await uow.commit()


async def booked(
    shop: CatalogService, at: Practice, title: str, client: Principal | None = None
) -> tuple[Principal, str]:
    """A client whose booking of a service completed (booking.completed delivered)."""
    client = client or person()
    message = completed(
        at.services[title], at.practitioner_id, client, ended=shop.runtime.clock.now()
    )
    await deliver(shop, message, BOOKING_COMPLETED.name)
    return client, message.booking.booking_id


async def ratings(catalog: Catalog, at: Practice) -> dict[str, tuple[float, int]]:
    """Each service's rating as listings show it, and the practitioner's, by title / name."""
    found = {}
    for title, service_id in at.services.items():
        view = await catalog.get_service(STAFF, service_id)
        found[title] = (view.rating_average, view.rating_count)
        practitioner = (view.practitioner_rating_average, view.practitioner_rating_count)
    found["practitioner"] = practitioner
    return found


async def test_a_completed_booking_is_reviewed_once_by_its_client(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    client, booking = await booked(shop, ana, "Morning yoga")

    review = await catalog.create_review(client, f"bookings/{booking}", 5, "  Calm and kind.  ")
    assert (review.review.rating, review.review.text) == (5, "Calm and kind.")
    assert review.service_title == "Morning yoga" and review.full
    [created] = await outbox_messages(shop.runtime.database, REVIEW_CREATED)
    assert (created.review_id, created.booking_id, created.client_id, created.rating) == (
        review.review.id,
        booking,
        client.user_id,
        5,
    )
    assert created.practitioner_user_id == ana.owner.user_id
    assert await ratings(catalog, ana) == {"Morning yoga": (5.0, 1), "practitioner": (5.0, 1)}

    # Once: a second review of the booking is refused, and the first stays as written.
    with pytest.raises(AlreadyExists) as again:
        await catalog.create_review(client, booking, 1, "Changed my mind.")
    assert again.value.reason == "ALREADY_REVIEWED"
    assert again.value.message == "you have already reviewed this booking"
    assert [(v.field, v.message, v.code) for v in again.value.violations] == [
        ("booking_id", "is already reviewed", "taken")
    ]
    [stored] = (
        await catalog.list_service_reviews(None, ana.services["Morning yoga"], 10, "")
    ).items
    assert (stored.review.rating, stored.review.text) == (5, "Calm and kind.")
    assert await ratings(catalog, ana) == {"Morning yoga": (5.0, 1), "practitioner": (5.0, 1)}
    assert len(await outbox_messages(shop.runtime.database, REVIEW_CREATED)) == 1


async def test_only_the_bookings_client_reviews_it(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    client, booking = await booked(shop, ana, "Morning yoga")
    with pytest.raises(PermissionDenied) as other:
        await catalog.create_review(person(), booking, 1, "Never went.")
    assert other.value.reason == "NOT_YOUR_BOOKING"
    with pytest.raises(PermissionDenied):
        await catalog.create_review(ana.owner, booking, 5, "I am great.")
    with pytest.raises(NotFound) as unknown:
        await catalog.create_review(client, new_id(), 5, "Which booking?")
    assert unknown.value.reason == "NOT_REVIEWABLE"
    with pytest.raises(InvalidArgument) as bad:
        await catalog.create_review(client, booking, 9, "")
    assert sorted(v.field for v in bad.value.violations) == ["rating", "text"]
    # The practitioner booking their own service may not rate themselves either.
    _, own = await booked(shop, ana, "Morning yoga", client=ana.owner)
    with pytest.raises(PermissionDenied) as self_review:
        await catalog.create_review(ana.owner, own, 5, "Best teacher ever.")
    assert self_review.value.reason == "OWN_SERVICE"
    assert await outbox_messages(shop.runtime.database, REVIEW_CREATED) == []


async def test_a_retry_with_its_key_answers_the_first_review(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    client, booking = await booked(shop, ana, "Morning yoga")
    first = await catalog.create_review(client, booking, 4, "Good.", request_id="k1")
    retry = await catalog.create_review(client, booking, 4, "Good.", request_id="k1")
    assert retry.review.id == first.review.id
    with pytest.raises(InvalidArgument) as reused:
        await catalog.create_review(client, booking, 2, "Bad.", request_id="k1")
    assert [v.field for v in reused.value.violations] == ["request_id"]
    assert await ratings(catalog, ana) == {"Morning yoga": (4.0, 1), "practitioner": (4.0, 1)}


async def test_the_event_delivered_twice_or_naming_what_catalog_does_not_know(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    client = person()
    message = completed(ana.services["Morning yoga"], ana.practitioner_id, client)
    await deliver(shop, message, BOOKING_COMPLETED.name)
    await deliver(shop, message, BOOKING_COMPLETED.name)  # another event id, same booking
    await catalog.create_review(client, message.booking.booking_id, 3, "Fine.")

    unknown = completed(new_id(), ana.practitioner_id, client)
    with pytest.raises(ValueError, match="unknown service"):
        await deliver(shop, unknown, BOOKING_COMPLETED.name)
    someone_else = completed(ana.services["Morning yoga"], new_id(), client)
    with pytest.raises(ValueError, match="names practitioner"):
        await deliver(shop, someone_else, BOOKING_COMPLETED.name)
    no_client = completed(ana.services["Morning yoga"], ana.practitioner_id, client)
    no_client.booking.client_id = ""
    with pytest.raises(ValueError, match="no booking, client or service id"):
        await deliver(shop, no_client, BOOKING_COMPLETED.name)
    not_an_id = completed(ana.services["Morning yoga"], ana.practitioner_id, client)
    not_an_id.booking.booking_id = "B-17"
    with pytest.raises(ValueError, match="no booking, client or service id"):
        await deliver(shop, not_an_id, BOOKING_COMPLETED.name)


async def test_a_review_comes_within_the_window(shop, catalog, clock):
    ana = await practice(catalog, "Morning yoga")
    client, booking = await booked(shop, ana, "Morning yoga")
    clock.advance(timedelta(days=91))
    with pytest.raises(FailedPrecondition) as late:
        await catalog.create_review(client, booking, 5, "Forgot to write.")
    assert late.value.reason == "REVIEW_WINDOW_CLOSED"


async def test_the_practitioner_replies_once_and_nobody_else_does(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    ben = await practice(catalog, "Massage", name="Ben Stone")
    client, booking = await booked(shop, ana, "Morning yoga")
    review = (await catalog.create_review(client, booking, 4, "Good pace.")).review

    for intruder in (client, ben.owner, STAFF, person()):
        with pytest.raises(PermissionDenied) as refused:
            await catalog.reply_to_review(intruder, f"reviews/{review.id}", "Thanks!")
        assert refused.value.reason == "NOT_YOUR_REVIEW"
    answered = await catalog.reply_to_review(ana.owner, f"reviews/{review.id}", "Thank you!")
    assert answered.review.reply_text == "Thank you!" and answered.review.replied_at is not None
    with pytest.raises(WrongState) as twice:
        await catalog.reply_to_review(ana.owner, review.id, "Thanks again!")
    assert twice.value.reason == "ALREADY_REPLIED"
    [replied] = await outbox_messages(shop.runtime.database, REVIEW_REPLIED)
    assert (replied.review_id, replied.client_id) == (review.id, client.user_id)
    with pytest.raises(NotFound):
        await catalog.reply_to_review(ana.owner, new_id(), "Thanks!")

    # Anyone reads it, without whose booking it was.
    [public] = (await catalog.list_service_reviews(None, ana.services["Morning yoga"], 5, "")).items
    assert public.review.reply_text == "Thank you!" and not public.full
    [own] = (await catalog.list_service_reviews(client, ana.services["Morning yoga"], 5, "")).items
    assert own.full


async def test_ratings_are_exact_and_discovery_filters_and_sorts_by_the_services_own(shop, catalog):
    ana = await practice(catalog, "Hatha", "Yin", "Unrated")
    ben = await practice(catalog, "Massage", name="Ben Stone")
    for title, stars in (("Hatha", [5, 4, 5]), ("Yin", [3, 4]), ("Massage", [5, 5, 4, 4])):
        at = ana if title in ana.services else ben
        for each in stars:
            client, booking = await booked(shop, at, title)
            await catalog.create_review(client, booking, each, "Honest words.")
    assert await ratings(catalog, ana) == {
        "Hatha": (4.67, 3),
        "Yin": (3.5, 2),
        "Unrated": (0.0, 0),
        "practitioner": (4.2, 5),  # 21 stars from 5 reviews, over every service of hers
    }
    assert await ratings(catalog, ben) == {"Massage": (4.5, 4), "practitioner": (4.5, 4)}

    async def titles(query: ServiceQuery) -> list[str]:
        page = await catalog.list_services(query, 50, "")
        return [v.service.title for v in page.items]

    assert set(await titles(ServiceQuery(min_rating=4.5))) == {"Hatha", "Massage"}
    assert set(await titles(ServiceQuery(min_rating=4.67))) == {"Hatha"}
    assert set(await titles(ServiceQuery(min_rating=4.68))) == set()
    assert set(await titles(ServiceQuery(min_rating=3.5))) == {"Hatha", "Yin", "Massage"}
    everything = await titles(ServiceQuery(min_rating=0))
    assert set(everything) == {"Hatha", "Yin", "Unrated", "Massage"}
    by_rating = await titles(ServiceQuery(sort=SortOrder.RATING))
    assert by_rating == ["Hatha", "Massage", "Yin", "Unrated"]
    # Paged one at a time, the order is the same and nothing repeats.
    paged, token = [], ""
    while True:
        page = await catalog.list_services(ServiceQuery(sort=SortOrder.RATING), 1, token)
        paged += [v.service.title for v in page.items]
        token = page.next_page_token
        if not token:
            break
    assert paged == by_rating

    async def names(query: PractitionerQuery) -> list[str]:
        page = await catalog.list_practitioners(query, 50, "")
        return [v.practitioner.profile.display_name for v in page.items]

    assert await names(PractitionerQuery(min_rating=4.3)) == ["Ben Stone"]
    assert await names(PractitionerQuery(sort=SortOrder.RATING)) == ["Ben Stone", "Ana Lima"]


async def test_staff_hide_an_abusive_review_and_its_stars_leave_the_ratings(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    kind, first = await booked(shop, ana, "Morning yoga")
    await catalog.create_review(kind, first, 5, "Wonderful.")
    rude, second = await booked(shop, ana, "Morning yoga")
    abusive = (await catalog.create_review(rude, second, 1, "Insults.")).review
    assert await ratings(catalog, ana) == {"Morning yoga": (3.0, 2), "practitioner": (3.0, 2)}

    with pytest.raises(PermissionDenied) as own:
        await catalog.hide_review(person(ana.owner.user_id, Role.STAFF), abusive.id, True, "No.")
    assert own.value.reason == "OWN_ACCOUNT"
    with pytest.raises(InvalidArgument):
        await catalog.hide_review(STAFF, abusive.id, True, "")
    hidden = await catalog.hide_review(STAFF, f"reviews/{abusive.id}", True, "Abusive language.")
    assert hidden.review.is_hidden
    assert await ratings(catalog, ana) == {"Morning yoga": (5.0, 1), "practitioner": (5.0, 1)}
    with pytest.raises(WrongState) as twice:
        await catalog.hide_review(STAFF, abusive.id, True, "Abusive language.")
    assert twice.value.reason == "ALREADY_HIDDEN"
    service_id = ana.services["Morning yoga"]
    public = await catalog.list_service_reviews(None, service_id, 10, "")
    assert [v.review.text for v in public.items] == ["Wonderful."] and public.total == 1
    for reader in (ana.owner, rude):
        seen = await catalog.list_service_reviews(reader, service_id, 10, "")
        assert abusive.id not in [v.review.id for v in seen.items]
    staff_view = await catalog.list_practitioner_reviews(
        STAFF, f"practitioners/{ana.practitioner_id}", 10, ""
    )
    assert [(v.review.id, v.review.is_hidden) for v in staff_view.items] == [
        (abusive.id, True),
        (staff_view.items[1].review.id, False),
    ]
    assert staff_view.total == 2

    await catalog.hide_review(STAFF, abusive.id, False, "Reviewed again.")
    assert await ratings(catalog, ana) == {"Morning yoga": (3.0, 2), "practitioner": (3.0, 2)}
    actions = await outbox_messages(
        shop.runtime.database, STAFF_ACTION_RECORDED, f"reviews/{abusive.id}"
    )
    assert [(a.action, a.target_user_id, a.reason) for a in actions] == [
        ("review.hide", rude.user_id, "Abusive language."),
        ("review.show", rude.user_id, "Reviewed again."),
    ]
    assert from_struct(actions[0].before)["hidden"] is False
    assert from_struct(actions[0].after)["hidden"] is True


async def test_lists_page_newest_first_and_follow_what_the_public_may_see(shop, catalog, clock):
    ana = await practice(catalog, "Hatha", "Yin")
    written = []
    for index in range(5):
        title = "Hatha" if index % 2 == 0 else "Yin"
        client, booking = await booked(shop, ana, title)
        written.append((await catalog.create_review(client, booking, 4, f"Note {index}.")).review)
        clock.advance(timedelta(minutes=1))
    name = f"practitioners/{ana.practitioner_id}"
    seen, token = [], ""
    while True:
        page = await catalog.list_practitioner_reviews(None, name, 2, token)
        assert page.total == 5
        seen += [v.review.text for v in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"Note {i}." for i in reversed(range(5))]
    hatha = await catalog.list_service_reviews(None, f"services/{ana.services['Hatha']}", 10, "")
    assert [v.review.text for v in hatha.items] == ["Note 4.", "Note 2.", "Note 0."]
    # A cursor belongs to its list: the practitioner's does not page a service's.
    first = await catalog.list_practitioner_reviews(None, name, 2, "")
    with pytest.raises(InvalidArgument):
        await catalog.list_service_reviews(None, ana.services["Yin"], 2, first.next_page_token)

    # An archived service's reviews are its practitioner's and staff's; the practitioner's
    # list keeps them.
    await catalog.archive_service(ana.owner, ana.services["Yin"])
    with pytest.raises(NotFound):
        await catalog.list_service_reviews(None, ana.services["Yin"], 10, "")
    assert (await catalog.list_service_reviews(ana.owner, ana.services["Yin"], 10, "")).total == 2
    assert (await catalog.list_practitioner_reviews(None, name, 10, "")).total == 5
    with pytest.raises(NotFound):
        await catalog.list_practitioner_reviews(None, f"practitioners/{new_id()}", 10, "")


async def test_a_deleted_authors_words_go_and_their_stars_stay(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    client, booking = await booked(shop, ana, "Morning yoga")
    review = (await catalog.create_review(client, booking, 2, "Helped my anxiety.")).review
    await catalog.reply_to_review(ana.owner, review.id, "Glad it helped your anxiety.")
    _, later = await booked(shop, ana, "Morning yoga", client=client)

    await deliver(shop, identity_pb.UserDeleted(user_id=client.user_id), "user.deleted")
    [erased] = (
        await catalog.list_service_reviews(STAFF, ana.services["Morning yoga"], 5, "")
    ).items
    assert (erased.review.rating, erased.review.text, erased.review.reply_text) == (2, "", "")
    assert erased.review.is_author_erased and erased.review.has_reply
    assert await ratings(catalog, ana) == {"Morning yoga": (2.0, 1), "practitioner": (2.0, 1)}
    # Their other completed booking can no longer be reviewed (the chassis refuses their
    # calls too), and a booking.completed arriving late opens nothing.
    with pytest.raises(NotFound):
        await catalog.create_review(client, later, 5, "Still here?")
    _, late = await booked(shop, ana, "Morning yoga", client=client)
    with pytest.raises(NotFound):
        await catalog.create_review(client, late, 5, "Still here?")
    # A withdrawn review takes no reply.
    other_client, other = await booked(shop, ana, "Morning yoga")
    withdrawn = (await catalog.create_review(other_client, other, 4, "Good.")).review
    await deliver(shop, identity_pb.UserDeleted(user_id=other_client.user_id), "user.deleted")
    with pytest.raises(FailedPrecondition) as no_reply:
        await catalog.reply_to_review(ana.owner, withdrawn.id, "Thanks!")
    assert no_reply.value.reason == "AUTHOR_ERASED"


async def test_a_deleted_practitioners_replies_go_and_the_reviews_stay(shop, catalog):
    ana = await practice(catalog, "Morning yoga")
    client, booking = await booked(shop, ana, "Morning yoga")
    review = (await catalog.create_review(client, booking, 5, "Clear teacher.")).review
    await catalog.reply_to_review(ana.owner, review.id, "Thanks, from Ana Lima in Lisbon.")
    await deliver(shop, identity_pb.UserDeleted(user_id=ana.owner.user_id), "user.deleted")
    [kept] = (
        await catalog.list_practitioner_reviews(
            STAFF, f"practitioners/{ana.practitioner_id}", 5, ""
        )
    ).items
    assert (kept.review.text, kept.review.reply_text, kept.review.rating) == (
        "Clear teacher.",
        "",
        5,
    )
    assert not kept.review.is_author_erased
