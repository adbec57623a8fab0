"""`estuary seed --demo` fills the embedded suite with data a newcomer can search at once, and
money to look at: a client's credit, practitioners' earnings and a paid payout."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from chassis.auth.principal import Role
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.clock import FrozenClock
from chassis.media import FolderMediaStore, MediaSettings, StoredObject
from services.booking.tables import bookings
from services.booking.uow import BookingUnitOfWork
from services.catalog import bootstrap
from services.catalog.domain.discovery import SortOrder
from services.catalog.search import PractitionerQuery, ServiceQuery
from services.catalog.service_layer import Catalog
from services.catalog.settings import CatalogSettings
from services.payments.domain.ledger import AccountKind
from services.payments.domain.payouts import PayoutStatus
from services.streams.domain.media import PostKind, media_key
from suite.demo_streams import PICTURE
from tests.builders import built_booking, built_messaging, built_payments
from tests.builders import person as signed_in
from tests.integration.streams.world import built_streams

# The first four cities the demo spreads practitioners over, with the money asked there.
CITY_CURRENCIES = {"Lisbon": "EUR", "London": "GBP", "New York": "USD", "Tokyo": "JPY"}
# What a single session plausibly costs there, in whole units: a price scaled by the wrong
# minor unit (JPY has none) falls outside.
SESSION_RANGES = {"EUR": (20, 200), "GBP": (20, 200), "USD": (20, 200), "JPY": (2000, 20000)}
MINOR_UNIT_EXPONENTS = {"EUR": 2, "GBP": 2, "USD": 2, "JPY": 0}


def test_the_seed_command_makes_searchable_practitioners_services_and_sign_ins(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "suite.cli",
            "seed",
            "--demo",
            "--data-dir",
            str(tmp_path),
            "--practitioners",
            "4",
            "--services-each",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "4 practitioners, 16 services" in done.stdout
    assert "1 of them featured" in done.stdout
    # Ratings come from reviews, and the output says where those come from.
    found = re.search(r"^(\d+) reviews, which make the ratings", done.stdout, re.MULTILINE)
    assert found, done.stdout
    reviews = int(found.group(1))
    assert reviews >= 8, "a demo whose rating sort shows little"
    assert "made-up completed bookings by made-up clients" in done.stdout
    assert "admin@estuary.demo" in done.stdout and "practitioner1@estuary.demo" in done.stdout
    assert (
        "4 practitioners keep weekly hours, so their sessions have slots to book at once; the "
        "demo client has 5 past (completed) and 3 upcoming bookings"
    ) in done.stdout
    asyncio.run(_check_discovery(tmp_path, reviews))
    asyncio.run(_check_bookings(tmp_path))
    assert "the demo client has 2 conversations with practitioners they booked" in done.stdout
    asyncio.run(_check_conversations(tmp_path))
    assert "the demo client holds 15.00 EUR of credit from the promo code" in done.stdout
    assert "the demo client's 5 completed sessions earned their practitioners" in done.stdout
    assert "practitioner1@estuary.demo was paid out" in done.stdout
    asyncio.run(_check_payments(tmp_path))
    assert "the demo client follows 2 practitioners' streams" in done.stdout
    asyncio.run(_check_streams(tmp_path))
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "suite.cli",
            "seed",
            "--demo",
            "--data-dir",
            str(tmp_path),
            "--practitioners",
            "4",
            "--services-each",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    # Seeding twice keeps the accounts it made and adds nobody twice.
    assert "0 practitioners, 0 services" in again.stdout
    assert "0 reviews" in again.stdout


async def _check_bookings(data_dir) -> None:
    """A newcomer finds slots of every practitioner's sessions at once; the demo client's
    bookings are past and completed, or coming and confirmed (paid), never overlapping."""
    async with built_booking(f"sqlite+aiosqlite:///{data_dir}/booking.db") as booking:
        async with booking.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
            found = await uow.connection.execute(
                sa.select(bookings.c.status, bookings.c.service_id, bookings.c.starts_at)
            )
            rows = found.all()
            assert await uow.occupancy.overlapping_active() == 0
        now = datetime.now(UTC)
        assert sorted(r.status for r in rows) == ["completed"] * 5 + ["confirmed"] * 3
        assert all((r.status == "completed") == (r.starts_at < now) for r in rows)
        for service_id in {r.service_id for r in rows}:
            offered = await booking.desk.slots(service_id, None, now + timedelta(days=7), "")
            assert offered.slots, "a demo session with nothing to book this week"


async def _check_conversations(data_dir) -> None:
    """The demo client has two conversations, each a question and an unread answer to it."""
    booking_db = f"sqlite+aiosqlite:///{data_dir}/booking.db"
    async with (
        built_booking(booking_db) as booking,
        booking.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow,
    ):
        client_id = (
            await uow.connection.execute(sa.select(bookings.c.client_id).limit(1))
        ).scalar_one()
    async with built_messaging(f"sqlite+aiosqlite:///{data_dir}/messaging.db") as messaging:
        client = signed_in(client_id)
        found = await messaging.conversations.page(client, 0, "")
        assert found.page.total == 2 and found.unread == 2
        for conversation in found.page.items:
            name = f"conversations/{conversation.id}"
            answer, question = (await messaging.conversations.messages(client, name, 0, "")).items
            assert question.sender_id == client_id and answer.reply_to_id == question.id


async def _check_streams(data_dir) -> None:
    """The demo client's feed: four published posts of each of two streams, the paid one a
    locked teaser, one an image post whose picture is in the data folder's media store; each
    stream's owner has a draft scheduled for tomorrow."""
    async with (
        built_booking(f"sqlite+aiosqlite:///{data_dir}/booking.db") as booking,
        booking.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow,
    ):
        client_id = (
            await uow.connection.execute(sa.select(bookings.c.client_id).limit(1))
        ).scalar_one()
    clock = FrozenClock(datetime.now(UTC))
    async with built_streams(f"sqlite+aiosqlite:///{data_dir}/streams.db", clock) as streams:
        feed = await streams.desk.feed(signed_in(client_id), 100, "")
        assert len(feed.items) == 8
        assert sorted(p.title for p in feed.items if p.locked) == ["Deep practice"] * 2
        assert all(p.body for p in feed.items if not p.locked)
        pictured = [p for p in feed.items if p.kind is PostKind.IMAGE]
        assert [[(m.content_type, m.size) for m in p.media] for p in pictured] == [
            [("image/png", len(PICTURE))]
        ] * 2
        store = FolderMediaStore(MediaSettings(folder=str(data_dir / "media"), signing_secret="x"))
        for post in pictured:
            key = media_key(post.stream_id, post.media[0].id)
            assert (await store.stat(key)) == StoredObject(key, len(PICTURE), "image/png")
        clock.advance(timedelta(days=1, minutes=1))
        assert await streams.desk.publish_due_posts() == 2


