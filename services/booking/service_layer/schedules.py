"""Schedules, free time and slots: a practitioner's hours (kept by the owner or staff), what
of them is free, and the starts a client can book of a service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.auth.principal import AccountStatus, Principal
from chassis.errors import NotFound, PermissionDenied
from chassis.ids import is_uuid
from chassis.validation import check_timezone
from services.booking.domain.availability import Interval, Schedule, free_intervals, to_micros
from services.booking.domain.practitioners import Practitioner
from services.booking.domain.slots import (
    GroupSession,
    group_slots,
    local_time,
    session_slots_among,
)
from services.booking.domain.terms import ServiceKind, ServiceTerms
from services.booking.service_layer.base import Handlers, caller, check_span, takes_bookings
from services.booking.uow import BookingUnitOfWork

DEFAULT_SPAN = timedelta(days=7)


@dataclass(frozen=True)
class SavedSchedule:
    practitioner_id: str
    schedule: Schedule
    saved_at: datetime | None


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    local_start: datetime
    seats_left: int = 0


@dataclass(frozen=True)
class Slots:
    terms: ServiceTerms
    time_zone: str
    slots: list[Slot]


async def busy_for(
    uow: BookingUnitOfWork,
    practitioner_id: str,
    span: Interval,
    *,
    excluding_booking: str = "",
    sells_group_sessions: bool = True,
) -> list[Interval]:
    """What the practitioner cannot take during span: every booking and live hold on any of
    their services, and the dated sessions of their workshops and courses on sale (even
    before a seat is sold), buffers included. A caller that read (with the hours) that none
    is on sale spares the read of them."""
    busy = await uow.occupancy.busy(practitioner_id, span, excluding_booking=excluding_booking)
    if sells_group_sessions:
        busy += await _group_sessions_busy(uow, practitioner_id, span)
    return busy


async def _group_sessions_busy(
    uow: BookingUnitOfWork, practitioner_id: str, span: Interval
) -> list[Interval]:
    """The dated sessions of the practitioner's workshops and courses on sale that meet span,
    buffers included."""
    busy = []
    for group in await uow.terms.group_services_of(practitioner_id):
        rules = group.slot_rules(1)
        for meeting in group.sessions:
            taken = Interval(meeting.start - rules.buffer_before, meeting.end + rules.buffer_after)
            if taken.overlaps(span):
                busy.append(taken)
    return busy


class ScheduleHandlers(Handlers):
    async def get_schedule(self, principal: Principal | None, name: str) -> SavedSchedule:
        """A practitioner's schedule, for them or staff (an empty one if never saved)."""
        practitioner = await self._managed(principal, name.removesuffix("/schedule"))
        async with self._uow(write=False) as uow:
            saved = await uow.schedules.get(practitioner.id)
        if saved is None:
            return SavedSchedule(practitioner.id, Schedule(practitioner.time_zone, ()), None)
        return SavedSchedule(practitioner.id, saved[0], saved[1])

    async def update_schedule(
        self, principal: Principal | None, name: str, schedule: Schedule
    ) -> SavedSchedule:
        """Replaces a practitioner's weekly windows and overrides; tells catalog (their
        onboarding's availability step)."""
        practitioner = await self._managed(principal, name.removesuffix("/schedule"))
        async with self._uow() as uow:
            now = self.now()
            await uow.schedules.save(practitioner.id, schedule, now)
            uow.record(practitioner.saved(schedule))
            await uow.commit()
        return SavedSchedule(practitioner.id, schedule, now)

    async def _managed(self, principal: Principal | None, name: str) -> Practitioner:
        practitioner = await self.practitioner_of(name)
        if not practitioner.may_be_managed_by(caller(principal)):
            raise PermissionDenied("only the practitioner or staff can see or change their hours")
        return practitioner

    async def availability(
        self, name: str, start: datetime | None, end: datetime | None
    ) -> tuple[Practitioner, list[Interval]]:
        """A practitioner's free working time in [start, end): none while suspended."""
        practitioner = await self.practitioner_of(name)
        now = self.now()
        span = check_span(
            start, end, now=now, default=DEFAULT_SPAN, longest=self._settings.max_range_days
        )
        async with self._uow(write=False) as uow:
            hours = await uow.schedules.hours(practitioner.id)
            if hours is None or not await takes_bookings(uow, practitioner.user_id):
                return practitioner, []
            busy = await busy_for(
                uow, practitioner.id, span, sells_group_sessions=hours.sells_group_sessions
            )
        return practitioner, free_intervals(hours.schedule, busy, span.start, span.end)

    async def slots(
        self, service_id: str, start: datetime | None, end: datetime | None, time_zone: str
    ) -> Slots:
        """The starts of a service a client can book in [start, end), in UTC and in the
        viewer's zone (the practitioner's unless given)."""
        viewer_zone = check_timezone(time_zone, "time_zone")
        now = self.now()
        span = check_span(
            start, end, now=now, default=DEFAULT_SPAN, longest=self._settings.max_range_days
        )
        if not is_uuid(service_id):
            raise NotFound("no such service")
        # One read for the common case, a service booking knows; the rare one it has not
        # heard of yet is asked of catalog first.
        async with self._uow(write=False) as uow:
            held = await uow.terms.get_with_status(service_id)
            if held is not None:
                terms, status = held
                return await self._slots_of(
                    uow, terms, status is AccountStatus.ACTIVE, span, now, viewer_zone
                )
        terms = await self.terms_of(service_id)
        async with self._uow(write=False) as uow:
            open_ = await takes_bookings(uow, terms.practitioner_user_id)
            return await self._slots_of(uow, terms, open_, span, now, viewer_zone)

    async def _slots_of(
        self,
        uow: BookingUnitOfWork,
        terms: ServiceTerms,
        practitioner_open: bool,
        span: Interval,
        now: datetime,
        viewer_zone: str,
    ) -> Slots:
        zone = viewer_zone or terms.time_zone
        found: list[Slot] = []
        if terms.on_sale and practitioner_open:
            if terms.kind is ServiceKind.SESSION:
                found = await self._session_slots(uow, terms, span, now, zone)
            elif terms.is_group:
                found = await self._group_slots(uow, terms, span, now, zone)
        return Slots(terms, zone, found)

    async def _session_slots(
        self, uow: BookingUnitOfWork, terms: ServiceTerms, span: Interval, now: datetime, zone: str
    ) -> list[Slot]:
        hours = await uow.schedules.hours(terms.practitioner_id)
        if hours is None:
            return []
        rules = terms.slot_rules(self._settings.slot_step_minutes)
        # Bookings that reach into the span from either side, buffers included.
        reach = Interval(
            span.start - rules.buffer_before - rules.duration - rules.buffer_after,
            span.end + rules.duration + rules.buffer_after + rules.buffer_before,
        )
        # What busy_for reads, as numbers: the occupied ranges straight from the database.
        busy = await uow.occupancy.busy_spans(terms.practitioner_id, reach)
        if hours.sells_group_sessions:
            busy += [
                (to_micros(taken.start), to_micros(taken.end))
                for taken in await _group_sessions_busy(uow, terms.practitioner_id, reach)
            ]
        starts = session_slots_among(hours.schedule, rules, busy, now, span.start, span.end)
        return [Slot(at, at + rules.duration, local_time(at, zone)) for at in starts]

    async def _group_slots(
        self, uow: BookingUnitOfWork, terms: ServiceTerms, span: Interval, now: datetime, zone: str
    ) -> list[Slot]:
        held = await uow.group_sessions.of_service(terms.service_id)
        seats = {start: g.taken + g.offered for start, g in held.items()}
        sessions = terms.group_sessions(seats)
        if terms.kind is ServiceKind.COURSE:
            # A course is one booking of every meeting: it is offered at its first, with
            # the seats its fullest meeting has left.
            if not sessions:
                return []
            first = min(sessions, key=lambda s: s.start)
            fewest = min(s.seats_left for s in sessions)
            sessions = [
                GroupSession(first.start, first.end, first.capacity, first.capacity - fewest)
            ]
        open_ = group_slots(
            sessions, now, terms.min_notice, terms.booking_window, span.start, span.end
        )
        return [Slot(g.start, g.end, local_time(g.start, zone), g.seats_left) for g in open_]
