"""A practitioner's working time: weekly windows in their IANA zone, date overrides, and the
UTC intervals they open once busy time is taken away.

Rules, as decided:

* A schedule is stored as local wall time plus the zone name, never as UTC time of day, so a
  9:00 rule stays 9:00 on both sides of a DST change.
* Working time is expanded one local day at a time: for each local date the day's windows
  (the override's if that date has one, else the weekly windows of its weekday) are turned
  into instants with zoneinfo, the offset looked up for each instant, so a DST day still
  starts at its own local midnight and lasts 23 or 25 hours (23.5 or 24.5 on Lord Howe).
* An override replaces the whole local day; an override without windows is a day off.
* A window's end of ``time(0)`` means midnight at the end of its day (24:00); windows never
  cross midnight: 22:00-02:00 is written as 22:00-24:00 on one day and 00:00-02:00 on the
  next, and the two merge into one stretch of working time.
* A local time that does not exist (the skipped hour of a spring-forward day) maps forward
  to the first real instant after the gap; a local time that occurs twice (the repeated hour
  of a fall-back day) takes its first occurrence (fold=0). So a window that spans the
  skipped or repeated hour lasts its real elapsed time (01:00-04:00 on New York's
  spring-forward day is two hours, on its fall-back day four), a window wholly inside the
  skipped hour is empty, and a window from the first pass of the repeated hour to after it
  holds the whole second pass (01:05-02:00 is 01:05 EDT to 02:00 EST, 1 h 55 min).
* Everything that comes out is UTC, half-open [start, end), sorted, and merged where
  intervals touch or overlap.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from chassis.validation import Violations, check_timezone

# A day holds a handful of windows (morning, afternoon, an evening clinic); more is a mistake.
MAX_WINDOWS_PER_DAY = 12
# One override for every day of the longest booking window (730 days) plus today.
MAX_OVERRIDES = 731

_MINUTES_PER_DAY = 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def as_utc(instant: datetime, field_name: str = "instant") -> datetime:
    """The same instant in UTC; refuses a naive datetime, whose instant is unknown."""
    # Nearly every instant (from the database, from the engine's own arithmetic) is in UTC
    # already; astimezone would hand back the very same object.
    if instant.tzinfo is UTC:
        return instant
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{field_name} must be an aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


# A stretch of real time as [start, end) in whole microseconds since the epoch: what the slot
# engine sweeps over, and how busy time is read for it.
Span = tuple[int, int]


def to_micros(instant: datetime) -> int:
    """An aware instant as whole microseconds since the epoch (exact: no float on the way)."""
    return (instant - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The UTC instant ``micros`` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True)
class Interval:
    """A stretch of real time, half-open [start, end), held in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Arithmetic on two datetimes of the same zoneinfo zone is wall-clock arithmetic
        # (it ignores fold and DST), so every instant is brought to UTC on the way in.
        start, end = self.start, self.end
        if start.tzinfo is not UTC or end.tzinfo is not UTC:
            start = as_utc(start, "start")
            end = as_utc(end, "end")
            object.__setattr__(self, "start", start)
            object.__setattr__(self, "end", end)
        if end < start:
            raise ValueError(f"an interval cannot end ({end}) before it starts ({start})")

    @property
    def duration(self) -> timedelta:
        """How long the interval lasts in real time."""
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        """Whether the two share any instant (touching ends do not)."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        """Whether other lies wholly within this interval."""
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class LocalWindow:
    """A stretch of local wall time within one day, [start, end) in whole minutes.

    ``end == time(0)`` means midnight at the end of the day (24:00), so
    ``LocalWindow(time(0), time(0))`` is the whole day; any other end must be after start.
    """

    start: time
    end: time

    @property
    def start_minute(self) -> int:
        """Minutes from local midnight to the start (0..1439)."""
        return self.start.hour * 60 + self.start.minute

    @property
    def end_minute(self) -> int:
        """Minutes from local midnight to the end (1..1440; 1440 is 24:00)."""
        minute = self.end.hour * 60 + self.end.minute
        return minute or _MINUTES_PER_DAY


@dataclass(frozen=True)
class WeeklyWindow:
    """A window that repeats every week on one weekday (0 = Monday ... 6 = Sunday)."""

    weekday: int
    window: LocalWindow


@dataclass(frozen=True)
class DateOverride:
    """One local date's own windows, replacing that day's weekly windows; none = a day off."""

    day: date
    windows: tuple[LocalWindow, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """A practitioner's working time: weekly windows and date overrides in one IANA zone."""

    time_zone: str
    weekly: tuple[WeeklyWindow, ...]
    overrides: tuple[DateOverride, ...] = ()

    @cached_property
    def zone(self) -> ZoneInfo:
        """The practitioner's zone, whose offsets every local day is expanded with."""
        return ZoneInfo(self.time_zone)

    @cached_property
    def _weekly_by_weekday(self) -> dict[int, tuple[LocalWindow, ...]]:
        days: dict[int, list[LocalWindow]] = {}
        for weekly in self.weekly:
            days.setdefault(weekly.weekday, []).append(weekly.window)
        return {weekday: tuple(windows) for weekday, windows in days.items()}

    @cached_property
    def _override_by_day(self) -> dict[date, tuple[LocalWindow, ...]]:
        return {override.day: override.windows for override in self.overrides}

    def windows_on(self, day: date) -> tuple[LocalWindow, ...]:
        """The windows of one local date: its override's if it has one, else its weekday's."""
        override = self._override_by_day.get(day)
        if override is not None:
            return override
        return self._weekly_by_weekday.get(day.weekday(), ())

    def local_date(self, instant: datetime) -> date:
        """The practitioner's calendar date at an instant."""
        return as_utc(instant).astimezone(self.zone).date()

    def day_stretches(self, day: date) -> list[Interval]:
        """One local day's working time as UTC intervals, windows that touch merged, unclipped.

        The slot grid of a day starts at each of these stretches' starts.
        """
        intervals = []
        for window in self.windows_on(day):
            start = local_instant(day, window.start, self.zone)
            if window.end_minute == _MINUTES_PER_DAY:
                end = local_instant(day + timedelta(days=1), time(0), self.zone)
            else:
                end = local_instant(day, window.end, self.zone)
            if start < end:
                intervals.append(Interval(start, end))
        return merge(intervals)

    def stretches(self, first_day: date, last_day: date) -> list[Interval]:
        """Every day's stretches from first_day to last_day inclusive, in order (not merged
        across midnight)."""
        result: list[Interval] = []
        day = first_day
        while day <= last_day:
            result.extend(self.day_stretches(day))
            day += timedelta(days=1)
        return result

    def open_intervals(self, start: datetime, end: datetime) -> list[Interval]:
        """UTC intervals of working time within [start, end), merged and sorted."""
        start, end = as_utc(start, "start"), as_utc(end, "end")
        if start >= end:
            return []
        working = merge(self.stretches(self.local_date(start), self.local_date(end)))
        return clip(working, start, end)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time on a local date.

    A wall time the zone skips (spring forward) maps to the first real instant after the gap,
    the moment the clocks jump; one it repeats (fall back) takes the first occurrence.
    """
    wall = datetime.combine(day, at)
    # fold=0 is the first occurrence of a repeated time; for a skipped time it reads the
    # wall clock with the offset from before the jump, which lands past the gap.
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    return _jump_within(wall.replace(tzinfo=zone, fold=1).astimezone(UTC), first, zone)


def _jump_within(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant in (before, after] at which the zone's offset changes (a whole second)."""
    offset_before = before.astimezone(zone).utcoffset()
    low = (before - _EPOCH) // timedelta(seconds=1)  # offset there is still the old one
    high = -((_EPOCH - after) // timedelta(seconds=1))  # and there already the new one
    while high - low > 1:
        middle = (low + high) // 2
        instant = _EPOCH + timedelta(seconds=middle)
        if instant.astimezone(zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return _EPOCH + timedelta(seconds=high)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of intervals, sorted, with touching or overlapping ones joined; empty ones
    dropped."""
    result: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: (i.start, i.end)):
        if interval.start == interval.end:
            continue
        if result and interval.start <= result[-1].end:
            if interval.end > result[-1].end:
                result[-1] = Interval(result[-1].start, interval.end)
            continue
        result.append(interval)
    return result


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The parts of intervals within [start, end), empty ones dropped."""
    result = []
    for interval in intervals:
        low, high = max(interval.start, start), min(interval.end, end)
        if low < high:
            result.append(Interval(low, high))
    return result


def subtract(intervals: Sequence[Interval], busy: Sequence[Interval]) -> list[Interval]:
    """The parts of intervals that no busy interval covers, merged and sorted."""
    taken = merge(busy)
    result: list[Interval] = []
    position = 0
    for interval in merge(intervals):
        start = interval.start
        # Busy intervals that end by this interval's start cannot touch it or any later one.
        while position < len(taken) and taken[position].end <= start:
            position += 1
        index = position
        while index < len(taken) and taken[index].start < interval.end:
            if taken[index].start > start:
                result.append(Interval(start, taken[index].start))
            start = max(start, taken[index].end)
            index += 1
        if start < interval.end:
            result.append(Interval(start, interval.end))
    return result


def free_intervals(
    schedule: Schedule, busy: Sequence[Interval], start: datetime, end: datetime
) -> list[Interval]:
    """Working time within [start, end) that no booking or hold takes: what availability
    shows."""
    return subtract(schedule.open_intervals(start, end), busy)


class BusyTime:
    """Busy intervals merged once, for asking many times whether a range is free."""

    def __init__(self, busy: Iterable[Interval]) -> None:
        self.intervals = merge(busy)
        self._ends = [interval.end for interval in self.intervals]

    def is_free(self, wanted: Interval) -> bool:
        """Whether no busy interval overlaps wanted (touching is fine)."""
        index = bisect.bisect_right(self._ends, wanted.start)
        return index == len(self.intervals) or self.intervals[index].start >= wanted.end


class WorkingTime:
    """Merged working intervals, for asking many times whether a range lies within one."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = merge(intervals)
        self._starts = [interval.start for interval in self.intervals]

    def covers(self, wanted: Interval) -> bool:
        """Whether wanted lies wholly within one working interval."""
        index = bisect.bisect_right(self._starts, wanted.start) - 1
        return index >= 0 and self.intervals[index].contains(wanted)


def check_schedule(
    time_zone: str,
    weekly: Sequence[WeeklyWindow],
    overrides: Sequence[DateOverride] = (),
) -> Schedule:
    """A schedule if every part of it is sound; else InvalidArgument naming each bad field
    (time_zone, weekly[i].weekday/.start/.end, overrides[i].day, overrides[i].windows[j].end,
    ...)."""
    v = Violations()
    v.check(lambda: check_timezone(time_zone, "time_zone", required=True), "")

    by_weekday: dict[int, list[tuple[str, LocalWindow | None]]] = {}
    for index, weekly_window in enumerate(weekly):
        field_name = f"weekly[{index}]"
        if not isinstance(weekly_window.weekday, int) or not 0 <= weekly_window.weekday <= 6:
            v.add(f"{field_name}.weekday", "must be 0 (Monday) to 6 (Sunday)", "out_of_range")
            continue
        sound = _check_window(v, field_name, weekly_window.window)
        by_weekday.setdefault(weekly_window.weekday, []).append(
            (field_name, weekly_window.window if sound else None)
        )
    for windows in by_weekday.values():
        _check_day(v, windows)

    if len(overrides) > MAX_OVERRIDES:
        v.add("overrides", f"must hold at most {MAX_OVERRIDES} dates", "too_many")
    seen: dict[date, int] = {}
    for index, override in enumerate(overrides):
        field_name = f"overrides[{index}]"
        if not isinstance(override.day, date) or isinstance(override.day, datetime):
            v.add(f"{field_name}.day", "must be a date", "invalid")
        elif override.day in seen:
            v.add(f"{field_name}.day", f"repeats overrides[{seen[override.day]}].day", "duplicate")
        else:
            seen[override.day] = index
        day: list[tuple[str, LocalWindow | None]] = []
        for position, window in enumerate(override.windows):
            window_field = f"{field_name}.windows[{position}]"
            day.append((window_field, window if _check_window(v, window_field, window) else None))
        _check_day(v, day)
    v.raise_if_any()
    return Schedule(time_zone, tuple(weekly), tuple(overrides))


def _check_window(v: Violations, field_name: str, window: LocalWindow) -> bool:
    """Adds what is wrong with one window; whether it is sound enough to compare with others."""
    sound = True
    for part in ("start", "end"):
        value = getattr(window, part)
        if not isinstance(value, time) or value.tzinfo is not None:
            v.add(f"{field_name}.{part}", "must be a local wall time without a zone", "invalid")
            sound = False
        elif value.second or value.microsecond:
            v.add(f"{field_name}.{part}", "must be a whole minute", "invalid")
            sound = False
    if sound and window.end_minute <= window.start_minute:
        v.add(f"{field_name}.end", "must be after start (00:00 as an end means 24:00)", "invalid")
        sound = False
    return sound


def _check_day(v: Violations, windows: list[tuple[str, LocalWindow | None]]) -> None:
    """One day's windows (None for one already found unsound): at most MAX_WINDOWS_PER_DAY,
    none overlapping another."""
    if len(windows) > MAX_WINDOWS_PER_DAY:
        v.add(
            windows[MAX_WINDOWS_PER_DAY][0],
            f"a day holds at most {MAX_WINDOWS_PER_DAY} windows",
            "too_many",
        )
    sound = [(name, window) for name, window in windows if window is not None]
    sound.sort(key=lambda item: (item[1].start_minute, item[1].end_minute))
    reach: tuple[str, LocalWindow] | None = None  # the window reaching latest so far
    for name, window in sound:
        if reach is not None and window.start_minute < reach[1].end_minute:
            v.add(f"{name}.start", f"overlaps {reach[0]}", "overlap")
        if reach is None or window.end_minute > reach[1].end_minute:
            reach = (name, window)
