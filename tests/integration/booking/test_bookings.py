"""Booking's use cases on the real unit of work over a temporary SQLite file, on a frozen
clock, with a fake catalog and no process, port or bus started: schedules, slots, sessions
held and confirmed, conflicts named, payments early and late, cancellation, reschedule,
completion, who may see and change a booking, and the outbox's events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta
from pathlib import Path

import pytest

from chassis.audit import STAFF_ACTION_RECORDED
from chassis.auth.principal import AccountStatus
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.lifecycle import WrongState
from chassis.wire import from_struct, instant
from services.booking.domain.bookings import BookingStatus
from services.booking.events import (
    BOOKING_CANCELLED,
    BOOKING_COMPLETED,
    BOOKING_CONFIRMED,
    BOOKING_CREATED,
    BOOKING_EXPIRED,
    BOOKING_REFUND_REQUESTED,
    BOOKING_RESCHEDULED,
    SCHEDULE_SAVED,
)
from services.booking.repository import SlotTaken
from services.booking.service_layer.accounts import follow_account
from services.booking.service_layer.bookings import SlotUnavailable, payment_failed
from services.booking.uow import BookingUnitOfWork
from tests.builders import outbox_messages, person
from tests.integration.booking.world import MONDAY, World, at, world


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    async with world(f"sqlite+aiosqlite:///{tmp_path}/booking.db") as made:
        await made.open_hours()
        yield made


async def outbox(w: World, event_type, subject: str = "") -> list:
    return await outbox_messages(w.service.runtime.database, event_type, subject)


# Schedules, availability and slots --------------------------------------------------------


async def test_a_saved_schedule_reads_back_and_tells_catalog_by_event(w: World):
    saved = await w.desk.get_schedule(w.owner, f"practitioners/{w.practitioner_id}/schedule")
    assert saved.saved_at == MONDAY
    assert len(saved.schedule.weekly) == 7
    [message] = await outbox(w, SCHEDULE_SAVED)
    assert (message.practitioner_id, message.practitioner_user_id, message.time_zone) == (
        w.practitioner_id,
        w.user_id,
        "Europe/Lisbon",
    )


async def test_only_the_practitioner_and_staff_see_or_change_the_hours(w: World):
    name = f"practitioners/{w.practitioner_id}/schedule"
    with pytest.raises(PermissionDenied):
        await w.desk.get_schedule(person(), name)
    assert (await w.desk.get_schedule(w.staff, name)).practitioner_id == w.practitioner_id
    with pytest.raises(NotFound):
        await w.desk.get_schedule(w.owner, "practitioners/00000000-0000-7000-8000-000000000000")


async def test_slots_follow_the_hours_the_notice_and_the_grid_in_the_viewers_zone(w: World):
    session = w.terms()
    found = await w.desk.slots(
        session.service_id, at(days=0, hour=0), at(days=1, hour=0), "Asia/Kolkata"
    )
    starts = [s.start for s in found.slots]
    # Monday from 10:00 (an hour's notice after 09:00) every 30 minutes until 19:00 (the last
    # hour that ends by 20:00).
    assert starts[0] == at(days=0, hour=10) and starts[-1] == at(days=0, hour=19)
    assert len(starts) == 19
    assert found.slots[0].local_start.isoformat() == "2026-03-02T15:30:00+05:30"
    assert found.time_zone == "Asia/Kolkata"


async def test_a_booking_on_any_service_takes_the_practitioners_time_from_every_other(w: World):
    yoga, massage = w.terms(), w.terms(title="Massage", duration_minutes=30)
    await w.book(yoga, at(hour=10))
    slots = await w.desk.slots(massage.service_id, at(hour=9), at(hour=12), "")
    # Yoga holds 10:00-11:15 (its 15-minute buffer after); massage keeps 15 minutes after
    # itself too, so 9:30 would run into yoga, and it resumes at 11:30.
    assert [s.start for s in slots.slots] == [at(hour=9), at(hour=11, minute=30)]
    _, free = await w.desk.availability(
        f"practitioners/{w.practitioner_id}", at(hour=8), at(hour=12)
    )
    assert [(f.start, f.end) for f in free] == [
        (at(hour=8), at(hour=10)),
        (at(hour=11, minute=15), at(hour=12)),
    ]


async def test_a_range_too_long_or_backwards_is_refused_naming_end_time(w: World):
    session = w.terms()
    for start, end in [(at(hour=12), at(hour=11)), (at(days=0), at(days=70))]:
        with pytest.raises(InvalidArgument) as refused:
            await w.desk.slots(session.service_id, start, end, "")
        assert refused.value.violations[0].field == "end_time"
    with pytest.raises(InvalidArgument) as zone:
        await w.desk.slots(session.service_id, None, None, "Mars/Olympus")
    assert zone.value.violations[0].field == "time_zone"


# Booking a session ------------------------------------------------------------------------


async def test_a_paid_session_is_held_for_payment_and_a_free_one_confirmed_at_once(w: World):
    paid = await w.book(w.terms(), at(hour=10), notes="First time")
    assert paid.booking.status is BookingStatus.PENDING_PAYMENT
    assert paid.booking.hold_expires_at == MONDAY + timedelta(minutes=15)
    assert paid.booking.price.amount_minor == 4000
    free = await w.book(w.terms(price_minor=0, title="Intro call"), at(hour=14))
    assert free.booking.status is BookingStatus.CONFIRMED
    [created, _] = await outbox(w, BOOKING_CREATED)
    assert created.booking.booking_id == paid.booking.id
    assert instant(created.hold_expire_time) == MONDAY + timedelta(minutes=15)
    [confirmed] = await outbox(w, BOOKING_CONFIRMED)
    assert confirmed.booking.booking_id == free.booking.id


async def test_the_price_is_catalogs_quote_not_the_copys(w: World):
    session = w.terms()
    # Catalog's price changed; booking's copy has not heard yet.
    w.catalog.sells(type(session)(**{**session.__dict__, "price_minor": 5500}))
    made = await w.book(session, at(hour=10))
    assert made.booking.price.amount_minor == 5500
    assert w.catalog.quotes == 1


async def test_a_taken_time_is_a_conflict_naming_the_range_that_holds_it(w: World):
    session = w.terms()
    await w.book(session, at(hour=10))
    with pytest.raises(SlotTaken) as refused:
        await w.book(w.terms(title="Other"), at(hour=11))
    assert refused.value.reason == "SLOT_TAKEN"
    assert refused.value.metadata == {
        "conflict_start": at(hour=10).isoformat(),
        "conflict_end": at(hour=11, minute=15).isoformat(),
    }


@pytest.mark.parametrize(
    ("start", "why"),
    [
        (lambda: at(days=0, hour=9, minute=30), "at least 60 minutes"),
        (lambda: at(days=200), "at most 90 days"),
        (lambda: at(hour=10, minute=10), "not a start the practitioner offers"),
        (lambda: at(hour=19, minute=30), "not a start the practitioner offers"),
        (lambda: at(hour=6), "not a start the practitioner offers"),
    ],
)
async def test_a_start_the_practitioner_does_not_offer_is_refused_naming_start_time(
    w: World, start, why
):
    with pytest.raises(SlotUnavailable) as refused:
        await w.book(w.terms(), start())
    assert refused.value.violations[0].field == "start_time"
    assert why in refused.value.violations[0].message


async def test_a_repeat_with_the_same_key_answers_the_first_booking(w: World):
    client = person()
    session = w.terms()
    first = await w.book(session, at(hour=10), who=client, request_id="k1")
    again = await w.book(session, at(hour=10), who=client, request_id="k1")
    assert again.booking.id == first.booking.id
    with pytest.raises(InvalidArgument) as reused:
        await w.book(session, at(hour=12), who=client, request_id="k1")
    assert reused.value.violations[0].field == "request_id"


async def test_a_suspended_practitioner_takes_no_new_bookings(w: World):
    from chassis.accounts import change_account_status

    session = w.terms()
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
        await change_account_status(uow, w.user_id, AccountStatus.SUSPENDED, MONDAY)
        await uow.commit()
    with pytest.raises(FailedPrecondition) as refused:
        await w.book(session, at(hour=10))
    assert refused.value.reason == "PRACTITIONER_UNAVAILABLE"
    assert (await w.desk.slots(session.service_id, None, None, "")).slots == []


# Payment, holds and late payments ---------------------------------------------------------


async def test_payment_confirms_and_the_hold_no_longer_lapses(w: World):
    made = await w.book(w.terms(), at(hour=10))
    await w.paid(made.booking, "pay_1")
    w.clock.advance(timedelta(minutes=20))
    assert await w.desk.expire_holds() == 0
    booking = (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking
    assert booking.status is BookingStatus.CONFIRMED
    assert booking.payment_id == "pay_1"
    assert booking.amount_paid.amount_minor == 4000


async def test_an_unpaid_hold_lapses_and_frees_its_time(w: World):
    session = w.terms()
    made = await w.book(session, at(hour=10))
    w.clock.advance(timedelta(minutes=15))
    assert await w.desk.expire_holds() == 1
    [expired] = await outbox(w, BOOKING_EXPIRED)
    assert expired.booking.booking_id == made.booking.id
    assert (await w.book(session, at(hour=10))).booking.status is BookingStatus.PENDING_PAYMENT


async def test_a_failed_payment_lets_the_time_go_at_once(w: World):
    session = w.terms()
    made = await w.book(session, at(hour=10))
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
        await payment_failed(uow, w.service.runtime.settings, booking_id=made.booking.id)  # type: ignore[arg-type]
        await uow.commit()
    assert (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking.status is (
        BookingStatus.EXPIRED
    )
    await w.book(session, at(hour=10))


async def test_a_late_payment_confirms_if_the_time_is_still_free(w: World):
    made = await w.book(w.terms(), at(hour=10))
    w.clock.advance(timedelta(minutes=30))
    await w.desk.expire_holds()
    await w.paid(made.booking, "pay_late")
    booking = (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking
    assert booking.status is BookingStatus.CONFIRMED
    assert await outbox(w, BOOKING_REFUND_REQUESTED) == []
    with pytest.raises(SlotTaken):
        await w.book(w.terms(title="Other"), at(hour=10, minute=30))


async def test_a_late_payment_for_a_time_taken_meanwhile_asks_payments_to_refund_it(w: World):
    session = w.terms()
    made = await w.book(session, at(hour=10))
    w.clock.advance(timedelta(minutes=30))
    await w.desk.expire_holds()
    await w.book(session, at(hour=10))
    await w.paid(made.booking, "pay_late")
    booking = (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking
    assert booking.status is BookingStatus.EXPIRED
    [refund] = await outbox(w, BOOKING_REFUND_REQUESTED)
    assert (refund.booking_id, refund.payment_id, refund.amount.amount_minor) == (
        made.booking.id,
        "pay_late",
        4000,
    )


async def test_a_payment_for_a_cancelled_booking_or_a_second_payment_is_sent_back(w: World):
    made = await w.book(w.terms(), at(hour=10))
    await w.paid(made.booking, "pay_1")
    await w.paid(made.booking, "pay_1")  # the same payment again: nothing happens
    await w.paid(made.booking, "pay_2")
    cancelled = await w.book(w.terms(), at(hour=14))
    await w.desk.cancel_booking(w.owner, f"bookings/{cancelled.booking.id}")
    await w.paid(cancelled.booking, "pay_3")
    refunds = await outbox(w, BOOKING_REFUND_REQUESTED)
    assert [(r.payment_id, r.booking_id) for r in refunds] == [
        ("pay_2", made.booking.id),
        ("pay_3", cancelled.booking.id),
    ]


# Cancel, reschedule, complete --------------------------------------------------------------


async def test_the_client_cancels_under_the_policy_and_the_practitioner_always_in_full(w: World):
    client = person()
    session = w.terms()
    early = await w.book(session, at(days=3), who=client)
    await w.paid(early.booking)
    late = await w.book(session, at(days=0, hour=15), who=client)
    await w.paid(late.booking)
    by_client = await w.desk.cancel_booking(client, f"bookings/{early.booking.id}", "moving")
    assert by_client.booking.refund_percent == 100
    assert (
        await w.desk.cancel_booking(client, f"bookings/{late.booking.id}")
    ).booking.refund_percent == 0
    third = await w.book(session, at(days=0, hour=16), who=client)
    await w.paid(third.booking)
    assert (
        await w.desk.cancel_booking(w.owner, f"bookings/{third.booking.id}")
    ).booking.refund_percent == 100
    cancelled = await outbox(w, BOOKING_CANCELLED)
    assert [c.refund_percent for c in cancelled] == [100, 0, 100]
    # The times are free again.
    await w.book(session, at(days=3))


async def test_a_cancelled_booking_cannot_be_cancelled_again(w: World):
    made = await w.book(w.terms(), at(days=2))
    name = f"bookings/{made.booking.id}"
    await w.desk.cancel_booking(w.owner, name)
    with pytest.raises(WrongState) as refused:
        await w.desk.cancel_booking(w.owner, name)
    assert refused.value.current == "cancelled"


async def test_a_reschedule_moves_the_booking_and_frees_the_old_time_in_one_step(w: World):
    client = person()
    session = w.terms()
    made = await w.book(session, at(days=2, hour=10), who=client)
    await w.paid(made.booking)
    moved = await w.desk.reschedule_booking(
        client, f"bookings/{made.booking.id}", at(days=2, hour=10, minute=30)
    )
    assert moved.booking.times[0].start == at(days=2, hour=10, minute=30)
    # It may overlap its own old time; the old time is free for others afterwards.
    [event] = await outbox(w, BOOKING_RESCHEDULED)
    assert instant(event.previous_times[0].start_time) == at(days=2, hour=10)
    await w.book(session, at(days=2, hour=8, minute=30))
    with pytest.raises(SlotTaken):
        await w.book(session, at(days=2, hour=11))


async def test_a_reschedule_onto_a_taken_time_changes_nothing(w: World):
    session = w.terms()
    made = await w.book(session, at(days=2, hour=10))
    await w.book(session, at(days=2, hour=14))
    with pytest.raises(SlotTaken):
        await w.desk.reschedule_booking(w.owner, f"bookings/{made.booking.id}", at(days=2, hour=14))
    booking = (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking
    assert booking.times[0].start == at(days=2, hour=10)


async def test_the_practitioner_completes_or_marks_a_no_show_after_the_start(w: World):
    client = person()
    session = w.terms()
    made = await w.book(session, at(days=0, hour=10), who=client)
    await w.paid(made.booking)
    name = f"bookings/{made.booking.id}"
    with pytest.raises(FailedPrecondition, match="not started"):
        await w.desk.complete_booking(w.owner, name)
    w.clock.advance(timedelta(hours=1, minutes=5))
    with pytest.raises(PermissionDenied):
        await w.desk.complete_booking(client, name)
    done = await w.desk.complete_booking(w.owner, name)
    assert done.booking.status is BookingStatus.COMPLETED
    [completed] = await outbox(w, BOOKING_COMPLETED)
    assert completed.amount_paid.amount_minor == 4000
    with pytest.raises(WrongState):
        await w.desk.mark_no_show(w.owner, name)


async def test_the_completion_job_completes_ended_bookings_but_not_no_shows(w: World):
    session = w.terms()
    attended = await w.book(session, at(days=0, hour=10))
    absent = await w.book(session, at(days=0, hour=12))
    for made in (attended, absent):
        await w.paid(made.booking)
    w.clock.advance(timedelta(hours=3, minutes=30))
    await w.desk.mark_no_show(w.owner, f"bookings/{absent.booking.id}")
    assert await w.desk.complete_ended() == 0  # the grace period (2 h) has not passed
    w.clock.advance(timedelta(hours=2))
    assert await w.desk.complete_ended() == 1
    assert await w.desk.complete_ended() == 0
    [completed] = await outbox(w, BOOKING_COMPLETED)
    assert completed.booking.booking_id == attended.booking.id


# Who sees what ------------------------------------------------------------------------------


async def test_only_the_client_the_practitioner_and_staff_see_a_booking(w: World):
    client = person()
    made = await w.book(w.terms(), at(hour=10), who=client, notes="knee injury")
    name = f"bookings/{made.booking.id}"
    for who in (client, w.owner, w.staff):
        assert (await w.desk.get_booking(who, name)).booking.notes == "knee injury"
    for action in (
        lambda: w.desk.get_booking(person(), name),
        lambda: w.desk.cancel_booking(person(), name),
        lambda: w.desk.reschedule_booking(person(), name, at(hour=14)),
        lambda: w.desk.complete_booking(person(), name),
        lambda: w.desk.mark_no_show(person(), name),
        lambda: w.desk.get_booking(client, "bookings/not-an-id"),
    ):
        with pytest.raises(NotFound):
            await action()


async def test_my_bookings_page_upcoming_past_and_by_status(w: World):
    client = person()
    session = w.terms()
    made = [await w.book(session, at(days=day, hour=10), who=client) for day in (1, 2, 3)]
    await w.paid(made[0].booking)
    w.clock.advance(timedelta(days=2, hours=2))
    upcoming = await w.desk.list_bookings(client, "upcoming", None, 1, "")
    assert [b.id for b in upcoming.items] == [made[2].booking.id]
    assert upcoming.total == 1
    past = await w.desk.list_bookings(client, "past", None, 1, "")
    assert [b.id for b in past.items] == [made[1].booking.id]
    second = await w.desk.list_bookings(client, "past", None, 1, past.next_page_token)
    assert [b.id for b in second.items] == [made[0].booking.id]
    assert second.next_page_token == ""
    confirmed = await w.desk.list_bookings(client, "all", BookingStatus.CONFIRMED, 10, "")
    assert [b.id for b in confirmed.items] == [made[0].booking.id]
    with pytest.raises(InvalidArgument):
        await w.desk.list_bookings(client, "upcoming", None, 1, past.next_page_token)


async def test_the_practitioners_calendar_shows_their_bookings_in_a_range(w: World):
    session = w.terms()
    kept = await w.book(session, at(days=1, hour=10))
    gone = await w.book(session, at(days=1, hour=12))
    await w.desk.cancel_booking(w.owner, f"bookings/{gone.booking.id}")
    await w.book(session, at(days=5, hour=10))
    page = await w.desk.practitioner_calendar(
        w.owner,
        f"practitioners/{w.practitioner_id}",
        at(days=1, hour=0),
        at(days=2, hour=0),
        10,
        "",
    )
    assert [b.id for b in page.items] == [kept.booking.id]
    with pytest.raises(PermissionDenied):
        await w.desk.practitioner_calendar(
            person(), f"practitioners/{w.practitioner_id}", None, None, 10, ""
        )


# Accounts ---------------------------------------------------------------------------------


async def test_an_erased_clients_notes_are_erased_and_upcoming_bookings_cancelled(w: World):
    client = person()
    made = await w.book(w.terms(), at(days=3, hour=10), who=client, notes="my address is ...")
    await w.paid(made.booking)
    async with w.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
        await follow_account(uow, w.service.runtime.settings, client.user_id, AccountStatus.DELETED)  # type: ignore[arg-type]
        await uow.commit()
    booking = (await w.desk.get_booking(w.owner, f"bookings/{made.booking.id}")).booking
    assert booking.notes == ""
    assert booking.status is BookingStatus.CANCELLED
    assert booking.refund_percent == 100


async def test_hours_from_monday_to_friday_offer_no_weekend_slots(w: World):
    await w.open_hours(time(9), time(12))
    found = await w.desk.slots(w.terms().service_id, at(days=0, hour=0), at(days=7, hour=0), "")
    assert {s.start.weekday() for s in found.slots} == set(range(7))


async def test_what_staff_do_to_a_booking_is_filed_in_the_audit_log(w: World):
    made = await w.book(w.terms(price_minor=0), at(days=2, hour=10))
    await w.desk.reschedule_booking(w.staff, f"bookings/{made.booking.id}", at(days=2, hour=12))
    await w.desk.cancel_booking(w.staff, f"bookings/{made.booking.id}", "duplicate account")
    actions = await outbox(w, STAFF_ACTION_RECORDED, f"bookings/{made.booking.id}")
    assert [(a.action, a.target_user_id, a.reason) for a in actions] == [
        ("booking.reschedule", made.booking.client_id, ""),
        ("booking.cancel", made.booking.client_id, "duplicate account"),
    ]
    assert from_struct(actions[1].before)["status"] == "confirmed"
    assert from_struct(actions[1].after)["refund_percent"] == 100