async def _check_payments(data_dir) -> None:
    """The demo client holds their promo credit; every completed session made its
    practitioner an earning, available by now; the one practitioner paid out was paid all
    theirs, the payout paid; and the ledger holds every invariant."""
    booking_db = f"sqlite+aiosqlite:///{data_dir}/booking.db"
    async with (
        built_booking(booking_db) as booking,
        booking.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow,
    ):
        found = await uow.connection.execute(
            sa.select(bookings.c.client_id, bookings.c.practitioner_user_id).where(
                bookings.c.status == "completed"
            )
        )
        completed = found.all()
    [client_id] = {row.client_id for row in completed}
    sessions = Counter(row.practitioner_user_id for row in completed)
    async with built_payments(
        f"sqlite+aiosqlite:///{data_dir}/payments.db", sandbox_dir=str(data_dir)
    ) as payments:
        treasury = payments.treasury
        credits = await treasury.credits(signed_in(client_id), 10, "")
        assert credits.balances == {"EUR": 1500}
        paid_out = []
        for user_id, seen in sessions.items():
            practitioner = signed_in(user_id, Role.PRACTITIONER)
            _, balances = await treasury.earnings_summary(practitioner, f"users/{user_id}/earnings")
            held = {account.kind: amount for account, amount in balances.items()}
            assert held.get(AccountKind.PRACTITIONER_PENDING, 0) == 0, "an earning still held"
            payouts = (await treasury.list_payouts(practitioner, 10, "")).items
            if payouts:
                [payout] = payouts
                assert payout.status is PayoutStatus.PAID
                assert held.get(AccountKind.PRACTITIONER_AVAILABLE, 0) == 0
                assert held[AccountKind.PRACTITIONER_PAID_OUT] == payout.amount.amount_minor
                paid_out.append(seen)
            else:
                assert held[AccountKind.PRACTITIONER_AVAILABLE] > 0
        assert paid_out == [3], "one practitioner, the one seen three times, paid out"
        assert await treasury.ledger_violations() == []


