"""A practitioner's working time: weekly windows and overrides expanded one local day at a
time (exact UTC instants across DST changes in Lisbon, New York and Lord Howe), busy time
taken away, and the checks on a schedule. Pure: no database, no clock."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chassis.errors import InvalidArgument
from services.booking.domain.availability import (
    MAX_OVERRIDES,
    MAX_WINDOWS_PER_DAY,
    DateOverride,
    Interval,
    LocalWindow,
    Schedule,
    WeeklyWindow,
    check_schedule,
    free_intervals,
    local_instant,
    merge,
    subtract,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(0) if text == "24:00" else time(int(hours), int(minutes))


def window(start: str, end: str) -> LocalWindow:
    """A window from "HH:MM" texts; "24:00" is the end of the day."""
    return LocalWindow(hm(start), hm(end))


def weekly(weekday: int, start: str, end: str) -> WeeklyWindow:
    return WeeklyWindow(weekday, window(start, end))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def span(start: datetime, end: datetime) -> Interval:
    return Interval(start, end)


def one_day(schedule: Schedule, day: date) -> list[Interval]:
    """Working time of one local day, asked for with a range wider than the day."""
    start = datetime.combine(day, time(0), tzinfo=UTC) - timedelta(days=1)
    return schedule.open_intervals(start, start + timedelta(days=3))


# --- weekly windows and overrides -------------------------------------------------------


def test_weekly_windows_are_local_wall_time_whatever_the_season() -> None:
    schedule = Schedule("Europe/Lisbon", (weekly(MON, "09:00", "17:00"),))
    # Winter is UTC+0, summer UTC+1: the same 9:00 is a different UTC hour.
    assert one_day(schedule, date(2025, 1, 13)) == [span(utc(2025, 1, 13, 9), utc(2025, 1, 13, 17))]
    assert one_day(schedule, date(2025, 7, 14)) == [span(utc(2025, 7, 14, 8), utc(2025, 7, 14, 16))]


def test_several_windows_a_day_and_days_without_any() -> None:
    schedule = Schedule(
        "America/New_York",
        (
            weekly(MON, "13:00", "17:00"),
            weekly(MON, "09:00", "12:00"),
            weekly(WED, "18:00", "20:00"),
        ),
    )
    week = schedule.open_intervals(utc(2025, 1, 13), utc(2025, 1, 20))
    assert week == [
        span(utc(2025, 1, 13, 14), utc(2025, 1, 13, 17)),
        span(utc(2025, 1, 13, 18), utc(2025, 1, 13, 22)),
        span(utc(2025, 1, 15, 23), utc(2025, 1, 16, 1)),
    ]


def test_windows_that_touch_are_one_stretch_even_across_midnight() -> None:
    schedule = Schedule(
        "UTC",
        (
            weekly(MON, "09:00", "12:00"),
            weekly(MON, "12:00", "15:00"),
            weekly(MON, "22:00", "24:00"),
            weekly(TUE, "00:00", "02:00"),
        ),
    )
    assert schedule.open_intervals(utc(2025, 1, 13), utc(2025, 1, 15)) == [
        span(utc(2025, 1, 13, 9), utc(2025, 1, 13, 15)),
        span(utc(2025, 1, 13, 22), utc(2025, 1, 14, 2)),
    ]


def test_open_intervals_are_clipped_to_the_range() -> None:
    schedule = Schedule("UTC", (weekly(MON, "09:00", "17:00"),))
    assert schedule.open_intervals(utc(2025, 1, 13, 10), utc(2025, 1, 13, 12, 30)) == [
        span(utc(2025, 1, 13, 10), utc(2025, 1, 13, 12, 30))
    ]
    assert schedule.open_intervals(utc(2025, 1, 13, 17), utc(2025, 1, 13, 20)) == []
    assert schedule.open_intervals(utc(2025, 1, 13, 12), utc(2025, 1, 13, 12)) == []


def test_a_range_given_in_another_zone_reads_as_its_instant() -> None:
    schedule = Schedule("UTC", (weekly(MON, "09:00", "17:00"),))
    lisbon_summer = ZoneInfo("Europe/Lisbon")
    start = datetime(2025, 7, 14, 11, tzinfo=lisbon_summer)  # 10:00 UTC
    (interval,) = schedule.open_intervals(start, start + timedelta(hours=2))
    assert interval == span(utc(2025, 7, 14, 10), utc(2025, 7, 14, 12))
    assert interval.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        pytest.param(DateOverride(date(2025, 1, 13), ()), [], id="a whole day off"),
        pytest.param(
            DateOverride(date(2025, 1, 13), (window("09:00", "11:00"),)),
            [span(utc(2025, 1, 13, 9), utc(2025, 1, 13, 11))],
            id="time off in the afternoon",
        ),
        pytest.param(
            DateOverride(date(2025, 1, 13), (window("07:00", "10:00"), window("18:00", "21:00"))),
            [
                span(utc(2025, 1, 13, 7), utc(2025, 1, 13, 10)),
                span(utc(2025, 1, 13, 18), utc(2025, 1, 13, 21)),
            ],
            id="other hours replace the weekly ones entirely",
        ),
    ],
)
def test_an_override_replaces_the_whole_local_day(
    override: DateOverride, expected: list[Interval]
) -> None:
    schedule = Schedule("UTC", (weekly(MON, "09:00", "17:00"),), (override,))
    assert one_day(schedule, date(2025, 1, 13)) == expected
    # The Monday after keeps its weekly hours.
    assert one_day(schedule, date(2025, 1, 20)) == [span(utc(2025, 1, 20, 9), utc(2025, 1, 20, 17))]


def test_an_override_gives_extra_hours_on_a_day_without_weekly_ones() -> None:
    schedule = Schedule(
        "Asia/Kolkata",
        (weekly(MON, "09:00", "17:00"),),
        (DateOverride(date(2025, 1, 18), (window("10:00", "13:00"),)),),  # a Saturday
    )
    assert one_day(schedule, date(2025, 1, 18)) == [
        span(utc(2025, 1, 18, 4, 30), utc(2025, 1, 18, 7, 30))
    ]
    assert one_day(schedule, date(2025, 1, 25)) == []


def test_a_holiday_is_an_override_without_windows() -> None:
    christmas = date(2025, 12, 25)  # a Thursday
    schedule = Schedule(
        "Europe/Lisbon",
        tuple(weekly(day, "09:00", "17:00") for day in (MON, TUE, WED, THU, FRI)),
        (DateOverride(christmas, ()),),
    )
    week = schedule.open_intervals(utc(2025, 12, 22), utc(2025, 12, 27))
    assert [interval.start.date() for interval in week] == [
        date(2025, 12, 22),
        date(2025, 12, 23),
        date(2025, 12, 24),
        date(2025, 12, 26),
    ]


def test_an_override_is_the_practitioners_local_date_not_the_utc_one() -> None:
    # 01:00-03:00 on 14 January in Auckland (UTC+13) is still 13 January in UTC.
    schedule = Schedule(
        "Pacific/Auckland", (), (DateOverride(date(2025, 1, 14), (window("01:00", "03:00"),)),)
    )
    assert schedule.open_intervals(utc(2025, 1, 12), utc(2025, 1, 16)) == [
        span(utc(2025, 1, 13, 12), utc(2025, 1, 13, 14))
    ]


def test_an_end_of_midnight_is_the_end_of_the_day() -> None:
    schedule = Schedule("UTC", (weekly(FRI, "20:00", "24:00"), weekly(SAT, "00:00", "24:00")))
    assert LocalWindow(time(0), time(0)).end_minute == 24 * 60
    assert schedule.open_intervals(utc(2025, 1, 17), utc(2025, 1, 20)) == [
        span(utc(2025, 1, 17, 20), utc(2025, 1, 19))
    ]


# --- DST: each local day expanded with its own offsets ------------------------------------

NEW_YORK, LISBON, LORD_HOWE = "America/New_York", "Europe/Lisbon", "Australia/Lord_Howe"
NY_SPRING, NY_AUTUMN = date(2025, 3, 9), date(2025, 11, 2)  # 02:00 -> 03:00, 02:00 -> 01:00
LISBON_SPRING, LISBON_AUTUMN = date(2025, 3, 30), date(2025, 10, 26)  # 01->02, 02->01
LH_SPRING, LH_AUTUMN = date(2025, 10, 5), date(2025, 4, 6)  # 02:00 -> 02:30, 02:00 -> 01:30


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "expected", "lasts"),
    [
        # A DST day still starts at its own local midnight and lasts what it really lasts.
        (NEW_YORK, NY_SPRING, "00:00", "24:00", (utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)), 23),
        (NEW_YORK, NY_AUTUMN, "00:00", "24:00", (utc(2025, 11, 2, 4), utc(2025, 11, 3, 5)), 25),
        # Spanning the skipped hour: 01:00 EST to 04:00 EDT.
        (NEW_YORK, NY_SPRING, "01:00", "04:00", (utc(2025, 3, 9, 6), utc(2025, 3, 9, 8)), 2),
        # Starting in the skipped hour: moved forward to 03:00 EDT, the jump.
        (NEW_YORK, NY_SPRING, "02:30", "04:00", (utc(2025, 3, 9, 7), utc(2025, 3, 9, 8)), 1),
        # Ending in the skipped hour: it ends at the jump.
        (NEW_YORK, NY_SPRING, "01:30", "02:30", (utc(2025, 3, 9, 6, 30), utc(2025, 3, 9, 7)), 0.5),
        # Spanning the repeated hour: 00:00 EDT to 03:00 EST.
        (NEW_YORK, NY_AUTUMN, "00:00", "03:00", (utc(2025, 11, 2, 4), utc(2025, 11, 2, 8)), 4),
        # Starting in the repeated hour: its first occurrence, 01:30 EDT.
        (
            NEW_YORK,
            NY_AUTUMN,
            "01:30",
            "03:00",
            (utc(2025, 11, 2, 5, 30), utc(2025, 11, 2, 8)),
            2.5,
        ),
        # Within the repeated hour: the first pass only.
        (
            NEW_YORK,
            NY_AUTUMN,
            "01:00",
            "01:30",
            (utc(2025, 11, 2, 5), utc(2025, 11, 2, 5, 30)),
            0.5,
        ),
        # From the first pass to after the repeat: 01:05 EDT to 02:00 EST, 1 h 55 min, so it
        # holds all of the second pass, 01:00-01:05 EST included.
        (
            NEW_YORK,
            NY_AUTUMN,
            "01:05",
            "02:00",
            (utc(2025, 11, 2, 5, 5), utc(2025, 11, 2, 7)),
            23 / 12,
        ),
        (LISBON, LISBON_SPRING, "00:00", "24:00", (utc(2025, 3, 30), utc(2025, 3, 30, 23)), 23),
        (
            LISBON,
            LISBON_SPRING,
            "00:30",
            "03:00",
            (utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 2)),
            1.5,
        ),
        (
            LISBON,
            LISBON_SPRING,
            "01:30",
            "02:30",
            (utc(2025, 3, 30, 1), utc(2025, 3, 30, 1, 30)),
            0.5,
        ),
        (LISBON, LISBON_AUTUMN, "00:00", "24:00", (utc(2025, 10, 25, 23), utc(2025, 10, 27)), 25),
        (
            LISBON,
            LISBON_AUTUMN,
            "00:30",
            "03:00",
            (utc(2025, 10, 25, 23, 30), utc(2025, 10, 26, 3)),
            3.5,
        ),
        (
            LISBON,
            LISBON_AUTUMN,
            "01:15",
            "02:00",
            (utc(2025, 10, 26, 0, 15), utc(2025, 10, 26, 2)),
            1.75,
        ),
        # Lord Howe moves its clocks by half an hour: +10:30 in winter, +11 in summer.
        (
            LORD_HOWE,
            LH_SPRING,
            "00:00",
            "24:00",
            (utc(2025, 10, 4, 13, 30), utc(2025, 10, 5, 13)),
            23.5,
        ),
        (
            LORD_HOWE,
            LH_SPRING,
            "01:00",
            "04:00",
            (utc(2025, 10, 4, 14, 30), utc(2025, 10, 4, 17)),
            2.5,
        ),
        (
            LORD_HOWE,
            LH_SPRING,
            "02:10",
            "03:00",
            (utc(2025, 10, 4, 15, 30), utc(2025, 10, 4, 16)),
            0.5,
        ),
        (
            LORD_HOWE,
            LH_AUTUMN,
            "00:00",
            "24:00",
            (utc(2025, 4, 5, 13), utc(2025, 4, 6, 13, 30)),
            24.5,
        ),
        (
            LORD_HOWE,
            LH_AUTUMN,
            "01:00",
            "03:00",
            (utc(2025, 4, 5, 14), utc(2025, 4, 5, 16, 30)),
            2.5,
        ),
        (
            LORD_HOWE,
            LH_AUTUMN,
            "01:45",
            "03:00",
            (utc(2025, 4, 5, 14, 45), utc(2025, 4, 5, 16, 30)),
            1.75,
        ),
    ],
)
def test_a_window_on_a_dst_day_lasts_its_real_elapsed_time(
    zone: str,
    day: date,
    start: str,
    end: str,
    expected: tuple[datetime, datetime],
    lasts: float,
) -> None:
    schedule = Schedule(zone, (), (DateOverride(day, (window(start, end),)),))
    assert one_day(schedule, day) == [span(*expected)]
    assert expected[1] - expected[0] == timedelta(hours=lasts)


@pytest.mark.parametrize("zone", [NEW_YORK, LISBON, LORD_HOWE])
def test_a_window_wholly_inside_the_skipped_time_is_empty(zone: str) -> None:
    day, start, end = {
        NEW_YORK: (NY_SPRING, "02:00", "02:45"),
        LISBON: (LISBON_SPRING, "01:15", "01:45"),
        LORD_HOWE: (LH_SPRING, "02:00", "02:30"),
    }[zone]
    schedule = Schedule(zone, (), (DateOverride(day, (window(start, end),)),))
    assert one_day(schedule, day) == []


def test_a_weekly_rule_keeps_its_local_hour_across_the_change() -> None:
    schedule = Schedule(NEW_YORK, (weekly(MON, "09:00", "17:00"), weekly(SUN, "09:00", "17:00")))
    assert schedule.open_intervals(utc(2025, 3, 2), utc(2025, 3, 11)) == [
        span(utc(2025, 3, 2, 14), utc(2025, 3, 2, 22)),  # EST
        span(utc(2025, 3, 3, 14), utc(2025, 3, 3, 22)),
        span(utc(2025, 3, 9, 13), utc(2025, 3, 9, 21)),  # EDT, on the change day itself
        span(utc(2025, 3, 10, 13), utc(2025, 3, 10, 21)),
    ]


def test_a_day_whose_midnight_is_skipped_starts_at_the_jump() -> None:
    # Chile sets its clocks from 24:00 to 01:00: 8 September 2024 has no 00:00.
    schedule = Schedule("America/Santiago", (weekly(SUN, "00:00", "24:00"),))
    assert one_day(schedule, date(2024, 9, 8)) == [span(utc(2024, 9, 8, 4), utc(2024, 9, 9, 3))]


def test_local_instant_maps_skipped_times_forward_and_repeated_ones_to_the_first() -> None:
    zone = ZoneInfo(NEW_YORK)
    assert local_instant(NY_SPRING, time(1, 59), zone) == utc(2025, 3, 9, 6, 59)
    assert local_instant(NY_SPRING, time(2, 0), zone) == utc(2025, 3, 9, 7)
    assert local_instant(NY_SPRING, time(2, 59), zone) == utc(2025, 3, 9, 7)
    assert local_instant(NY_SPRING, time(3, 0), zone) == utc(2025, 3, 9, 7)
    assert local_instant(NY_AUTUMN, time(1, 0), zone) == utc(2025, 11, 2, 5)
    assert local_instant(NY_AUTUMN, time(1, 59), zone) == utc(2025, 11, 2, 5, 59)
    assert local_instant(NY_AUTUMN, time(2, 0), zone) == utc(2025, 11, 2, 7)


# --- merging and subtracting ------------------------------------------------------------


def at(hour: int, minute: int = 0) -> datetime:
    return utc(2025, 1, 13, hour, minute)


def spans(*pairs: tuple[int, int]) -> list[Interval]:
    """Intervals on one day from (start hour, end hour) pairs."""
    return [span(at(start), at(end)) for start, end in pairs]


@pytest.mark.parametrize(
    ("intervals", "busy", "expected"),
    [
        pytest.param(spans((9, 17)), [], spans((9, 17)), id="nothing busy"),
        pytest.param(spans((9, 17)), spans((11, 12)), spans((9, 11), (12, 17)), id="a hole"),
        pytest.param(spans((9, 17)), spans((8, 10)), spans((10, 17)), id="over the start"),
        pytest.param(spans((9, 17)), spans((16, 18)), spans((9, 16)), id="over the end"),
        pytest.param(spans((9, 17)), spans((8, 18)), [], id="all of it"),
        pytest.param(spans((9, 17)), spans((7, 9), (17, 19)), spans((9, 17)), id="touching"),
        pytest.param(
            spans((9, 12), (13, 17)),
            spans((15, 16), (10, 11), (10, 11), (11, 14)),
            spans((9, 10), (14, 15), (16, 17)),
            id="unsorted, repeated and overlapping busy across two intervals",
        ),
        pytest.param(
            spans((9, 12), (12, 17)), spans((14, 15)), spans((9, 14), (15, 17)), id="merged first"
        ),
        pytest.param([], spans((9, 10)), [], id="no working time"),
    ],
)
def test_subtract_leaves_what_no_busy_interval_covers(
    intervals: list[Interval], busy: list[Interval], expected: list[Interval]
) -> None:
    assert subtract(intervals, busy) == expected


def test_merge_joins_touching_and_overlapping_and_drops_empty() -> None:
    assert merge([span(at(12), at(13)), span(at(9), at(10)), span(at(10), at(11))]) == spans(
        (9, 11), (12, 13)
    )
    assert merge([span(at(9), at(17)), span(at(10), at(11)), span(at(5), at(5))]) == spans((9, 17))


def test_free_intervals_are_working_time_less_bookings_and_holds() -> None:
    schedule = Schedule("UTC", (weekly(MON, "09:00", "12:00"), weekly(MON, "13:00", "17:00")))
    booking = span(at(9, 45), at(11))  # with its buffers
    hold = span(at(16), at(16, 30))
    elsewhere = span(at(12), at(13))  # the lunch break: nothing to take
    assert free_intervals(schedule, [hold, booking, elsewhere], at(0), at(23)) == [
        span(at(9), at(9, 45)),
        span(at(11), at(12)),
        span(at(13), at(16)),
        span(at(16, 30), at(17)),
    ]


def test_an_interval_is_utc_aware_and_not_reversed() -> None:
    kolkata = datetime(2025, 1, 13, 9, tzinfo=ZoneInfo("Asia/Kolkata"))
    interval = Interval(kolkata, kolkata + timedelta(hours=1))
    assert interval.start == utc(2025, 1, 13, 3, 30) and interval.start.tzinfo is UTC
    with pytest.raises(ValueError, match="aware"):
        Interval(datetime(2025, 1, 13, 9), datetime(2025, 1, 13, 10))
    with pytest.raises(ValueError, match="before it starts"):
        Interval(at(10), at(9))


# --- checking a schedule ----------------------------------------------------------------


def violations(error: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {v.field: v.code for v in error.value.violations}


def test_a_sound_schedule_is_accepted_as_given() -> None:
    weeks = (
        weekly(MON, "09:00", "12:00"),
        weekly(MON, "12:00", "17:00"),  # touching is fine
        weekly(TUE, "00:00", "24:00"),
    )
    overrides = (
        DateOverride(date(2025, 12, 25)),
        DateOverride(date(2025, 12, 27), (window("10:00", "12:00"),)),
    )
    schedule = check_schedule("Europe/Lisbon", weeks, overrides)
    assert schedule == Schedule("Europe/Lisbon", weeks, overrides)


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        check_schedule(
            "Mars/Olympus",
            [
                weekly(MON, "09:00", "12:00"),
                WeeklyWindow(7, window("09:00", "10:00")),
                weekly(TUE, "17:00", "09:00"),
                weekly(MON, "11:00", "13:00"),
                WeeklyWindow(WED, LocalWindow(time(9, 0, 30), time(10))),
                WeeklyWindow(THU, LocalWindow(time(9), time(10, tzinfo=UTC))),
                weekly(FRI, "10:00", "10:00"),
            ],
            [
                DateOverride(date(2025, 12, 25)),
                DateOverride(date(2025, 12, 25), (window("09:00", "10:00"),)),
                DateOverride(
                    date(2025, 12, 26), (window("09:00", "17:00"), window("16:00", "18:00"))
                ),
            ],
        )
    assert violations(error) == {
        "time_zone": "invalid_timezone",
        "weekly[1].weekday": "out_of_range",
        "weekly[2].end": "invalid",
        "weekly[3].start": "overlap",
        "weekly[4].start": "invalid",
        "weekly[5].end": "invalid",
        "weekly[6].end": "invalid",
        "overrides[1].day": "duplicate",
        "overrides[2].windows[1].start": "overlap",
    }
    assert "weekly[3].start: overlaps weekly[0]" in error.value.message


def test_a_window_overlapping_an_earlier_long_one_is_named_even_past_a_short_one() -> None:
    with pytest.raises(InvalidArgument) as error:
        check_schedule(
            "UTC",
            [
                weekly(MON, "09:00", "17:00"),
                weekly(MON, "10:00", "11:00"),
                weekly(MON, "12:00", "13:00"),
            ],
        )
    assert violations(error) == {"weekly[1].start": "overlap", "weekly[2].start": "overlap"}


def test_a_zone_is_required() -> None:
    with pytest.raises(InvalidArgument) as error:
        check_schedule("", [])
    assert violations(error) == {"time_zone": "required"}


def test_the_bounds_on_windows_and_overrides() -> None:
    crowded = [
        WeeklyWindow(MON, LocalWindow(time(hour), time(hour, 30)))
        for hour in range(MAX_WINDOWS_PER_DAY + 1)
    ]
    many = [
        DateOverride(date(2025, 1, 1) + timedelta(days=days)) for days in range(MAX_OVERRIDES + 1)
    ]
    with pytest.raises(InvalidArgument) as error:
        check_schedule("UTC", crowded, many)
    assert violations(error) == {
        f"weekly[{MAX_WINDOWS_PER_DAY}]": "too_many",
        "overrides": "too_many",
    }
    check_schedule("UTC", crowded[:-1], many[:-1])


# --- properties -------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    NEW_YORK,
    LISBON,
    LORD_HOWE,
    "America/Santiago",
]
CHANGE_DAYS = [NY_SPRING, NY_AUTUMN, LISBON_SPRING, LISBON_AUTUMN, LH_SPRING, LH_AUTUMN]
FIVE_MINUTES = timedelta(minutes=5)


def minute_time(minutes: int) -> time:
    """A wall time from minutes after midnight; 1440 reads as the end of the day."""
    return time(0) if minutes == 24 * 60 else time(minutes // 60, minutes % 60)


@st.composite
def day_windows(draw: st.DrawFn) -> tuple[LocalWindow, ...]:
    """Up to three windows of one day on five-minute marks, apart or touching."""
    marks = sorted(draw(st.lists(st.integers(0, 288), min_size=2, max_size=6)))
    pairs = zip(marks[::2], marks[1::2], strict=False)
    return tuple(
        LocalWindow(minute_time(start * 5), minute_time(end * 5))
        for start, end in pairs
        if start < end
    )


@st.composite
def schedules(draw: st.DrawFn, zones: list[str], around: date) -> Schedule:
    """A sound schedule in one of the zones, with overrides on days near ``around``."""
    zone = draw(st.sampled_from(zones))
    weeks = tuple(
        WeeklyWindow(weekday, window) for weekday in range(7) for window in draw(day_windows())
    )
    days = draw(st.lists(st.integers(-1, 2), unique=True, max_size=3))
    overrides = tuple(
        DateOverride(around + timedelta(days=days), draw(day_windows())) for days in days
    )
    return check_schedule(zone, weeks, overrides)


@st.composite
def busy_times(draw: st.DrawFn, origin: datetime) -> list[Interval]:
    """Up to five busy intervals, to the minute, in the three days from origin."""
    busy = []
    for _ in range(draw(st.integers(0, 5))):
        start = origin + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
        busy.append(Interval(start, start + timedelta(minutes=draw(st.integers(1, 300)))))
    return busy


def is_second_pass(instant: datetime, zone: ZoneInfo) -> bool:
    """Whether the wall clock shows this time for the second time that day (fall back)."""
    wall = instant.astimezone(zone)
    return wall.fold == 1 and wall.utcoffset() != wall.replace(fold=0).utcoffset()


def in_windows(instant: datetime, schedule: Schedule) -> bool:
    """Whether the wall clock at an instant reads inside one of its local day's windows."""
    wall = instant.astimezone(schedule.zone)
    minute = wall.hour * 60 + wall.minute + wall.second / 60
    return any(w.start_minute <= minute < w.end_minute for w in schedule.windows_on(wall.date()))


