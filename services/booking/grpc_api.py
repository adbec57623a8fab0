"""Booking's gRPC servicer: proto messages in and out (mapped in wire.py), nothing else."""

from __future__ import annotations

from typing import Any

from chassis.context import current_principal
from chassis.errors import InvalidArgument
from chassis.wire import optional_instant, timestamp
from estuary.booking.v1 import booking_pb2 as pb
from estuary.booking.v1 import booking_pb2_grpc
from services.booking.domain.bookings import BookingStatus
from services.booking.service_layer import FrontDesk
from services.booking.service_layer.bookings import BookingRequest, BookingView
from services.booking.wire import (
    BOOKING_STATUSES,
    SERVICE_KINDS,
    booked_time,
    booking_to_proto,
    entitlement_to_proto,
    schedule_from_proto,
    schedule_to_proto,
    waitlist_entry_to_proto,
)

SCOPES = {
    pb.BOOKING_SCOPE_UNSPECIFIED: "all",
    pb.BOOKING_SCOPE_UPCOMING: "upcoming",
    pb.BOOKING_SCOPE_PAST: "past",
}


def _when(message: Any, field: str) -> Any:
    return optional_instant(getattr(message, field), message.HasField(field))


def _status(number: int) -> BookingStatus | None:
    if number and BOOKING_STATUSES.from_proto(number) is None:
        raise InvalidArgument.field("status", "is not a booking status", "invalid")
    return BOOKING_STATUSES.from_proto(number)


