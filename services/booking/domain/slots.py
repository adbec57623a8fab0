"""The start times a client can book: one-to-one sessions cut from a practitioner's working
time, and the dated sessions of a group kind that still have seats.

A start ``s`` of a session service is bookable when all of these hold (``session_slots``
lists exactly the bookable starts in a range, ``is_bookable`` answers for one start, and
both run the same rule):

1. ``s`` lies on the step grid. Each local day's working time is cut into stretches (the
   day's windows, expanded in the practitioner's zone, with windows that touch joined); a
   stretch's grid is its first instant plus whole multiples of ``step`` of real elapsed time,
   before the stretch ends. So a 9:00 window in Asia/Kolkata offers 9:00, 9:30, ... local,
   never instants rounded in UTC; the grid restarts at every local midnight, even when
   working time runs through it; and on a day whose stretch spans a DST change the grid keeps
   real time (a 60-minute grid across Lord Howe's 30-minute jump goes 1:00, 2:30, 3:30).
2. The session [s, s + duration) lies within working time. Working time is merged across
   windows and days, so a session may run from one window into the next one that touches it,
   or past midnight into the next day's window.
3. What the booking would occupy, [s - buffer_before, s + duration + buffer_after), overlaps
   no busy interval. Busy intervals are other bookings' occupied ranges and live holds on any
   of the practitioner's services, already including their own buffers, so the buffers on
   both sides of two bookings add up. Buffers may fall outside working time.
4. ``now + min_notice <= s <= now + booking_window``.

Everything is UTC in and out; ``local_time`` gives the viewer's wall time for an instant.
No clock is read here: every function takes ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.booking.domain.availability import (
    BusyTime,
    Interval,
    Schedule,
    Span,
    WorkingTime,
    as_utc,
    from_micros,
    to_micros,
)

_ZERO = timedelta(0)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class SlotRules:
    """How a session service cuts slots: its length, grid, buffers, notice and window."""

    duration: timedelta
    step: timedelta  # the slot interval: the grid's spacing
    buffer_before: timedelta
    buffer_after: timedelta
    min_notice: timedelta
    booking_window: timedelta  # how far ahead of now a start may be

    def __post_init__(self) -> None:
        # The numbers come from the service's terms, which catalog already checked: one out
        # of range here is our own fault, not the client's.
        if self.duration <= _ZERO:
            raise ValueError("duration must be positive")
        if self.step <= _ZERO:
            raise ValueError("step must be positive")
        for name in ("buffer_before", "buffer_after", "min_notice", "booking_window"):
            if getattr(self, name) < _ZERO:
                raise ValueError(f"{name} cannot be negative")


def occupied(rules: SlotRules, at: datetime) -> Interval:
    """What a booking starting at ``at`` blocks: [at - buffer_before, at + duration +
    buffer_after)."""
    at = as_utc(at, "at")
    return Interval(at - rules.buffer_before, at + rules.duration + rules.buffer_after)


def session_interval(rules: SlotRules, at: datetime) -> Interval:
    """The session itself, without buffers: [at, at + duration)."""
    at = as_utc(at, "at")
    return Interval(at, at + rules.duration)


class _Fit:
    """Rules 2 and 3 of a start, against working time and busy time prepared once."""

    def __init__(self, rules: SlotRules, working: WorkingTime, busy: BusyTime) -> None:
        self.rules = rules
        self.working = working
        self.busy = busy

    def __call__(self, at: datetime) -> bool:
        return self.working.covers(session_interval(self.rules, at)) and self.busy.is_free(
            occupied(self.rules, at)
        )


def session_slots(
    schedule: Schedule,
    rules: SlotRules,
    busy: Sequence[Interval],
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """Every bookable start in [start, end), in UTC, ascending (the module's four rules)."""
    spans = [(to_micros(interval.start), to_micros(interval.end)) for interval in busy]
    return session_slots_among(schedule, rules, spans, now, start, end)


def session_slots_among(
    schedule: Schedule,
    rules: SlotRules,
    busy: Sequence[Span],
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """session_slots, with busy time given as microsecond spans (as the database reads it)."""
    now, start, end = as_utc(now, "now"), as_utc(start, "start"), as_utc(end, "end")
    earliest = max(start, now + rules.min_notice)
    latest = now + rules.booking_window
    if earliest >= end or earliest > latest:
        return []
    first_day = schedule.local_date(earliest)
    last_day = schedule.local_date(min(end, latest))
    stretches = schedule.stretches(first_day, last_day)
    # A session starting on the last day may run into the days after it.
    reach_day = schedule.local_date(min(end, latest) + rules.duration)
    working = _merged(
        (to_micros(stretch.start), to_micros(stretch.end))
        for stretch in stretches + schedule.stretches(last_day + timedelta(days=1), reach_day)
    )
    taken = _merged(busy)

    # One sweep in whole microseconds: the candidates only ever move forward (stretches come
    # in order and do not overlap), so the working span that may hold a candidate and the
    # first busy span that may meet its occupied range only ever move forward too.
    duration, step = _length_micros(rules.duration), _length_micros(rules.step)
    before, after = _length_micros(rules.buffer_before), _length_micros(rules.buffer_after)
    first, stop, last = to_micros(earliest), to_micros(end), to_micros(latest)
    slots: list[datetime] = []
    work = busy_at = 0
    for stretch in stretches:
        stretch_start, stretch_end = to_micros(stretch.start), to_micros(stretch.end)
        if stretch_end <= first:
            continue
        if stretch_start >= stop or stretch_start > last:
            break
        at = stretch_start
        if at < first:
            # The first grid point at or after earliest: the grid belongs to the stretch.
            at += -((at - first) // step) * step
        while at < stretch_end and at < stop and at <= last:
            session_end = at + duration
            while work < len(working) and working[work][1] <= at:
                work += 1
            if work < len(working) and working[work][0] <= at and session_end <= working[work][1]:
                blocked_from = at - before
                while busy_at < len(taken) and taken[busy_at][1] <= blocked_from:
                    busy_at += 1
                if busy_at == len(taken) or taken[busy_at][0] >= session_end + after:
                    slots.append(from_micros(at))
            at += step
    return slots


def _merged(spans: Iterable[Span]) -> list[Span]:
    """The union of spans, sorted, touching ones joined, empty ones dropped."""
    merged: list[Span] = []
    for low, high in sorted(spans):
        if low == high:
            continue
        if merged and low <= merged[-1][1]:
            if high > merged[-1][1]:
                merged[-1] = (merged[-1][0], high)
            continue
        merged.append((low, high))
    return merged


def _length_micros(length: timedelta) -> int:
    """A length of time in whole microseconds."""
    return length // _MICROSECOND


def is_bookable(
    schedule: Schedule,
    rules: SlotRules,
    busy: Sequence[Interval],
    now: datetime,
    at: datetime,
) -> bool:
    """Whether a client may book a session starting at ``at`` (the module's four rules);
    true exactly for the starts session_slots lists."""
    now, at = as_utc(now, "now"), as_utc(at, "at")
    if at < now + rules.min_notice or at > now + rules.booking_window:
        return False
    day = schedule.local_date(at)
    stretch = next((s for s in schedule.day_stretches(day) if s.start <= at < s.end), None)
    if stretch is None or (at - stretch.start) % rules.step:
        return False
    working = schedule.stretches(day, schedule.local_date(at + rules.duration))
    return _Fit(rules, WorkingTime(working), BusyTime(busy))(at)


@dataclass(frozen=True)
class GroupSession:
    """One dated session of a workshop or course, with its seats."""

    start: datetime
    end: datetime
    capacity: int
    taken: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start, "start"))
        object.__setattr__(self, "end", as_utc(self.end, "end"))

    @property
    def seats_left(self) -> int:
        """Seats still free (never negative, even if more were taken than offered)."""
        return max(self.capacity - self.taken, 0)


def is_group_bookable(
    group: GroupSession, now: datetime, min_notice: timedelta, booking_window: timedelta
) -> bool:
    """Whether a seat of a dated session can be booked now: a seat left, and its start within
    [now + min_notice, now + booking_window]."""
    now = as_utc(now, "now")
    return group.seats_left > 0 and now + min_notice <= group.start <= now + booking_window


def group_slots(
    sessions: Sequence[GroupSession],
    now: datetime,
    min_notice: timedelta,
    booking_window: timedelta,
    start: datetime,
    end: datetime,
) -> list[GroupSession]:
    """The dated sessions starting in [start, end) that still take a booking, by start."""
    start, end = as_utc(start, "start"), as_utc(end, "end")
    return sorted(
        (
            group
            for group in sessions
            if start <= group.start < end
            and is_group_bookable(group, now, min_notice, booking_window)
        ),
        key=lambda group: group.start,
    )


def local_time(at: datetime, time_zone: str) -> datetime:
    """The wall time at an instant in a zone (the viewer's), as an aware datetime."""
    return as_utc(at, "at").astimezone(ZoneInfo(time_zone))