async def _check_discovery(data_dir, reviews: int) -> None:
    settings = CatalogSettings(
        database_url=f"sqlite+aiosqlite:///{data_dir}/catalog.db", grpc_port=0
    )
    service = bootstrap.build(settings, transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)))
    try:
        catalog = service.catalog
        everything = await catalog.list_services(ServiceQuery(), 100, "")
        assert everything.total == 16
        kinds = {v.service.kind.value for v in everything.items}
        assert "session" in kinds and len(kinds) >= 2
        near = await catalog.list_services(
            ServiceQuery(point=(38.72, -9.14), sort=SortOrder.DISTANCE), 5, ""
        )
        distances = [v.distance_km for v in near.items if v.distance_km is not None]
        assert distances == sorted(distances)
        people = await catalog.list_practitioners(PractitionerQuery(), 10, "")
        assert people.total == 4
        assert all(v.practitioner.is_approved for v in people.items)
        await _check_ratings(catalog, everything.items, people.items, reviews)

        city_of = {
            v.practitioner.id: next(p.city for p in v.practitioner.locations if p.city)
            for v in people.items
        }
        assert sorted(city_of.values()) == sorted(CITY_CURRENCIES)
        for view in everything.items:
            offer = view.service
            city = city_of[offer.practitioner_id]
            assert offer.currency == CITY_CURRENCIES[city], (offer.title, city)
            if offer.kind.value == "session":
                whole, rest = divmod(offer.price_minor, 10 ** MINOR_UNIT_EXPONENTS[offer.currency])
                low, high = SESSION_RANGES[offer.currency]
                assert rest == 0 and low <= whole <= high, (offer.currency, offer.price_minor)

        featured = await catalog.list_practitioners(PractitionerQuery(featured_only=True), 10, "")
        assert featured.total == 1
        assert all(v.practitioner.featured for v in featured.items)
    finally:
        await service.runtime.database.dispose()
        await service.identity_channel.close()


async def _check_ratings(catalog: Catalog, services, people, reviews: int) -> None:
    """Every rating is what its reviews make it, and discovery sorts and filters by it."""
    assert sum(v.rating_count for v in services) == reviews
    replied = 0
    for view in services:
        listed = await catalog.list_service_reviews(None, view.service.id, 100, "")
        assert listed.total == view.rating_count
        stars = [r.review.rating for r in listed.items]
        if stars:
            exact = sum(stars) / len(stars)
            assert abs(view.rating_average - exact) <= 0.005, (view.rating_average, stars)
        assert all(r.review.text for r in listed.items)
        replied += sum(r.review.has_reply for r in listed.items)
    assert 0 < replied < reviews
    for person in people:
        own = [v for v in services if v.practitioner_id == person.practitioner.id]
        assert person.practitioner.rating_count == sum(v.rating_count for v in own)
    by_rating = await catalog.list_services(ServiceQuery(sort=SortOrder.RATING), 100, "")
    averages = [v.rating_average for v in by_rating.items]
    assert averages == sorted(averages, reverse=True) and averages[0] > averages[-1]
    good = await catalog.list_services(ServiceQuery(min_rating=4.5), 100, "")
    assert {v.service.id for v in good.items} == {
        v.service.id for v in services if v.rating_average >= 4.5
    }
