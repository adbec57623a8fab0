"""Group kinds, packages and waitlists on the real unit of work over SQLite: seats of a
workshop date, a course as one enrolment of every meeting, the practitioner's time a group
session takes, packages and bundles granting entitlements when paid, redemptions, and the
waitlist's offers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from services.booking.domain.bookings import BookingStatus
from services.booking.domain.entitlements import EntitlementStatus
from services.booking.domain.terms import DatedSession
from services.booking.domain.waitlist import WaitlistStatus
from services.booking.events import BOOKING_COMPLETED, WAITLIST_OFFERED
from services.booking.repository import SeatsTaken, SlotTaken
from services.booking.service_layer.bookings import BookingRequest
from tests.builders import outbox_messages, person
from tests.integration.booking.world import World, at, world


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(f"sqlite+aiosqlite:///{tmp_path}/booking.db") as made:
        await made.open_hours()
        yield made


# Workshops and courses --------------------------------------------------------------------


async def test_a_workshop_date_sells_its_seats_and_no_more(w: World):
    workshop = w.workshop(seats=3)
    date = workshop.sessions[0].start
    two = await w.book(workshop, date, seats=2)
    assert two.booking.price.amount_minor == 5000
    assert two.booking.times[0].start == date
    slots = await w.desk.slots(workshop.service_id, None, at(days=14), "")
    assert [(s.start, s.seats_left) for s in slots.slots] == [
        (date, 1),
        (workshop.sessions[1].start, 3),
    ]
    with pytest.raises(SeatsTaken) as refused:
        await w.book(workshop, date, seats=2)
    assert refused.value.metadata == {"seats_left": "1"}
    await w.book(workshop, date)
    with pytest.raises(SeatsTaken):
        await w.book(workshop, date)
    # The other date is another occasion, with seats of its own.
    await w.book(workshop, workshop.sessions[1].start, seats=3)


async def test_a_workshop_needs_one_of_its_dates(w: World):
    workshop = w.workshop()
    with pytest.raises(InvalidArgument) as missing:
        await w.book(workshop, None)
    assert missing.value.violations[0].field == "start_time"
    with pytest.raises(InvalidArgument) as wrong:
        await w.book(workshop, workshop.sessions[0].start + timedelta(hours=1))
    assert wrong.value.violations[0].code == "not_a_session"


async def test_a_course_is_one_enrolment_of_every_meeting(w: World):
    course = w.course(seats=2, meetings=3)
    made = await w.book(course, None)
    assert [t.start for t in made.booking.times] == [s.start for s in course.sessions]
    await w.book(course, course.sessions[0].start)
    with pytest.raises(SeatsTaken):
        await w.book(course, None)
    with pytest.raises(InvalidArgument):
        await w.book(course, course.sessions[1].start)


async def test_a_group_session_takes_the_practitioners_time_from_their_other_services(w: World):
    workshop = w.workshop()
    await w.announce(workshop)
    date = workshop.sessions[0].start
    session = w.terms()
    # On sale, the workshop's dates are not offered for one-to-one sessions, sold or not.
    slots = await w.desk.slots(
        session.service_id, date - timedelta(hours=2), date + timedelta(hours=3), ""
    )
    assert all(
        s.end + timedelta(minutes=15) <= date or s.start >= date + timedelta(minutes=90)
        for s in slots.slots
    )
    with pytest.raises(SlotTaken):
        await w.book(session, date)
    await w.book(workshop, date)


async def test_a_workshop_seat_cannot_be_sold_over_a_session_already_booked(w: World):
    session = w.terms()
    early = at(days=2, hour=18)
    await w.book(session, early)
    clashing = w.catalog.sells(replace(w.workshop(seats=4), sessions=(DatedSession(early, 60),)))
    with pytest.raises(SlotTaken):
        await w.book(clashing, early)


async def test_cancelling_a_seat_frees_it_and_the_practitioners_time_when_none_is_left(w: World):
    workshop = w.workshop(seats=1)
    date = workshop.sessions[0].start
    made = await w.book(workshop, date)
    with pytest.raises(SeatsTaken):
        await w.book(workshop, date)
    await w.desk.cancel_booking(w.owner, f"bookings/{made.booking.id}")
    await w.book(workshop, date)


# Waitlist ---------------------------------------------------------------------------------


async def test_a_freed_seat_is_offered_to_the_first_in_line_then_the_next(w: World):
    workshop = w.workshop(seats=1)
    date = workshop.sessions[0].start
    holder, first, second = person(), person(), person()
    made = await w.book(workshop, date, who=holder)
    with pytest.raises(FailedPrecondition) as not_full:
        await w.desk.join_waitlist(
            person(), f"services/{w.workshop().service_id}", w.workshop().sessions[0].start
        )
    assert not_full.value.reason == "SEATS_AVAILABLE"
    one = await w.desk.join_waitlist(first, f"services/{workshop.service_id}", date)
    two = await w.desk.join_waitlist(second, f"services/{workshop.service_id}", date)
    assert (one.ahead, two.ahead) == (0, 1)
    await w.desk.cancel_booking(holder, f"bookings/{made.booking.id}")
    [offer] = await outbox_messages(w.service.runtime.database, WAITLIST_OFFERED)
    assert (offer.client_id, offer.offer_id) == (first.user_id, one.entry.id)
    # What the offer's notice says: the workshop's title and times in its practitioner's zone.
    assert (offer.service_title, offer.time_zone) == (workshop.title, workshop.time_zone)
    assert offer.service_title and offer.time_zone
    # The seat is held for the first in line: nobody else can book it.
    with pytest.raises(SeatsTaken):
        await w.book(workshop, date, who=person())
    # The offer lapses unused: the next in line gets it.
    w.clock.advance(timedelta(minutes=121))
    assert await w.desk.lapse_offers() == 1
    offers = await outbox_messages(w.service.runtime.database, WAITLIST_OFFERED)
    assert [o.client_id for o in offers] == [first.user_id, second.user_id]
    taken = await w.book(workshop, date, who=second)
    assert taken.booking.status is BookingStatus.PENDING_PAYMENT
    mine = await w.desk.list_waitlist(second, 10, "")
    assert [v.entry.status for v in mine.items] == [WaitlistStatus.ACCEPTED]
    with pytest.raises(SeatsTaken):
        await w.book(workshop, date, who=first)


async def test_leaving_the_line_with_an_offer_passes_it_on(w: World):
    workshop = w.workshop(seats=1)
    date = workshop.sessions[0].start
    holder, first, second = person(), person(), person()
    made = await w.book(workshop, date, who=holder)
    one = await w.desk.join_waitlist(first, f"services/{workshop.service_id}", date)
    await w.desk.join_waitlist(second, f"services/{workshop.service_id}", date)
    await w.desk.cancel_booking(holder, f"bookings/{made.booking.id}")
    await w.desk.leave_waitlist(first, f"waitlist/{one.entry.id}")
    offers = await outbox_messages(w.service.runtime.database, WAITLIST_OFFERED)
    assert [o.client_id for o in offers] == [first.user_id, second.user_id]
    with pytest.raises(NotFound):
        await w.desk.leave_waitlist(first, f"waitlist/{one.entry.id}")


# Packages, bundles, redemptions -----------------------------------------------------------


async def test_a_paid_package_grants_its_sessions_and_each_redemption_books_without_paying(
    w: World,
):
    client = person()
    session = w.terms()
    package = w.package(session, count=3)
    bought = await w.book(package, None, who=client)
    assert bought.booking.status is BookingStatus.PENDING_PAYMENT
    assert bought.booking.times == []
    await w.paid(bought.booking)
    [granted] = (await w.desk.list_entitlements(client, 10, "")).items
    assert (granted.service_id, granted.total, granted.used) == (session.service_id, 3, 0)
    view = await w.desk.get_booking(client, f"bookings/{bought.booking.id}")
    assert [e.id for e in view.entitlements] == [granted.id]
    redeemed = await w.desk.create_booking(
        client, BookingRequest(entitlement_id=granted.id, start=at(days=1, hour=10))
    )
    assert redeemed.booking.status is BookingStatus.CONFIRMED
    assert redeemed.booking.price.amount_minor == 0
    assert redeemed.booking.entitlement_id == granted.id
    [progress] = (await w.desk.list_entitlements(client, 10, "")).items
    assert (progress.used, progress.remaining) == (1, 2)
    # A redemption's completion tells payments the share of the package it used.
    w.clock.advance(timedelta(days=2))
    await w.desk.complete_ended()
    [completed] = await outbox_messages(w.service.runtime.database, BOOKING_COMPLETED)
    assert completed.amount_paid.amount_minor == 3500


async def test_a_redemption_cancelled_within_the_policy_gives_its_session_back(w: World):
    client = person()
    session = w.terms()
    bought = await w.book(w.package(session, count=2), None, who=client)
    await w.paid(bought.booking)
    [granted] = (await w.desk.list_entitlements(client, 10, "")).items
    early = await w.desk.create_booking(
        client, BookingRequest(entitlement_id=granted.id, start=at(days=3))
    )
    late = await w.desk.create_booking(
        client, BookingRequest(entitlement_id=granted.id, start=at(days=0, hour=15))
    )
    with pytest.raises(FailedPrecondition) as used_up:
        await w.desk.create_booking(
            client, BookingRequest(entitlement_id=granted.id, start=at(days=4))
        )
    assert used_up.value.reason == "ENTITLEMENT_USED_UP"
    await w.desk.cancel_booking(client, f"bookings/{early.booking.id}")  # 3 days ahead: back
    await w.desk.cancel_booking(client, f"bookings/{late.booking.id}")  # 6 hours ahead: lost
    [progress] = (await w.desk.list_entitlements(client, 10, "")).items
    assert progress.used == 1
    with pytest.raises(NotFound):
        await w.desk.create_booking(
            person(), BookingRequest(entitlement_id=granted.id, start=at(days=4))
        )


async def test_a_bundle_grants_one_entitlement_per_item_and_a_purchase_is_cancelled_only_unused(
    w: World,
):
    client = person()
    yoga, workshop = w.terms(), w.workshop()
    bundle = w.bundle(yoga, workshop)
    bought = await w.book(bundle, None, who=client)
    await w.paid(bought.booking)
    granted = (await w.desk.list_entitlements(client, 10, "")).items
    assert sorted(e.service_id for e in granted) == sorted([yoga.service_id, workshop.service_id])
    seat = next(e for e in granted if e.service_id == workshop.service_id)
    used = await w.desk.create_booking(
        client, BookingRequest(entitlement_id=seat.id, start=workshop.sessions[0].start)
    )
    with pytest.raises(FailedPrecondition) as in_use:
        await w.desk.cancel_booking(client, f"bookings/{bought.booking.id}")
    assert in_use.value.reason == "ENTITLEMENTS_IN_USE"
    await w.desk.cancel_booking(client, f"bookings/{used.booking.id}")
    cancelled = await w.desk.cancel_booking(client, f"bookings/{bought.booking.id}")
    assert cancelled.booking.refund_percent == 100
    statuses = {
        e.status(w.clock.now()) for e in (await w.desk.list_entitlements(client, 10, "")).items
    }
    assert statuses == {EntitlementStatus.VOID}
