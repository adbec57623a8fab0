"""Booking's unit of work: the chassis's transaction with booking's repositories on it, and
booking's domain events recorded as the messages events.py maps them to."""

from __future__ import annotations

from typing import Self

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.uow import UnitOfWork
from services.booking import events
from services.booking.repository import (
    Accounts,
    AttendanceMarks,
    Bookings,
    CalendarFeeds,
    Entitlements,
    GroupSessions,
    Occupancy,
    Practitioners,
    Reminders,
    Schedules,
    Terms,
    Waitlist,
)


class BookingUnitOfWork(UnitOfWork):
    practitioners: Practitioners
    schedules: Schedules
    terms: Terms
    bookings: Bookings
    occupancy: Occupancy
    group_sessions: GroupSessions
    entitlements: Entitlements
    waitlist: Waitlist
    reminders: Reminders
    feeds: CalendarFeeds
    account_statuses: Accounts
    attendance: AttendanceMarks

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.practitioners = Practitioners(connection)
        self.schedules = Schedules(connection)
        self.terms = Terms(connection)
        self.bookings = Bookings(connection)
        self.occupancy = Occupancy(connection)
        self.group_sessions = GroupSessions(connection)
        self.entitlements = Entitlements(connection)
        self.waitlist = Waitlist(connection)
        self.reminders = Reminders(connection)
        self.feeds = CalendarFeeds(connection)
        self.account_statuses = Accounts(connection)
        self.attendance = AttendanceMarks(connection)
        return self

    def event_message(self, event: object) -> tuple[EventType[Message], Message, str]:
        return events.event_message(event)
