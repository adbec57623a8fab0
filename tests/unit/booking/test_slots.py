"""The start times a client can book: the grid of the practitioner's local day, buffers,
notice, booking window, busy time on any of their services, DST days in Lisbon, New York and
Lord Howe, and group seats; then properties over random schedules. Every ``now`` is a fixed
instant: no test reads the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.booking.domain.availability import (
    DateOverride,
    Interval,
    Schedule,
)
from services.booking.domain.slots import (
    GroupSession,
    SlotRules,
    group_slots,
    is_bookable,
    is_group_bookable,
    local_time,
    occupied,
    session_slots,
)
from tests.unit.booking.test_availability import (
    CHANGE_DAYS,
    FIVE_MINUTES,
    LH_AUTUMN,
    LH_SPRING,
    LISBON,
    LISBON_AUTUMN,
    LISBON_SPRING,
    LORD_HOWE,
    MON,
    NEW_YORK,
    NY_AUTUMN,
    NY_SPRING,
    TUE,
    busy_times,
    schedules,
    utc,
    weekly,
    window,
)

MINUTE = timedelta(minutes=1)


def rules(
    duration: int = 60,
    step: int = 30,
    before: int = 0,
    after: int = 0,
    notice: int = 0,
    window_days: int = 400,
) -> SlotRules:
    """Slot rules in minutes (the booking window in days)."""
    return SlotRules(
        duration=duration * MINUTE,
        step=step * MINUTE,
        buffer_before=before * MINUTE,
        buffer_after=after * MINUTE,
        min_notice=notice * MINUTE,
        booking_window=timedelta(days=window_days),
    )


# A Monday in January in UTC, so the wall clock reads as the UTC one.
MONDAY = date(2025, 1, 13)
LONG_AGO = utc(2025, 1, 1)


def at(hour: int, minute: int = 0, day: date = MONDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def walls(slots: list[datetime], zone: str) -> list[str]:
    """Each slot as the practitioner's wall clock reads it, with its UTC offset."""
    return [local_time(slot, zone).strftime("%d %H:%M%z") for slot in slots]


