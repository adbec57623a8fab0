"""What a practitioner is told when a schedule is refused: each violation's field, message
and code word for word, in the order the message lists them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import pytest

from chassis.errors import InvalidArgument
from services.booking.domain.availability import (
    DateOverride,
    LocalWindow,
    WeeklyWindow,
    check_schedule,
)

MON, TUE, WED, THU, FRI = range(5)
AFTER_START = "must be after start (00:00 as an end means 24:00)"
NO_ZONE = "must be a local wall time without a zone"


def hours(start: int, end: int, minute: int = 0) -> LocalWindow:
    return LocalWindow(time(start, minute), time(end, minute))


def refused(
    time_zone: str, weekly: Sequence[WeeklyWindow], overrides: Sequence[DateOverride] = ()
) -> list[tuple[str, str, str]]:
    with pytest.raises(InvalidArgument) as error:
        check_schedule(time_zone, weekly, overrides)
    found = error.value.violations
    assert error.value.reason == "INVALID_ARGUMENT"
    assert str(error.value) == "; ".join(f"{v.field}: {v.message}" for v in found[:10])
    return [(v.field, v.message, v.code) for v in found]


def test_each_bad_weekly_window_is_named_with_what_is_wrong():
    assert refused(
        "Mars/Olympus",
        [
            WeeklyWindow(MON, hours(9, 12)),
            WeeklyWindow(7, hours(9, 10)),
            WeeklyWindow(TUE, hours(17, 9)),
            WeeklyWindow(MON, hours(11, 13)),
            WeeklyWindow(WED, LocalWindow(time(9, 0, 30), time(10))),
            WeeklyWindow(THU, LocalWindow(time(9), time(10, tzinfo=UTC))),
            WeeklyWindow(FRI, hours(10, 10)),
            WeeklyWindow(FRI, LocalWindow(time(11, 0, 0, 5), time(12))),
            WeeklyWindow(-1, hours(9, 10)),
        ],
    ) == [
        ("time_zone", "must be an IANA time zone name such as Europe/Lisbon", "invalid_timezone"),
        ("weekly[1].weekday", "must be 0 (Monday) to 6 (Sunday)", "out_of_range"),
        ("weekly[2].end", AFTER_START, "invalid"),
        ("weekly[4].start", "must be a whole minute", "invalid"),
        ("weekly[5].end", NO_ZONE, "invalid"),
        ("weekly[6].end", AFTER_START, "invalid"),
        ("weekly[7].start", "must be a whole minute", "invalid"),
        ("weekly[8].weekday", "must be 0 (Monday) to 6 (Sunday)", "out_of_range"),
        ("weekly[3].start", "overlaps weekly[0]", "overlap"),
    ]


def test_a_window_with_a_bad_start_is_not_also_compared_with_its_end_or_neighbours():
    assert refused(
        "UTC",
        [
            WeeklyWindow(MON, LocalWindow(time(9, 0, 1), time(8))),
            WeeklyWindow(MON, LocalWindow(time(9, tzinfo=UTC), time(10))),
            WeeklyWindow(MON, hours(8, 11)),
        ],
    ) == [
        ("weekly[0].start", "must be a whole minute", "invalid"),
        ("weekly[1].start", NO_ZONE, "invalid"),
    ]


def test_each_bad_override_is_named_with_what_is_wrong():
    assert refused(
        "",
        [],
        [
            DateOverride(date(2025, 12, 25)),
            DateOverride(date(2025, 12, 25), (hours(9, 10),)),
            DateOverride(date(2025, 12, 26), (hours(9, 17), hours(16, 18))),
            DateOverride(datetime(2025, 12, 27, tzinfo=UTC)),  # type: ignore[arg-type]
            DateOverride(date(2025, 12, 28), (LocalWindow(time(9), time(9)),)),
            DateOverride(date(2025, 12, 29), (LocalWindow(time(9, 30, 1), time(10)),)),
        ],
    ) == [
        ("time_zone", "is required", "required"),
        ("overrides[1].day", "repeats overrides[0].day", "duplicate"),
        ("overrides[2].windows[1].start", "overlaps overrides[2].windows[0]", "overlap"),
        ("overrides[3].day", "must be a date", "invalid"),
        ("overrides[4].windows[0].end", AFTER_START, "invalid"),
        ("overrides[5].windows[0].start", "must be a whole minute", "invalid"),
    ]


def test_a_day_holds_twelve_windows_and_a_schedule_731_overrides():
    crowded = [WeeklyWindow(MON, LocalWindow(time(h), time(h, 30))) for h in range(13)]
    many = [DateOverride(date(2025, 1, 1) + timedelta(days=days)) for days in range(732)]
    assert refused("UTC", crowded, many) == [
        ("weekly[12]", "a day holds at most 12 windows", "too_many"),
        ("overrides", "must hold at most 731 dates", "too_many"),
    ]
    crowded_day = [DateOverride(date(2025, 1, 1), tuple(w.window for w in crowded))]
    assert refused("UTC", [], crowded_day) == [
        ("overrides[0].windows[12]", "a day holds at most 12 windows", "too_many")
    ]
    check_schedule("UTC", crowded[:12], many[:731])
