"""The slot rules at their exact edges (the booking window's last instant reached by the
notice, a range's exclusive end, busy time and buffers that touch) and the argument a naive
datetime is refused by name. Public behaviour only: what the engine offers, never how."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

import pytest

from services.booking.domain.availability import Interval, Schedule, as_utc, free_intervals
from services.booking.domain.slots import (
    GroupSession,
    SlotRules,
    group_slots,
    is_bookable,
    is_group_bookable,
    local_time,
    occupied,
    session_interval,
    session_slots,
)
from tests.unit.booking.test_availability import MON, TUE, weekly
from tests.unit.booking.test_slots import NINE_TO_NOON, at
from tests.unit.booking.test_slots import rules as slot_rules

TICK = timedelta(microseconds=1)


def rules(**minutes: int) -> SlotRules:
    """An hour's session on an hourly grid unless told otherwise (test_slots' rules)."""
    return slot_rules(**{"step": 60, **minutes})


def offered(slot_rules: SlotRules, busy: list[Interval], now: datetime) -> list[datetime]:
    """The slots of the Monday, checking that is_bookable agrees on every half hour."""
    slots = session_slots(NINE_TO_NOON, slot_rules, busy, now, at(0), at(0) + timedelta(days=1))
    candidates = [at(8) + timedelta(minutes=30 * n) for n in range(10)]
    bookable = [s for s in candidates if is_bookable(NINE_TO_NOON, slot_rules, busy, now, s)]
    assert bookable == slots
    return slots


# Naive datetimes are refused naming the argument -------------------------------------------

NAIVE = datetime(2025, 1, 13, 9)
GROUP = GroupSession(at(9), at(11), 5, 0)
HOUR = timedelta(hours=1)
DAYS = timedelta(days=30)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("now", lambda: session_slots(NINE_TO_NOON, rules(), [], NAIVE, at(0), at(23))),
        ("start", lambda: session_slots(NINE_TO_NOON, rules(), [], at(0), NAIVE, at(23))),
        ("end", lambda: session_slots(NINE_TO_NOON, rules(), [], at(0), at(0), NAIVE)),
        ("now", lambda: is_bookable(NINE_TO_NOON, rules(), [], NAIVE, at(9))),
        ("at", lambda: is_bookable(NINE_TO_NOON, rules(), [], at(0), NAIVE)),
        ("at", lambda: occupied(rules(), NAIVE)),
        ("at", lambda: session_interval(rules(), NAIVE)),
        ("start", lambda: GroupSession(NAIVE, at(11), 5, 0)),
        ("end", lambda: GroupSession(at(9), NAIVE, 5, 0)),
        ("now", lambda: is_group_bookable(GROUP, NAIVE, HOUR, DAYS)),
        ("start", lambda: group_slots([GROUP], at(0), HOUR, DAYS, NAIVE, at(23))),
        ("end", lambda: group_slots([GROUP], at(0), HOUR, DAYS, at(0), NAIVE)),
        ("at", lambda: local_time(NAIVE, "Europe/Lisbon")),
        ("start", lambda: NINE_TO_NOON.open_intervals(NAIVE, at(23))),
        ("end", lambda: NINE_TO_NOON.open_intervals(at(0), NAIVE)),
        ("start", lambda: free_intervals(NINE_TO_NOON, [], NAIVE, at(23))),
        ("start", lambda: Interval(NAIVE, at(10))),
        ("end", lambda: Interval(at(9), NAIVE)),
    ],
)
def test_a_naive_datetime_is_refused_naming_the_argument(name, call):
    with pytest.raises(ValueError, match=rf"^{name} must be an aware datetime, got "):
        call()


class NoOffset(tzinfo):
    """A zone that knows no offset: its datetimes are as naive as those without one."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


def test_a_datetime_whose_zone_gives_no_offset_is_refused_as_naive():
    with pytest.raises(ValueError, match=r"^now must be an aware datetime, got "):
        as_utc(datetime(2025, 1, 13, 9, tzinfo=NoOffset()), "now")


# The edges of the four rules ----------------------------------------------------------------


def test_the_last_instant_of_the_window_is_offered_even_when_the_notice_reaches_it():
    now = at(9) - timedelta(days=1)
    reach = rules(notice=24 * 60, window_days=1)
    assert offered(reach, [], now) == [at(9)]
    short = replace(reach, booking_window=reach.booking_window - TICK)
    assert offered(short, [], now) == []


def test_the_range_ends_just_before_its_end():
    def between(start: datetime, end: datetime) -> list[datetime]:
        return session_slots(NINE_TO_NOON, rules(), [], at(0), start, end)

    assert between(at(9), at(9)) == []
    assert between(at(9), at(9) + TICK) == [at(9)]
    assert between(at(9) + TICK, at(11)) == [at(10)]
    assert between(at(10), at(12)) == [at(10), at(11)]


def test_busy_time_and_buffers_may_touch_a_slot_but_not_overlap_it():
    now = at(0)
    # A booking until 9:00 and one from 11:00: the session at 10:00 just fits between them.
    touching = [Interval(at(8), at(9) + HOUR), Interval(at(11), at(12))]
    assert offered(rules(), touching, now) == [at(10)]
    # Buffers of 15 minutes on each side need 9:45 to 11:15 free.
    buffered = rules(before=15, after=15)
    assert offered(buffered, [Interval(at(8), at(9, 45))], now) == [at(10), at(11)]
    assert offered(buffered, [Interval(at(8), at(9, 45) + TICK)], now) == [at(11)]
    assert offered(buffered, [Interval(at(11, 15), at(12))], now) == [at(9), at(10)]
    assert offered(buffered, [Interval(at(11, 15) - TICK, at(12))], now) == [at(9)]


