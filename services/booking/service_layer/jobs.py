"""Booking's periodic jobs, run by the chassis's runner (a lease per job, so with several
replicas each runs about once per interval): unpaid holds lapse, waitlist offers lapse,
ended bookings complete, reminders go out exactly once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chassis.jobs import PeriodicJob
from chassis.lifecycle import WrongState
from chassis.money import Money
from services.booking.domain.bookings import BookedTime, Booking, BookingStatus
from services.booking.domain.events import Reminder, ReminderDue
from services.booking.domain.waitlist import WaitlistStatus
from services.booking.service_layer.attendance import attendance_of_many
from services.booking.service_layer.base import Handlers
from services.booking.service_layer.bookings import release
from services.booking.service_layer.waitlist import pass_on_offer

# How long before a meeting each reminder is due.
REMINDERS = {
    Reminder.DAY_BEFORE: timedelta(hours=24),
    Reminder.HALF_HOUR_BEFORE: timedelta(minutes=30),
}
# Reminders are sent at most a day ahead, so a record older than two days is of a past meeting.
REMINDER_RECORDS_KEPT = timedelta(days=2)


@dataclass(frozen=True)
class DueReminder:
    subject_id: str
    kind: Reminder
    recipient_id: str
    starts_at: datetime
    event: ReminderDue


@dataclass
class _Group:
    """A group session's practitioner reminder, gathered from its bookings."""

    sample: Booking
    time: BookedTime
    attendees: int = 0
    earliest_armed: datetime | None = None


class JobHandlers(Handlers):
    def periodic_jobs(self) -> list[PeriodicJob]:
        every = timedelta(seconds=self._settings.job_interval_seconds)
        return [
            PeriodicJob("booking.expire_holds", every, lambda: self.expire_holds()),
            PeriodicJob("booking.lapse_offers", every, lambda: self.lapse_offers()),
            PeriodicJob("booking.complete_ended", every, lambda: self.complete_ended()),
            PeriodicJob("booking.send_reminders", every, lambda: self.send_reminders()),
        ]

    async def expire_holds(self, now: datetime | None = None) -> int:
        """Unpaid bookings whose hold ended let their time go (booking.expired). Each job
        acts as of `now`: the clock's, unless a caller drives it to another moment (the
        end-to-end tests, against a running suite's database)."""
        expired = 0
        async with self._uow() as uow:
            now = now or self.now()
            for booking in await uow.bookings.lapsed_holds(now, self._settings.job_batch_size):
                event = booking.expire(now)
                try:
                    await uow.bookings.move(booking, BookingStatus.PENDING_PAYMENT)
                except WrongState:
                    continue  # paid (or cancelled) meanwhile
                uow.record(event, *await release(uow, booking, now, self._settings))
                expired += 1
            await uow.commit()
        return expired

    async def lapse_offers(self, now: datetime | None = None) -> int:
        """Waitlist offers not taken in time pass to the next in line."""
        lapsed = 0
        lasting = timedelta(minutes=self._settings.waitlist_offer_minutes)
        async with self._uow() as uow:
            now = now or self.now()
            for entry in await uow.waitlist.lapsed_offers(now, self._settings.job_batch_size):
                entry.lapse(now)
                try:
                    await uow.waitlist.move(entry, WaitlistStatus.OFFERED)
                except WrongState:
                    continue  # taken meanwhile
                uow.record(*await pass_on_offer(uow, entry, now, lasting))
                lapsed += 1
            await uow.commit()
        return lapsed

    async def complete_ended(self, now: datetime | None = None) -> int:
        """Confirmed bookings that ended (plus the grace period) complete, unless the
        practitioner marked a no-show first (booking.completed); a virtual one whose
        practitioner was in the room and whose client never came is a no-show instead
        (booking.no_show). The count is of both."""
        completed = 0
        grace = timedelta(minutes=self._settings.completion_grace_minutes)
        async with self._uow() as uow:
            now = now or self.now()
            ended = await uow.bookings.ended_before(now - grace, self._settings.job_batch_size)
            heard = await attendance_of_many(uow, self._settings, ended)
            for booking in ended:
                event = booking.settle(now, grace, heard[booking.id])
                try:
                    await uow.bookings.move(booking, BookingStatus.CONFIRMED)
                except WrongState:
                    continue  # marked a no-show or completed meanwhile
                uow.record(event)
                completed += 1
            await uow.commit()
        return completed

    async def due_reminders(self, now: datetime) -> list[DueReminder]:
        """Every reminder due now and not yet sent: the client's of each meeting, the
        practitioner's of each one-to-one meeting, and one per dated group session for its
        practitioner. A reminder due before the booking was confirmed (or last moved) is
        not sent."""
        horizon = max(REMINDERS.values())
        async with self._uow(write=False) as uow:
            meetings = await uow.bookings.meetings_starting(now, now + horizon)
        due: list[DueReminder] = []
        groups: dict[str, _Group] = {}
        for meeting in meetings:
            booking = meeting.booking
            subject = f"bookings/{booking.id}"
            if meeting.group_session_id is not None:
                group = groups.setdefault(meeting.group_session_id, _Group(booking, meeting.time))
                group.attendees += booking.seats
                if booking.armed_at is not None and (
                    group.earliest_armed is None or booking.armed_at < group.earliest_armed
                ):
                    group.earliest_armed = booking.armed_at
            for kind, ahead in REMINDERS.items():
                at = meeting.time.start - ahead
                if now < at or booking.armed_at is None or booking.armed_at > at:
                    continue
                recipients = [booking.client_id]
                if meeting.group_session_id is None:
                    recipients.append(booking.practitioner_user_id)
                for recipient in recipients:
                    event = ReminderDue(booking, kind, recipient, meeting.time, 0, subject)
                    due.append(DueReminder(booking.id, kind, recipient, meeting.time.start, event))
        for group_id, group in groups.items():
            session = replace(
                group.sample,
                id="",
                client_id="",
                seats=group.attendees,
                times=[group.time],
                notes="",
                entitlement_id=None,
                price=Money(0, group.sample.price.currency),
            )
            for kind, ahead in REMINDERS.items():
                at = group.time.start - ahead
                if now < at or group.earliest_armed is None or group.earliest_armed > at:
                    continue
                recipient = group.sample.practitioner_user_id
                event = ReminderDue(
                    session,
                    kind,
                    recipient,
                    group.time,
                    group.attendees,
                    f"group_sessions/{group_id}",
                )
                due.append(DueReminder(group_id, kind, recipient, group.time.start, event))
        return due

    async def send_reminders(self, now: datetime | None = None) -> int:
        """Sends what is due, each exactly once: the record of a reminder and its event
        commit together, in batches, so a run stopped halfway leaves the rest to the next
        run and sends nothing twice."""
        now = now or self.now()
        due = await self.due_reminders(now)
        sent = 0
        size = self._settings.job_batch_size
        for start in range(0, len(due), size):
            async with self._uow() as uow:
                for reminder in due[start : start + size]:
                    if await uow.reminders.claim(
                        reminder.subject_id,
                        reminder.kind.value,
                        reminder.recipient_id,
                        reminder.starts_at,
                        now,
                    ):
                        uow.record(reminder.event)
                        sent += 1
                await uow.commit()
        async with self._uow() as uow:
            await uow.reminders.forget_sent_before(now - REMINDER_RECORDS_KEPT)
            await uow.commit()
        return sent