def day_slots(
    schedule: Schedule,
    slot_rules: SlotRules,
    busy: list[Interval] | None = None,
    now: datetime = LONG_AGO,
    day: date = MONDAY,
) -> list[datetime]:
    """The slots of one UTC day, checking that is_bookable agrees with each of them."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    slots = session_slots(schedule, slot_rules, busy or [], now, start, end)
    for slot in slots:
        assert is_bookable(schedule, slot_rules, busy or [], now, slot), slot
    return slots


NINE_TO_NOON = Schedule("UTC", (weekly(MON, "09:00", "12:00"),))


def test_a_plain_morning_on_a_half_hour_grid() -> None:
    assert day_slots(NINE_TO_NOON, rules(duration=60, step=30)) == [
        at(9),
        at(9, 30),
        at(10),
        at(10, 30),
        at(11),
    ]


def test_the_grid_starts_at_the_window_not_on_the_hour() -> None:
    schedule = Schedule("UTC", (weekly(MON, "09:05", "11:00"),))
    assert day_slots(schedule, rules(duration=30, step=30)) == [at(9, 5), at(9, 35), at(10, 5)]


@pytest.mark.parametrize(
    ("zone", "step", "now", "expected"),
    [
        # 09:07 IST is 03:37 UTC. Rounding up in UTC would give 04:00 UTC = 09:30 IST, off the
        # practitioner's hourly grid; the grid of their local day gives 10:00 and 11:00 IST.
        ("Asia/Kolkata", 60, utc(2025, 1, 13, 3, 37), ["13 10:00+0530", "13 11:00+0530"]),
        (
            "Asia/Kolkata",
            30,
            utc(2025, 1, 13, 3, 37),
            ["13 09:30+0530", "13 10:00+0530", "13 10:30+0530", "13 11:00+0530", "13 11:30+0530"],
        ),
        # Kathmandu is UTC+05:45: a quarter-hour grid stays on local quarter hours.
        (
            "Asia/Kathmandu",
            15,
            utc(2025, 1, 13, 5, 0),
            ["13 10:45+0545", "13 11:00+0545", "13 11:15+0545", "13 11:30+0545", "13 11:45+0545"],
        ),
    ],
)
def test_the_first_slot_is_rounded_on_the_local_grid_not_in_utc(
    zone: str, step: int, now: datetime, expected: list[str]
) -> None:
    schedule = Schedule(zone, (weekly(MON, "09:00", "12:00"),))
    slot_rules = rules(duration=step, step=step)
    slots = session_slots(schedule, slot_rules, [], now, now, now + timedelta(hours=12))
    assert walls(slots, zone) == expected
    assert all(is_bookable(schedule, slot_rules, [], now, slot) for slot in slots)
    off_grid = slots[0] - timedelta(minutes=step // 2)
    assert not is_bookable(schedule, slot_rules, [], now, off_grid)


def test_minimum_notice_moves_the_first_slot_to_the_next_grid_mark() -> None:
    now = at(8, 10)
    assert day_slots(NINE_TO_NOON, rules(duration=30, step=30, notice=90), now=now) == [
        at(10),
        at(10, 30),
        at(11),
        at(11, 30),
    ]
    # Exactly on the notice line is still bookable.
    assert is_bookable(NINE_TO_NOON, rules(step=30, notice=110), [], now, at(10))
    assert not is_bookable(NINE_TO_NOON, rules(step=30, notice=111), [], now, at(10))


def test_nothing_in_the_past() -> None:
    assert day_slots(NINE_TO_NOON, rules(duration=60, step=60), now=at(10, 1)) == [at(11)]


def test_the_booking_window_ends_with_its_last_instant() -> None:
    schedule = Schedule("UTC", tuple(weekly(day, "09:00", "12:00") for day in range(7)))
    now = at(10)  # Monday 10:00, a window of two days
    slots = session_slots(
        schedule, rules(step=60, window_days=2), [], now, at(0), at(0) + timedelta(days=7)
    )
    assert slots == [
        at(10),
        at(11),
        at(9, day=date(2025, 1, 14)),
        at(10, day=date(2025, 1, 14)),
        at(11, day=date(2025, 1, 14)),
        at(9, day=date(2025, 1, 15)),
        at(10, day=date(2025, 1, 15)),
    ]
    assert not is_bookable(
        schedule, rules(step=60, window_days=2), [], now, at(11, day=date(2025, 1, 15))
    )


def test_buffers_keep_distance_from_busy_time_and_may_leave_working_hours() -> None:
    schedule = Schedule("UTC", (weekly(MON, "08:00", "13:00"),))
    booking = Interval(at(10), at(11))  # another booking, its own buffers included
    slots = day_slots(schedule, rules(duration=60, step=15, before=15, after=15), [booking])
    # [s - 15, s + 75) must miss 10:00-11:00; the 08:00 slot's buffer falls before working time.
    assert slots == [
        at(8),
        at(8, 15),
        at(8, 30),
        at(8, 45),
        at(11, 15),
        at(11, 30),
        at(11, 45),
        at(12),
    ]


def test_occupied_is_the_session_with_its_buffers() -> None:
    assert occupied(rules(duration=50, before=10, after=20), at(9)) == Interval(
        at(8, 50), at(10, 10)
    )


def test_a_hold_or_a_booking_on_any_service_blocks_the_same_time() -> None:
    hold = Interval(at(9, 30), at(10, 15))  # a live hold on another of the practitioner's services
    assert day_slots(NINE_TO_NOON, rules(duration=30, step=15), [hold]) == [
        at(9),
        at(10, 15),
        at(10, 30),
        at(10, 45),
        at(11),
        at(11, 15),
        at(11, 30),
    ]


def test_a_session_may_run_from_one_window_into_the_next_that_touches_it() -> None:
    schedule = Schedule("UTC", (weekly(MON, "09:00", "12:00"), weekly(MON, "12:00", "14:00")))
    assert day_slots(schedule, rules(duration=120, step=60)) == [at(9), at(10), at(11), at(12)]
    apart = Schedule("UTC", (weekly(MON, "09:00", "12:00"), weekly(MON, "12:30", "14:30")))
    assert day_slots(apart, rules(duration=120, step=60)) == [at(9), at(10), at(12, 30)]


def test_a_session_may_run_past_midnight_and_the_grid_restarts_there() -> None:
    schedule = Schedule("UTC", (weekly(MON, "22:00", "24:00"), weekly(TUE, "00:00", "02:00")))
    slots = session_slots(
        schedule, rules(duration=60, step=45), [], LONG_AGO, at(0), at(0) + timedelta(days=2)
    )
    tuesday = date(2025, 1, 14)
    assert slots == [at(22), at(22, 45), at(23, 30), at(0, day=tuesday), at(0, 45, day=tuesday)]


def test_overrides_give_and_take_slots() -> None:
    schedule = Schedule(
        "UTC",
        (weekly(MON, "09:00", "12:00"),),
        (
            DateOverride(MONDAY, (window("10:00", "11:00"),)),  # time off around it
            DateOverride(date(2025, 1, 18), (window("14:00", "16:00"),)),  # an extra Saturday
            DateOverride(date(2025, 1, 20)),  # a holiday
        ),
    )
    assert day_slots(schedule, rules(step=60)) == [at(10)]
    assert day_slots(schedule, rules(step=60), day=date(2025, 1, 18)) == [
        at(14, day=date(2025, 1, 18)),
        at(15, day=date(2025, 1, 18)),
    ]
    assert day_slots(schedule, rules(step=60), day=date(2025, 1, 20)) == []


def test_the_range_clips_starts_but_not_the_grid() -> None:
    slots = session_slots(
        NINE_TO_NOON, rules(duration=30, step=30), [], LONG_AGO, at(9, 10), at(10, 30)
    )
    assert slots == [at(9, 30), at(10)]


def test_is_bookable_refuses_each_broken_rule() -> None:
    slot_rules = rules(duration=60, step=30, before=10, notice=60)
    now = at(8)
    lunch = [Interval(at(11, 30), at(12, 30))]
    assert is_bookable(NINE_TO_NOON, slot_rules, lunch, now, at(9, 30))
    assert not is_bookable(NINE_TO_NOON, slot_rules, lunch, now, at(9, 15))  # off the grid
    assert not is_bookable(NINE_TO_NOON, slot_rules, lunch, now, at(8, 30))  # before work
    assert not is_bookable(NINE_TO_NOON, slot_rules, lunch, at(8, 1), at(9))  # inside notice
    assert is_bookable(NINE_TO_NOON, slot_rules, lunch, now, at(10, 30))  # ends as it starts
    assert not is_bookable(NINE_TO_NOON, slot_rules, lunch, now, at(11))  # runs into busy
    assert not is_bookable(NINE_TO_NOON, slot_rules, [], now, at(11, 30))  # runs past noon
    assert is_bookable(NINE_TO_NOON, slot_rules, [], now, at(11))  # ends at noon exactly
    before_it = [Interval(at(9), at(9, 25))]  # clear of the session, not of its buffer
    assert not is_bookable(NINE_TO_NOON, slot_rules, before_it, now, at(9, 30))
    assert is_bookable(NINE_TO_NOON, slot_rules, [Interval(at(9), at(9, 20))], now, at(9, 30))
    far_ahead = rules(window_days=1)
    assert not is_bookable(NINE_TO_NOON, far_ahead, [], at(9, day=date(2025, 1, 11)), at(9))
    assert is_bookable(NINE_TO_NOON, far_ahead, [], at(9, day=date(2025, 1, 12)), at(9))


def test_instants_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        session_slots(NINE_TO_NOON, rules(), [], datetime(2025, 1, 1), at(0), at(23))
    with pytest.raises(ValueError, match="aware"):
        is_bookable(NINE_TO_NOON, rules(), [], LONG_AGO, datetime(2025, 1, 13, 9))


def test_slot_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="step"):
        rules(step=0)
    with pytest.raises(ValueError, match="duration"):
        rules(duration=0)
    with pytest.raises(ValueError, match="buffer_before"):
        rules(before=-1)


def test_local_time_is_the_viewers_wall_clock() -> None:
    slot = utc(2025, 1, 13, 4, 30)
    assert local_time(slot, "Asia/Kolkata") == datetime(
        2025, 1, 13, 10, tzinfo=ZoneInfo("Asia/Kolkata")
    )
    assert local_time(slot, "America/New_York").isoformat() == "2025-01-12T23:30:00-05:00"


# --- DST ----------------------------------------------------------------------------------


def change_day_slots(zone: str, day: date, start: str, end: str, step: int) -> list[datetime]:
    schedule = Schedule(zone, (), (DateOverride(day, (window(start, end),)),))
    slot_rules = rules(duration=step, step=step)
    origin = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=1)
    slots = session_slots(schedule, slot_rules, [], LONG_AGO, origin, origin + timedelta(days=3))
    assert all(is_bookable(schedule, slot_rules, [], LONG_AGO, slot) for slot in slots)
    return slots


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "step", "expected_utc", "expected_wall"),
    [
        # New York: 01:00-04:00 across the skipped hour is two real hours.
        (
            NEW_YORK,
            NY_SPRING,
            "01:00",
            "04:00",
            60,
            [utc(2025, 3, 9, 6), utc(2025, 3, 9, 7)],
            ["09 01:00-0500", "09 03:00-0400"],
        ),
        # ... and 00:00-03:00 across the repeated hour is four: 01:00 comes twice.
        (
            NEW_YORK,
            NY_AUTUMN,
            "00:00",
            "03:00",
            60,
            [utc(2025, 11, 2, 4), utc(2025, 11, 2, 5), utc(2025, 11, 2, 6), utc(2025, 11, 2, 7)],
            ["02 00:00-0400", "02 01:00-0400", "02 01:00-0500", "02 02:00-0500"],
        ),
        # A window starting in the skipped hour starts at the jump.
        (
            NEW_YORK,
            NY_SPRING,
            "02:30",
            "04:00",
            30,
            [utc(2025, 3, 9, 7), utc(2025, 3, 9, 7, 30)],
            ["09 03:00-0400", "09 03:30-0400"],
        ),
        (
            LISBON,
            LISBON_SPRING,
            "00:00",
            "03:00",
            60,
            [utc(2025, 3, 30, 0), utc(2025, 3, 30, 1)],
            ["30 00:00+0000", "30 02:00+0100"],
        ),
        (
            LISBON,
            LISBON_AUTUMN,
            "00:00",
            "03:00",
            60,
            [
                utc(2025, 10, 25, 23),
                utc(2025, 10, 26, 0),
                utc(2025, 10, 26, 1),
                utc(2025, 10, 26, 2),
            ],
            ["26 00:00+0100", "26 01:00+0100", "26 01:00+0000", "26 02:00+0000"],
        ),
        # Lord Howe jumps half an hour: an hourly grid keeps real time, so after 01:00 comes
        # 02:30 (an hour later), and the window 01:00-04:00 holds two and a half hours.
        (
            LORD_HOWE,
            LH_SPRING,
            "01:00",
            "04:00",
            60,
            [utc(2025, 10, 4, 14, 30), utc(2025, 10, 4, 15, 30)],
            ["05 01:00+1030", "05 02:30+1100"],
        ),
        (
            LORD_HOWE,
            LH_AUTUMN,
            "01:00",
            "03:00",
            30,
            [
                utc(2025, 4, 5, 14),
                utc(2025, 4, 5, 14, 30),
                utc(2025, 4, 5, 15),
                utc(2025, 4, 5, 15, 30),
                utc(2025, 4, 5, 16),
            ],
            ["06 01:00+1100", "06 01:30+1100", "06 01:30+1030", "06 02:00+1030", "06 02:30+1030"],
        ),
    ],
)
def test_slots_across_a_dst_change(
    zone: str,
    day: date,
    start: str,
    end: str,
    step: int,
    expected_utc: list[datetime],
    expected_wall: list[str],
) -> None:
    slots = change_day_slots(zone, day, start, end, step)
    assert slots == expected_utc
    assert walls(slots, zone) == expected_wall


@pytest.mark.parametrize(
    ("zone", "day", "count", "first_hours"),
    [
        (NEW_YORK, NY_SPRING, 23, ["00:00-0500", "01:00-0500", "03:00-0400", "04:00-0400"]),
        (NEW_YORK, NY_AUTUMN, 25, ["00:00-0400", "01:00-0400", "01:00-0500", "02:00-0500"]),
        (LISBON, LISBON_SPRING, 23, ["00:00+0000", "02:00+0100", "03:00+0100", "04:00+0100"]),
        (LISBON, LISBON_AUTUMN, 25, ["00:00+0100", "01:00+0100", "01:00+0000", "02:00+0000"]),
    ],
)
def test_an_hourly_grid_all_day_on_a_change_day(
    zone: str, day: date, count: int, first_hours: list[str]
) -> None:
    slots = change_day_slots(zone, day, "00:00", "24:00", 60)
    assert len(slots) == count
    assert [local_time(s, zone).strftime("%H:%M%z") for s in slots[:4]] == first_hours
    assert local_time(slots[-1], zone).strftime("%d %H:%M") == f"{day.day:02d} 23:00"


def test_a_weekly_slot_keeps_its_local_hour_across_the_change() -> None:
    schedule = Schedule(NEW_YORK, (weekly(MON, "09:00", "10:00"),))
    slots = session_slots(schedule, rules(), [], LONG_AGO, utc(2025, 3, 1), utc(2025, 3, 12))
    assert slots == [utc(2025, 3, 3, 14), utc(2025, 3, 10, 13)]


def test_the_viewers_zone_does_not_move_the_grid() -> None:
    # A client in Lord Howe looking at a Lisbon practitioner's 09:00 sees 19:00 or 20:00 their
    # time; the slot is the same instant whatever the viewer.
    schedule = Schedule(LISBON, (weekly(MON, "09:00", "10:00"),))
    (slot,) = session_slots(schedule, rules(), [], LONG_AGO, utc(2025, 1, 13), utc(2025, 1, 14))
    assert slot == utc(2025, 1, 13, 9)
    assert local_time(slot, LORD_HOWE).strftime("%H:%M%z") == "20:00+1100"


# --- group sessions -----------------------------------------------------------------------


def test_group_sessions_still_bookable() -> None:
    now = at(9)
    full = GroupSession(at(12), at(14), capacity=10, taken=10)
    open_seat = GroupSession(at(15), at(17), capacity=10, taken=9)
    too_soon = GroupSession(at(10), at(12), capacity=10, taken=0)
    too_far = GroupSession(at(15) + timedelta(days=40), at(17) + timedelta(days=40), 10, 0)
    earlier = GroupSession(at(13), at(14), capacity=2, taken=0)
    sessions = [full, open_seat, too_soon, too_far, earlier]
    assert group_slots(
        sessions, now, timedelta(hours=2), timedelta(days=30), at(0), at(0) + timedelta(days=60)
    ) == [earlier, open_seat]
    assert group_slots(sessions, now, timedelta(hours=2), timedelta(days=30), at(14), at(16)) == [
        open_seat
    ]
    assert open_seat.seats_left == 1 and full.seats_left == 0
    assert GroupSession(at(12), at(13), capacity=3, taken=5).seats_left == 0
    assert not is_group_bookable(full, now, timedelta(0), timedelta(days=30))
    assert is_group_bookable(too_soon, now, timedelta(hours=1), timedelta(days=30))
    assert not is_group_bookable(too_soon, now, timedelta(hours=1, minutes=1), timedelta(days=30))


# --- properties -------------------------------------------------------------------------

FIXED_ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu"]
DST_ZONES = [NEW_YORK, LISBON, LORD_HOWE, "America/Santiago"]


@st.composite
def slot_rules(draw: st.DrawFn) -> SlotRules:
    """Rules on five-minute marks, so every grid mark is on a five-minute mark too."""
    five = st.integers(0, 12).map(lambda n: n * FIVE_MINUTES)
    return SlotRules(
        duration=draw(st.integers(1, 36)) * FIVE_MINUTES,
        step=draw(st.integers(1, 24)) * FIVE_MINUTES,
        buffer_before=draw(five),
        buffer_after=draw(five),
        min_notice=draw(st.integers(0, 120) | st.integers(0, 600)) * MINUTE,
        # Mostly past the range asked for, sometimes cutting into it.
        booking_window=draw(st.integers(3 * 24 * 60, 5 * 24 * 60) | st.integers(60, 5 * 24 * 60))
        * MINUTE,
    )


def case(
    data: st.DataObject, zones: list[str], around: date
) -> tuple[Schedule, SlotRules, list[Interval], datetime, datetime, datetime]:
    schedule = data.draw(schedules(zones, around))
    origin = datetime.combine(around, time(0), tzinfo=UTC) - timedelta(days=1)
    busy = data.draw(busy_times(origin))
    start = origin + FIVE_MINUTES * data.draw(st.integers(0, 288))
    end = start + FIVE_MINUTES * data.draw(st.integers(12, 2 * 288))
    # Mostly a while before the range, sometimes inside it; to the second, off every grid.
    now = start - timedelta(seconds=data.draw(st.integers(0, 86400) | st.integers(-86400, 0)))
    return schedule, data.draw(slot_rules()), busy, now, start, end


def grid(start: datetime, end: datetime) -> list[datetime]:
    """Every five-minute mark in [start, end), from start."""
    marks = []
    while start < end:
        marks.append(start)
        start += FIVE_MINUTES
    return marks


@settings(max_examples=150, deadline=None)
@given(data=st.data(), around=st.sampled_from(CHANGE_DAYS))
def test_slots_are_exactly_the_bookable_starts(data: st.DataObject, around: date) -> None:
    schedule, slot_rules_, busy, now, start, end = case(data, FIXED_ZONES + DST_ZONES, around)
    slots = session_slots(schedule, slot_rules_, busy, now, start, end)

    assert slots == sorted(set(slots))
    working = schedule.open_intervals(start - timedelta(days=1), end + timedelta(days=2))
    for slot in slots:
        assert start <= slot < end
        assert slot.tzinfo is UTC and slot.second == 0 and slot.minute % 5 == 0
        assert is_bookable(schedule, slot_rules_, busy, now, slot)
        session = Interval(slot, slot + slot_rules_.duration)
        assert any(w.contains(session) for w in working)
        assert not any(occupied(slot_rules_, slot).overlaps(b) for b in busy)
        assert now + slot_rules_.min_notice <= slot <= now + slot_rules_.booking_window
    # Every bookable start on a fine grid is offered (all grid marks fall on five minutes).
    offered = set(slots)
    for mark in grid(start, end):
        assert is_bookable(schedule, slot_rules_, busy, now, mark) == (mark in offered), mark


def bookable_by_the_wall_clock(
    schedule: Schedule, rules_: SlotRules, busy: list[Interval], now: datetime, mark: datetime
) -> bool:
    """The rule restated for a zone without DST, where wall time and real time run together:
    a stretch is a run of touching windows of the mark's local day, the grid is counted in
    minutes from its start, and working time is checked five minutes at a time."""
    if not now + rules_.min_notice <= mark <= now + rules_.booking_window:
        return False
    zone = schedule.zone

    def minute_of(instant: datetime) -> tuple[date, int]:
        wall = instant.astimezone(zone)
        return wall.date(), wall.hour * 60 + wall.minute

    day, minute = minute_of(mark)
    runs: list[list[int]] = []
    for w in sorted(schedule.windows_on(day), key=lambda w: w.start_minute):
        if runs and runs[-1][1] == w.start_minute:
            runs[-1][1] = w.end_minute
        else:
            runs.append([w.start_minute, w.end_minute])
    step = rules_.step // MINUTE
    if not any(a <= minute < b and (minute - a) % step == 0 for a, b in runs):
        return False
    for n in range(rules_.duration // FIVE_MINUTES):
        block_day, block_minute = minute_of(mark + n * FIVE_MINUTES)
        if not any(
            w.start_minute <= block_minute < w.end_minute for w in schedule.windows_on(block_day)
        ):
            return False
    taken = Interval(mark - rules_.buffer_before, mark + rules_.duration + rules_.buffer_after)
    return not any(taken.overlaps(b) for b in busy)


@settings(max_examples=120, deadline=None)
@given(
    data=st.data(),
    around=st.sampled_from([date(2025, 1, 13), date(2025, 6, 30), date(2025, 12, 31)]),
)
def test_slots_match_the_wall_clock_where_there_is_no_dst(
    data: st.DataObject, around: date
) -> None:
    schedule, slot_rules_, busy, now, start, end = case(data, FIXED_ZONES, around)
    slots = set(session_slots(schedule, slot_rules_, busy, now, start, end))
    for mark in grid(start, end):
        assert (mark in slots) == bookable_by_the_wall_clock(
            schedule, slot_rules_, busy, now, mark
        ), mark


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_group_slots_are_the_sessions_a_seat_can_still_be_taken_in(data: st.DataObject) -> None:
    origin = utc(2025, 3, 1)
    sessions = [
        GroupSession(
            origin + timedelta(minutes=start),
            origin + timedelta(minutes=start + 60),
            capacity=data.draw(st.integers(1, 5)),
            taken=data.draw(st.integers(0, 6)),
        )
        for start in data.draw(st.lists(st.integers(0, 10 * 24 * 60), max_size=8))
    ]
    now = origin + timedelta(minutes=data.draw(st.integers(0, 5 * 24 * 60)))
    notice, ahead = (
        timedelta(minutes=data.draw(st.integers(0, 600))),
        timedelta(days=data.draw(st.integers(0, 5))),
    )
    start = origin + timedelta(minutes=data.draw(st.integers(0, 10 * 24 * 60)))
    end = start + timedelta(minutes=data.draw(st.integers(0, 5 * 24 * 60)))
    found = group_slots(sessions, now, notice, ahead, start, end)
    assert [g.start for g in found] == sorted(g.start for g in found)
    expected = [
        g
        for g in sessions
        if start <= g.start < end
        and g.taken < g.capacity
        and now + notice <= g.start <= now + ahead
    ]
    assert sorted(found, key=id) == sorted(expected, key=id)