class BookingServicer(booking_pb2_grpc.BookingServiceServicer):
    def __init__(self, desk: FrontDesk) -> None:
        self._desk = desk

    def _booking(self, view: BookingView) -> pb.Booking:
        return booking_to_proto(view.booking, view.entitlements, self._desk.now(), view.attendance)

    async def GetSchedule(self, request: pb.GetScheduleRequest, context: Any) -> pb.Schedule:
        saved = await self._desk.get_schedule(current_principal(), request.name)
        return schedule_to_proto(saved.practitioner_id, saved.schedule, saved.saved_at)

    async def UpdateSchedule(self, request: pb.UpdateScheduleRequest, context: Any) -> pb.Schedule:
        name = request.schedule.name
        current = await self._desk.get_schedule(current_principal(), name)
        schedule = schedule_from_proto(request.schedule, current.schedule.time_zone)
        saved = await self._desk.update_schedule(current_principal(), name, schedule)
        return schedule_to_proto(saved.practitioner_id, saved.schedule, saved.saved_at)

    async def GetAvailability(
        self, request: pb.GetAvailabilityRequest, context: Any
    ) -> pb.Availability:
        practitioner, free = await self._desk.availability(
            request.practitioner, _when(request, "start_time"), _when(request, "end_time")
        )
        return pb.Availability(
            practitioner_id=practitioner.id,
            time_zone=practitioner.time_zone,
            free=[booked_time(interval) for interval in free],  # type: ignore[arg-type]
        )

    async def ListSlots(self, request: pb.ListSlotsRequest, context: Any) -> pb.ListSlotsResponse:
        found = await self._desk.slots(
            request.service.removeprefix("services/"),
            _when(request, "start_time"),
            _when(request, "end_time"),
            request.time_zone,
        )
        return pb.ListSlotsResponse(
            service_id=found.terms.service_id,
            service_kind=SERVICE_KINDS.to_proto(found.terms.kind),
            time_zone=found.time_zone,
            slots=[
                pb.Slot(
                    start_time=timestamp(slot.start),
                    end_time=timestamp(slot.end),
                    local_start=slot.local_start.isoformat(),
                    seats_left=slot.seats_left,
                )
                for slot in found.slots
            ],
        )

    async def CreateBooking(self, request: pb.CreateBookingRequest, context: Any) -> pb.Booking:
        view = await self._desk.create_booking(
            current_principal(),
            BookingRequest(
                service_id=request.service,
                start=_when(request, "start_time"),
                seats=request.seats,
                entitlement_id=request.entitlement_id,
                notes=request.notes,
                request_id=request.request_id,
            ),
        )
        return self._booking(view)

    async def GetBooking(self, request: pb.GetBookingRequest, context: Any) -> pb.Booking:
        return self._booking(await self._desk.get_booking(current_principal(), request.name))

    async def ListBookings(
        self, request: pb.ListBookingsRequest, context: Any
    ) -> pb.ListBookingsResponse:
        scope = SCOPES.get(request.scope)
        if scope is None:
            raise InvalidArgument.field("scope", "must be upcoming, past or unset", "invalid")
        page = await self._desk.list_bookings(
            current_principal(),
            scope,
            _status(request.status),
            request.page_size,
            request.page_token,
        )
        now = self._desk.now()
        return pb.ListBookingsResponse(
            bookings=[booking_to_proto(b, now=now) for b in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListPractitionerBookings(
        self, request: pb.ListPractitionerBookingsRequest, context: Any
    ) -> pb.ListPractitionerBookingsResponse:
        page = await self._desk.practitioner_calendar(
            current_principal(),
            request.practitioner,
            _when(request, "start_time"),
            _when(request, "end_time"),
            request.page_size,
            request.page_token,
        )
        return pb.ListPractitionerBookingsResponse(
            bookings=[booking_to_proto(b) for b in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def CancelBooking(self, request: pb.CancelBookingRequest, context: Any) -> pb.Booking:
        view = await self._desk.cancel_booking(current_principal(), request.name, request.reason)
        return self._booking(view)

    async def RescheduleBooking(
        self, request: pb.RescheduleBookingRequest, context: Any
    ) -> pb.Booking:
        view = await self._desk.reschedule_booking(
            current_principal(), request.name, _when(request, "start_time")
        )
        return self._booking(view)

    async def CompleteBooking(self, request: pb.CompleteBookingRequest, context: Any) -> pb.Booking:
        return self._booking(await self._desk.complete_booking(current_principal(), request.name))

    async def MarkNoShow(self, request: pb.MarkNoShowRequest, context: Any) -> pb.Booking:
        return self._booking(await self._desk.mark_no_show(current_principal(), request.name))

    async def ListEntitlements(
        self, request: pb.ListEntitlementsRequest, context: Any
    ) -> pb.ListEntitlementsResponse:
        page = await self._desk.list_entitlements(
            current_principal(), request.page_size, request.page_token
        )
        now = self._desk.now()
        return pb.ListEntitlementsResponse(
            entitlements=[entitlement_to_proto(e, now) for e in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def CreateWaitlistEntry(
        self, request: pb.CreateWaitlistEntryRequest, context: Any
    ) -> pb.WaitlistEntry:
        view = await self._desk.join_waitlist(
            current_principal(),
            request.service,
            _when(request, "start_time"),
            request.request_id,
        )
        return waitlist_entry_to_proto(view.entry, view.ahead)

    async def ListWaitlistEntries(
        self, request: pb.ListWaitlistEntriesRequest, context: Any
    ) -> pb.ListWaitlistEntriesResponse:
        page = await self._desk.list_waitlist(
            current_principal(), request.page_size, request.page_token
        )
        return pb.ListWaitlistEntriesResponse(
            entries=[waitlist_entry_to_proto(v.entry, v.ahead) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def DeleteWaitlistEntry(
        self, request: pb.DeleteWaitlistEntryRequest, context: Any
    ) -> pb.DeleteWaitlistEntryResponse:
        await self._desk.leave_waitlist(current_principal(), request.name)
        return pb.DeleteWaitlistEntryResponse()

    async def RotateCalendarFeed(
        self, request: pb.RotateCalendarFeedRequest, context: Any
    ) -> pb.CalendarFeed:
        feed = await self._desk.rotate_feed(current_principal())
        return pb.CalendarFeed(token=feed.token, create_time=timestamp(feed.created_at))

    async def DeleteCalendarFeed(
        self, request: pb.DeleteCalendarFeedRequest, context: Any
    ) -> pb.DeleteCalendarFeedResponse:
        await self._desk.delete_feed(current_principal())
        return pb.DeleteCalendarFeedResponse()

    async def GetCalendarFeed(
        self, request: pb.GetCalendarFeedRequest, context: Any
    ) -> pb.CalendarFeedContent:
        return pb.CalendarFeedContent(ics=await self._desk.feed(request.token))