def test_a_session_ends_with_working_time_at_the_latest():
    assert offered(rules(step=30), [], at(0)) == [at(9), at(9, 30), at(10), at(10, 30), at(11)]


def test_a_session_starting_on_the_ranges_last_day_may_run_into_the_next_ones_window():
    late = Schedule("UTC", (weekly(MON, "22:00", "24:00"), weekly(TUE, "00:00", "02:00")))
    long_session = rules(duration=90)
    slots = session_slots(late, long_session, [], at(0), at(0), at(23, 30))
    assert slots == [at(22), at(23)]  # 23:00 to 00:30 runs into Tuesday's window
    assert is_bookable(late, long_session, [], at(0), at(23))
    # Across midnight each day's grid offers its own starts, midnight once (Tuesday's).
    tuesday = at(0) + timedelta(days=1)
    assert session_slots(late, rules(), [], at(0), at(0), tuesday + timedelta(hours=23)) == [
        at(22),
        at(23),
        tuesday,
        tuesday + timedelta(hours=1),
    ]


def test_a_day_with_two_windows_offers_each_within_the_range_and_after_the_notice():
    split = Schedule("UTC", (weekly(MON, "09:00", "11:00"), weekly(MON, "14:00", "16:00")))
    assert session_slots(split, rules(), [], at(11), at(0), at(23)) == [at(14), at(15)]
    assert session_slots(split, rules(), [], at(0), at(0), at(12)) == [at(9), at(10)]
    assert session_slots(split, rules(), [], at(0), at(0), at(23)) == [
        at(9),
        at(10),
        at(14),
        at(15),
    ]


def test_a_day_of_many_windows_and_bookings_offers_each_free_window():
    hourly = Schedule(
        "UTC", tuple(weekly(MON, f"{h:02}:00", f"{h + 1:02}:00") for h in (8, 10, 12, 14))
    )
    assert session_slots(hourly, rules(), [], at(0), at(0), at(23)) == [
        at(8),
        at(10),
        at(12),
        at(14),
    ]
    booked = [Interval(at(8), at(9)), Interval(at(10), at(11)), Interval(at(12), at(13))]
    assert session_slots(hourly, rules(), booked, at(0), at(0), at(23)) == [at(14)]


def test_busy_time_given_overlapping_nested_touching_or_empty_counts_as_its_union():
    busy = [
        Interval(at(8), at(8)),  # empty: takes nothing
        Interval(at(9, 10), at(9, 40)),
        Interval(at(9), at(9, 20)),  # overlaps the one before
        Interval(at(9, 15), at(9, 30)),  # inside both
        Interval(at(9, 40), at(10)),  # touches: 9:00 to 10:00 is taken
        Interval(at(11), at(11, 10)),  # and ten minutes at 11:00
    ]
    slots = session_slots(NINE_TO_NOON, rules(step=30), busy, at(0), at(0), at(23))
    assert slots == [at(10)]


def test_the_notice_offers_its_own_instant_and_nothing_before():
    assert offered(rules(notice=60), [], at(9)) == [at(10), at(11)]
    assert offered(rules(notice=60), [], at(9) - TICK) == [at(10), at(11)]
    assert offered(rules(notice=60), [], at(8)) == [at(9), at(10), at(11)]
    assert offered(rules(notice=60), [], at(8) + TICK) == [at(10), at(11)]


def test_a_dated_session_takes_a_seat_from_the_notice_to_the_window_while_seats_are_left():
    now = at(8)
    assert is_group_bookable(GroupSession(at(9), at(11), 5, 4), now, HOUR, HOUR)
    assert not is_group_bookable(GroupSession(at(9), at(11), 5, 5), now, HOUR, HOUR)
    assert not is_group_bookable(GROUP, now + TICK, HOUR, DAYS)
    assert not is_group_bookable(GROUP, now, HOUR, HOUR - TICK)
    later = GroupSession(at(10), at(12), 5, 0)
    assert group_slots([later, GROUP], now, HOUR, DAYS, at(9), at(10)) == [GROUP]
    assert group_slots([later, GROUP], now, HOUR, DAYS, at(9), at(10) + TICK) == [GROUP, later]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("duration", "duration must be positive"),
        ("step", "step must be positive"),
        ("buffer_before", "buffer_before cannot be negative"),
        ("buffer_after", "buffer_after cannot be negative"),
        ("min_notice", "min_notice cannot be negative"),
        ("booking_window", "booking_window cannot be negative"),
    ],
)
def test_slot_rules_out_of_range_are_refused_naming_the_rule(name, message):
    """Lengths of zero are refused, buffers, notice and window of zero are taken."""
    length = name in ("duration", "step")
    if not length:
        assert getattr(replace(rules(), **{name: timedelta(0)}), name) == timedelta(0)
    with pytest.raises(ValueError, match=rf"^{message}$"):
        replace(rules(), **{name: timedelta(0) if length else -TICK})