def inside(instant: datetime, intervals: list[Interval]) -> bool:
    return any(i.start <= instant < i.end for i in intervals)


@settings(max_examples=120, deadline=None)
@given(data=st.data(), around=st.sampled_from(CHANGE_DAYS))
def test_working_time_is_what_the_wall_clock_reads(data: st.DataObject, around: date) -> None:
    schedule = data.draw(schedules(ZONES, around))
    origin = datetime.combine(around, time(0), tzinfo=UTC) - timedelta(days=1)
    start = origin + FIVE_MINUTES * data.draw(st.integers(0, 288))
    end = start + FIVE_MINUTES * data.draw(st.integers(0, 2 * 288))
    working = schedule.open_intervals(start, end)

    assert all(start <= i.start < i.end <= end for i in working)
    # Sorted, and merged: a gap between any two.
    assert all(a.end < b.start for a, b in itertools.pairwise(working))
    instant = start
    while instant < end:
        # Working time is where the wall clock reads a window of that day. Not so on the second
        # pass of a repeated hour: a window is then its real elapsed time from the first pass
        # (01:05-02:00 holds the whole second 01:00-02:00), which the table above pins.
        if not is_second_pass(instant, schedule.zone):
            assert inside(instant, working) == in_windows(instant, schedule), instant
        instant += FIVE_MINUTES


@settings(max_examples=120, deadline=None)
@given(data=st.data(), around=st.sampled_from(CHANGE_DAYS))
def test_free_time_is_working_time_that_nothing_takes(data: st.DataObject, around: date) -> None:
    schedule = data.draw(schedules(ZONES, around))
    origin = datetime.combine(around, time(0), tzinfo=UTC) - timedelta(days=1)
    busy = data.draw(busy_times(origin))
    start, end = origin, origin + timedelta(days=3)
    working = schedule.open_intervals(start, end)
    free = free_intervals(schedule, busy, start, end)

    assert all(a.end < b.start for a, b in itertools.pairwise(free))
    assert all(any(w.contains(f) for w in working) for f in free)
    assert not any(f.overlaps(b) for f in free for b in busy)
    # Nothing lost: at every edge and between edges, free = working and not busy.
    edges = sorted({i.start for i in working + busy} | {i.end for i in working + busy})
    probes = edges + [a + (b - a) / 2 for a, b in itertools.pairwise(edges)]
    for probe in probes:
        assert inside(probe, free) == (inside(probe, working) and not inside(probe, busy))
