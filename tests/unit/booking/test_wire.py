"""Booking's wire: each domain event as the message it is published as, enums both ways,
catalog's terms read back, schedules from requests with every bad field named."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from chassis.errors import InvalidArgument
from chassis.money import Money
from chassis.wire import instant, timestamp
from estuary.booking.v1 import booking_pb2 as pb
from estuary.booking.v1 import events_pb2
from estuary.catalog.v1 import catalog_pb2
from estuary.catalog.v1 import events_pb2 as catalog_events
from gateway.schemas.booking import BookingOut
from services.booking.domain.attendance import Attendance, Mark, Presence
from services.booking.domain.bookings import Actor
from services.booking.domain.events import (
    RefundRequested,
    Reminder,
    ReminderDue,
    ScheduleSaved,
    WaitlistOffered,
)
from services.booking.domain.terms import ServiceKind
from services.booking.events import EMITTED, event_message
from services.booking.wire import (
    ACTORS,
    BOOKING_STATUSES,
    booking_to_proto,
    schedule_from_proto,
    schedule_to_proto,
    terms_from_event,
)
from tests.unit.booking.factories import NOW, booking, terms

GRACE = timedelta(hours=1)


def _every_event() -> list[object]:
    made, events = booking(starts_in=timedelta(days=3))
    found = list(events)
    found.append(made.confirm(NOW, "pay_1", 4000))
    moved = made.times[0].start + timedelta(days=1)
    found.append(
        made.reschedule([made.times[0].__class__(moved, moved + GRACE)], Actor.CLIENT, NOW)
    )
    cancelled, _ = booking()
    found.append(cancelled.cancel(Actor.PRACTITIONER, NOW, "ill"))
    lapsed, _ = booking()
    found.append(lapsed.expire(NOW))
    assert made.ends_at is not None
    found.append(made.complete(Actor.SYSTEM, made.ends_at + GRACE, GRACE))
    absent, _ = booking(price=0)
    assert absent.starts_at is not None
    found.append(absent.mark_no_show(absent.starts_at, Actor.PRACTITIONER))
    found.append(
        ReminderDue(absent, Reminder.DAY_BEFORE, absent.client_id, absent.times[0], 0, "bookings/x")
    )
    found.append(RefundRequested("b1", "pay_2", "c1", Money(4000, "EUR"), "late"))
    found.append(ScheduleSaved("p1", "u1", "Europe/Lisbon"))
    found.append(
        WaitlistOffered("w1", "s1", "c1", absent.times[0], NOW + GRACE, "Yoga", "Europe/Lisbon")
    )
    return found


def test_every_domain_event_maps_to_the_message_of_an_emitted_type():
    seen = set()
    for event in _every_event():
        event_type, message, subject = event_message(event)
        assert isinstance(message, event_type.message)
        assert subject
        seen.add(event_type.name)
    assert seen == {e.name for e in EMITTED}


def test_a_booking_event_carries_the_snapshot_payments_and_messaging_need():
    made, events = booking()
    _, message, subject = event_message(events[0])
    assert isinstance(message, events_pb2.BookingCreated)
    snap = message.booking
    assert subject == f"bookings/{made.id}"
    assert (snap.booking_id, snap.client_id, snap.practitioner_user_id) == (
        made.id,
        made.client_id,
        made.practitioner_user_id,
    )
    assert (snap.price.amount_minor, snap.price.currency, snap.seats) == (4000, "EUR", 1)
    assert snap.service_kind == catalog_pb2.SERVICE_KIND_SESSION
    assert instant(snap.times[0].start_time) == made.times[0].start
    assert instant(message.hold_expire_time) == made.hold_expires_at


def test_the_enums_map_both_ways():
    for actor in Actor:
        assert ACTORS.from_proto(ACTORS.to_proto(actor)) is actor
    for status in BOOKING_STATUSES.domain:
        assert BOOKING_STATUSES.from_proto(BOOKING_STATUSES.to_proto(status)) is status
    assert BOOKING_STATUSES.from_proto(0) is None


def test_catalogs_terms_are_read_back_from_the_event():
    sold = terms(buffer_before_minutes=10)
    message = catalog_events.ServiceTerms(
        service_id=sold.service_id,
        practitioner_id=sold.practitioner_id,
        practitioner_user_id=sold.practitioner_user_id,
        timezone="Europe/Lisbon",
        kind=catalog_pb2.SERVICE_KIND_SESSION,
        title=sold.title,
        price={"amount_minor": 4000, "currency": "EUR"},
        duration_minutes=60,
        max_participants=1,
        buffer_before_minutes=10,
        buffer_after_minutes=15,
        min_notice_minutes=60,
        booking_window_days=90,
        cancellation_policy=[
            catalog_pb2.RefundRule(hours_before=0, refund_percent=0),
            catalog_pb2.RefundRule(hours_before=48, refund_percent=100),
            catalog_pb2.RefundRule(hours_before=24, refund_percent=50),
        ],
        location_kind=catalog_pb2.LOCATION_KIND_VIRTUAL,
        status=catalog_pb2.SERVICE_STATUS_ACTIVE,
        update_time=timestamp(NOW),
    )
    assert terms_from_event(message) == sold
    assert terms_from_event(message).kind is ServiceKind.SESSION


def test_a_schedule_round_trips_with_24_00_as_the_end_of_a_day():
    message = pb.Schedule(
        name="practitioners/p/schedule",
        time_zone="Europe/Lisbon",
        weekly=[
            pb.WeeklyWindow(weekday=pb.DAY_OF_WEEK_MONDAY, start="09:00", end="13:00"),
            pb.WeeklyWindow(weekday=pb.DAY_OF_WEEK_SUNDAY, start="20:00", end="24:00"),
        ],
        overrides=[pb.DateOverride(day="2026-03-09", windows=[])],
    )
    schedule = schedule_from_proto(message, "UTC")
    assert schedule.weekly[0].weekday == 0
    assert schedule.weekly[1].window.end == time(0)
    assert schedule.overrides[0].windows == ()
    back = schedule_to_proto("p", schedule, NOW)
    assert [w.end for w in back.weekly] == ["13:00", "24:00"]
    assert back.weekly[1].weekday == pb.DAY_OF_WEEK_SUNDAY
    assert back.overrides[0].day == "2026-03-09"


def test_a_bad_schedule_names_every_bad_field():
    message = pb.Schedule(
        time_zone="Mars/Olympus",
        weekly=[
            pb.WeeklyWindow(weekday=0, start="9:00", end="25:00"),
            pb.WeeklyWindow(weekday=pb.DAY_OF_WEEK_TUESDAY, start="10:00", end="09:00"),
            pb.WeeklyWindow(weekday=pb.DAY_OF_WEEK_TUESDAY, start="08:00", end="12:00"),
        ],
        overrides=[pb.DateOverride(day="2026-02-30")],
    )
    with pytest.raises(InvalidArgument) as refused:
        schedule_from_proto(message, "UTC")
    fields = {v.field for v in refused.value.violations}
    assert {"weekly[0].weekday", "weekly[0].start", "weekly[0].end", "overrides[0].day"} <= fields
    fixed = pb.Schedule(time_zone="Mars/Olympus", weekly=list(message.weekly)[1:])
    with pytest.raises(InvalidArgument) as zone_and_order:
        schedule_from_proto(fixed, "UTC")
    found = {v.field for v in zone_and_order.value.violations}
    assert "time_zone" in found
    assert any(f.startswith("weekly[0]") for f in found)


def test_attendance_reaches_the_gateway_s_json_and_is_null_when_not_given():
    made, _ = booking()
    heard = Attendance.of(
        made.client_id,
        made.practitioner_user_id,
        [
            Mark(made.client_id, Presence.JOINED, NOW),
            Mark(made.client_id, Presence.LEFT, NOW + timedelta(minutes=40)),
            Mark(made.practitioner_user_id, Presence.LEFT, NOW + timedelta(minutes=50)),
        ],
    )
    shown = BookingOut.from_proto(booking_to_proto(made, attendance=heard)).model_dump(mode="json")
    assert shown["attendance"] == {
        "client": {
            "user_id": made.client_id,
            "first_joined_at": "2026-03-02T09:00:00Z",
            "last_left_at": "2026-03-02T09:40:00Z",
            "seconds_present": 2400,
            "present": False,
        },
        "practitioner": {
            "user_id": made.practitioner_user_id,
            "first_joined_at": None,
            "last_left_at": "2026-03-02T09:50:00Z",
            "seconds_present": 0,
            "present": False,
        },
    }
    empty = BookingOut.from_proto(booking_to_proto(made, attendance=Attendance()))
    assert empty.model_dump(mode="json")["attendance"] == {"client": None, "practitioner": None}
    assert BookingOut.from_proto(booking_to_proto(made)).attendance is None
