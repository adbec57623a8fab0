"""Booking's use cases, one module per aggregate; each opens one unit of work, finds what a
request names, lets the domain decide, and records the events the domain returns."""

from __future__ import annotations

from services.booking.service_layer.bookings import BookingHandlers
from services.booking.service_layer.calendar import CalendarHandlers
from services.booking.service_layer.entitlements import EntitlementHandlers
from services.booking.service_layer.jobs import JobHandlers
from services.booking.service_layer.schedules import ScheduleHandlers
from services.booking.service_layer.waitlist import WaitlistHandlers


class FrontDesk(
    ScheduleHandlers,
    BookingHandlers,
    EntitlementHandlers,
    WaitlistHandlers,
    CalendarHandlers,
    JobHandlers,
):
    """Every booking use case on one object, for the servicer, the consumers, the jobs, the
    demo seed, the benchmarks and the tests."""
