"""The slot engine's sweep (whole microseconds, one pass over sorted busy time) offers exactly
the starts a straightforward reading of the four rules offers: every grid mark of every
stretch tried against every working and busy interval, in datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.booking.domain.availability import Interval, Schedule
from services.booking.domain.slots import SlotRules, session_slots
from tests.unit.booking.test_availability import CHANGE_DAYS
from tests.unit.booking.test_slots import DST_ZONES, FIXED_ZONES, case


def reference_slots(
    schedule: Schedule,
    rules: SlotRules,
    busy: list[Interval],
    now: datetime,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """The module's four rules, read one candidate at a time."""
    first_day = schedule.local_date(start) - timedelta(days=1)
    last_day = schedule.local_date(end) + timedelta(days=1)
    working = schedule.open_intervals(
        start - timedelta(days=2), end + rules.duration + timedelta(days=2)
    )
    found = []
    day = first_day
    while day <= last_day:
        for stretch in schedule.day_stretches(day):
            at = stretch.start
            while at < stretch.end:
                session = Interval(at, at + rules.duration)
                taken = Interval(at - rules.buffer_before, at + rules.duration + rules.buffer_after)
                if (
                    start <= at < end
                    and now + rules.min_notice <= at <= now + rules.booking_window
                    and any(w.contains(session) for w in working)
                    # An empty busy interval holds no instant, so it takes nothing.
                    and not any(taken.overlaps(b) for b in busy if b.duration)
                ):
                    found.append(at)
                at += rules.step
        day += timedelta(days=1)
    return sorted(found)


@st.composite
def crowded_busy(draw: st.DrawFn, origin: datetime) -> list[Interval]:
    """Up to forty busy intervals over three days, overlapping, touching or nested, some
    given in other zones, some off the minute."""
    busy = []
    zone = ZoneInfo(draw(st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York"])))
    for _ in range(draw(st.integers(0, 40))):
        start = origin + timedelta(seconds=draw(st.integers(0, 3 * 86400)))
        length = timedelta(seconds=draw(st.integers(0, 4 * 3600)))
        busy.append(Interval(start.astimezone(zone), (start + length).astimezone(zone)))
    return busy


@settings(max_examples=150, deadline=None)
@given(data=st.data(), around=st.sampled_from(CHANGE_DAYS))
def test_the_sweep_offers_what_the_rules_read_one_by_one_offer(
    data: st.DataObject, around: date
) -> None:
    schedule, rules, busy, now, start, end = case(data, FIXED_ZONES + DST_ZONES, around)
    if data.draw(st.booleans()):
        busy = data.draw(crowded_busy(start - timedelta(hours=12)))
    now += timedelta(microseconds=data.draw(st.integers(0, 999_999)))
    slots = session_slots(schedule, rules, busy, now, start, end)
    assert slots == reference_slots(schedule, rules, busy, now, start, end)
    assert all(slot.tzinfo is UTC for slot in slots)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), around=st.sampled_from(CHANGE_DAYS))
def test_a_range_given_in_another_zone_offers_the_same_starts(
    data: st.DataObject, around: date
) -> None:
    schedule, rules, busy, now, start, end = case(data, FIXED_ZONES + DST_ZONES, around)
    viewer = ZoneInfo(data.draw(st.sampled_from(["Asia/Kathmandu", "America/Santiago"])))
    assert session_slots(
        schedule, rules, busy, now.astimezone(viewer), start.astimezone(viewer), end
    ) == session_slots(schedule, rules, busy, now, start, end)
