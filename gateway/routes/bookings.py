"""Booking at the edge: a practitioner's hours and free time (/api/v1/practitioners/{id}/...),
a service's slots and waitlist (/api/v1/services/{id}/...), bookings (/api/v1/bookings), the
caller's entitlements, places in line and calendar feed (/api/v1/me/...), and the feed
itself (/api/v1/calendar-feed.ics, by its secret).

Booking's routes under catalog's paths live here, in booking's own router: catalog's route
modules know nothing of booking.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import AwareDatetime
from starlette.responses import Response

from chassis.wire import instant, timestamp
from estuary.booking.v1 import booking_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.booking import (
    BOOKING_STATUSES,
    SCOPES,
    AvailabilityOut,
    BookingBody,
    BookingOut,
    BookingStatusName,
    CalendarFeedOut,
    CancelBody,
    EntitlementOut,
    RescheduleBody,
    ScheduleBody,
    ScheduleOut,
    SlotsOut,
    WaitlistBody,
    WaitlistEntryOut,
)
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Limit, Page, page_of

router = GatewayRouter(prefix="/api/v1")
AVAILABILITY: list[str | Enum] = ["availability"]
BOOKINGS: list[str | Enum] = ["bookings"]
ENTITLEMENTS: list[str | Enum] = ["entitlements"]
WAITLIST: list[str | Enum] = ["waitlist"]
FEEDS: list[str | Enum] = ["calendar_feeds"]

Id = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
From = Annotated[
    AwareDatetime | None,
    Query(alias="from", description="Start of the range (RFC 3339); now when unset."),
]
To = Annotated[
    AwareDatetime | None,
    Query(alias="to", description="End of the range; a week after `from` when unset."),
]
FEED_TOKEN = r"^[A-Za-z0-9_-]{20,100}$"


def _span(message: object, start: datetime | None, end: datetime | None) -> None:
    if start is not None:
        message.start_time.CopyFrom(timestamp(start))  # type: ignore[attr-defined]
    if end is not None:
        message.end_time.CopyFrom(timestamp(end))  # type: ignore[attr-defined]


# A practitioner's hours and free time ---------------------------------------------------------


@router.get(
    "/practitioners/{practitioner_id}/schedule",
    operation_id="availability.get_schedule",
    tags=AVAILABILITY,
    response_model=ScheduleOut,
    responses=responses(403),
)
async def get_schedule(
    practitioner_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """A practitioner's weekly hours and date overrides: for them and staff."""
    schedule = await api.booking.GetSchedule(
        pb.GetScheduleRequest(name=f"practitioners/{practitioner_id}/schedule"),
        metadata=caller.metadata(),
    )
    return json_response(ScheduleOut.from_proto(schedule))


@router.put(
    "/practitioners/{practitioner_id}/schedule",
    operation_id="availability.put_schedule",
    tags=AVAILABILITY,
    response_model=ScheduleOut,
    responses=responses(403),
)
async def put_schedule(
    practitioner_id: Id,
    body: ScheduleBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Replaces a practitioner's hours (the practitioner or staff), as local wall time in
    their IANA zone; windows of a day must not overlap. Completes catalog's onboarding step
    "availability"."""
    schedule = await api.booking.UpdateSchedule(
        pb.UpdateScheduleRequest(schedule=body.to_proto(practitioner_id)),
        metadata=caller.metadata(),
    )
    return json_response(ScheduleOut.from_proto(schedule))


@router.get(
    "/practitioners/{practitioner_id}/availability",
    operation_id="availability.free_time",
    tags=AVAILABILITY,
    response_model=AvailabilityOut,
    responses=responses(400),
)
async def free_time(
    practitioner_id: Id,
    start: From = None,
    end: To = None,
    api: Backends = Depends(backends),
) -> Response:
    """A practitioner's free working time in [from, to): their hours less every booking
    and live hold, buffers included (at most 62 days at once)."""
    message = pb.GetAvailabilityRequest(practitioner=f"practitioners/{practitioner_id}")
    _span(message, start, end)
    found = await api.booking.GetAvailability(message, metadata=anonymous())
    return json_response(AvailabilityOut.from_proto(found))


@router.get(
    "/practitioners/{practitioner_id}/bookings",
    operation_id="bookings.list_for_practitioner",
    tags=BOOKINGS,
    response_model=Page[BookingOut],
    responses=responses(400, 403),
)
async def practitioner_calendar(
    practitioner_id: Id,
    start: From = None,
    end: To = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """A practitioner's calendar: their bookings meeting [from, to), by start (cancelled
    and expired ones left out), for them and staff."""
    message = pb.ListPractitionerBookingsRequest(
        practitioner=f"practitioners/{practitioner_id}", page_size=limit, page_token=cursor or ""
    )
    _span(message, start, end)
    found = await api.booking.ListPractitionerBookings(message, metadata=caller.metadata())
    return json_response(bookings_page(found))


# A service's slots and waitlist ----------------------------------------------------------------


@router.get(
    "/services/{service_id}/slots",
    operation_id="availability.slots",
    tags=AVAILABILITY,
    response_model=SlotsOut,
    responses=responses(400),
)
async def slots(
    service_id: Id,
    start: From = None,
    end: To = None,
    tz: Annotated[
        str,
        Query(
            max_length=64,
            description="The viewer's IANA zone for local_start; the practitioner's if unset.",
            examples=["America/New_York"],
        ),
    ] = "",
    api: Backends = Depends(backends),
) -> Response:
    """The start times of a service a client can book in [from, to): the practitioner's
    hours less every booking and live hold on any of their services, the notice and the
    booking window; for workshops and courses, the dated sessions with seats left."""
    message = pb.ListSlotsRequest(service=f"services/{service_id}", time_zone=tz)
    _span(message, start, end)
    found = await api.booking.ListSlots(message, metadata=anonymous())
    return json_response(SlotsOut.from_proto(found))


@router.post(
    "/services/{service_id}/waitlist",
    operation_id="waitlist.join",
    tags=WAITLIST,
    status_code=201,
    response_model=WaitlistEntryOut,
    responses=responses(409),
)
async def join_waitlist(
    service_id: Id,
    body: WaitlistBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Joins the line for a full workshop date or course; when a seat frees, the first in
    line is offered it (waitlist.offered) for a while, and takes it by booking."""
    message = pb.CreateWaitlistEntryRequest(
        service=f"services/{service_id}", request_id=idempotency_key or ""
    )
    if body.start_time is not None:
        message.start_time.CopyFrom(timestamp(body.start_time))
    entry = await api.booking.CreateWaitlistEntry(message, metadata=caller.metadata())
    return json_response(WaitlistEntryOut.from_proto(entry), 201)


# Bookings ------------------------------------------------------------------------------------


@router.post(
    "/bookings",
    operation_id="bookings.create",
    tags=BOOKINGS,
    status_code=201,
    response_model=BookingOut,
    responses=responses(404, 409),
)
async def create_booking(
    body: BookingBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Books a session (service and start), a seat of a workshop (service and which date)
    or a course (service), buys a package or bundle (service), or redeems an entitlement
    (entitlement and start). The price is catalog's. Free bookings and redemptions are
    confirmed at once; paid ones are pending_payment and hold their time until
    hold_expires_at. A taken time is 409 SLOT_TAKEN naming the range that holds it."""
    message = pb.CreateBookingRequest(
        service=f"services/{body.service_id}" if body.service_id else "",
        seats=body.seats,
        entitlement_id=body.entitlement_id or "",
        notes=body.notes,
        request_id=idempotency_key or "",
    )
    if body.start_time is not None:
        message.start_time.CopyFrom(timestamp(body.start_time))
    booking = await api.booking.CreateBooking(message, metadata=caller.metadata())
    return json_response(BookingOut.from_proto(booking), 201)


@router.get(
    "/bookings",
    operation_id="bookings.list",
    tags=BOOKINGS,
    response_model=Page[BookingOut],
)
async def list_bookings(
    scope: Annotated[
        str,
        Query(
            pattern="^(all|upcoming|past)$",
            description="upcoming (soonest first), past (latest first) or all (newest first).",
        ),
    ] = "all",
    status: BookingStatusName | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The caller's bookings as a client."""
    found = await api.booking.ListBookings(
        pb.ListBookingsRequest(
            scope=SCOPES[scope],
            status=BOOKING_STATUSES.to_proto(status) if status else 0,
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(bookings_page(found))


@router.get(
    "/bookings/{booking_id}",
    operation_id="bookings.get",
    tags=BOOKINGS,
    response_model=BookingOut,
)
async def get_booking(
    booking_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """One booking: for its client, its practitioner and staff; 404 for anyone else."""
    booking = await api.booking.GetBooking(
        pb.GetBookingRequest(name=f"bookings/{booking_id}"), metadata=caller.metadata()
    )
    return json_response(BookingOut.from_proto(booking))


@router.post(
    "/bookings/{booking_id}/cancel",
    operation_id="bookings.cancel",
    tags=BOOKINGS,
    response_model=BookingOut,
    responses=responses(409),
)
async def cancel_booking(
    booking_id: Id,
    body: CancelBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Cancels before the start: the client is refunded by the service's cancellation policy
    (as booked) at this moment, the practitioner or staff refund in full."""
    booking = await api.booking.CancelBooking(
        pb.CancelBookingRequest(name=f"bookings/{booking_id}", reason=body.reason),
        metadata=caller.metadata(),
    )
    return json_response(BookingOut.from_proto(booking))


@router.post(
    "/bookings/{booking_id}/reschedule",
    operation_id="bookings.reschedule",
    tags=BOOKINGS,
    response_model=BookingOut,
    responses=responses(409),
)
async def reschedule_booking(
    booking_id: Id,
    body: RescheduleBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Moves a session in one step (the new time taken, the old one freed): the client
    while cancelling would still refund something, the practitioner and staff until it
    starts."""
    message = pb.RescheduleBookingRequest(name=f"bookings/{booking_id}")
    message.start_time.CopyFrom(timestamp(body.start_time))
    booking = await api.booking.RescheduleBooking(message, metadata=caller.metadata())
    return json_response(BookingOut.from_proto(booking))


@router.post(
    "/bookings/{booking_id}/complete",
    operation_id="bookings.complete",
    tags=BOOKINGS,
    response_model=BookingOut,
    responses=responses(409),
)
async def complete_booking(
    booking_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The practitioner (or staff) says it took place, once it has started."""
    booking = await api.booking.CompleteBooking(
        pb.CompleteBookingRequest(name=f"bookings/{booking_id}"), metadata=caller.metadata()
    )
    return json_response(BookingOut.from_proto(booking))


@router.post(
    "/bookings/{booking_id}/no-show",
    operation_id="bookings.mark_no_show",
    tags=BOOKINGS,
    response_model=BookingOut,
    responses=responses(409),
)
async def mark_no_show(
    booking_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The practitioner (or staff) says the client did not come, once it has started."""
    booking = await api.booking.MarkNoShow(
        pb.MarkNoShowRequest(name=f"bookings/{booking_id}"), metadata=caller.metadata()
    )
    return json_response(BookingOut.from_proto(booking))


def bookings_page(
    found: pb.ListBookingsResponse | pb.ListPractitionerBookingsResponse,
) -> Page[BookingOut]:
    return page_of(
        [BookingOut.from_proto(b) for b in found.bookings], found.next_page_token, found.total_size
    )


# The caller's entitlements, places in line and calendar feed -----------------------------------


@router.get(
    "/me/entitlements",
    operation_id="entitlements.list",
    tags=ENTITLEMENTS,
    response_model=Page[EntitlementOut],
)
async def list_entitlements(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The caller's package and bundle sessions: how many used, left, until when."""
    found = await api.booking.ListEntitlements(
        pb.ListEntitlementsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [EntitlementOut.from_proto(e) for e in found.entitlements],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/me/waitlist",
    operation_id="waitlist.list",
    tags=WAITLIST,
    response_model=Page[WaitlistEntryOut],
)
async def list_waitlist(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The caller's places in line, and any seat offered to them."""
    found = await api.booking.ListWaitlistEntries(
        pb.ListWaitlistEntriesRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [WaitlistEntryOut.from_proto(e) for e in found.entries],
            found.next_page_token,
            found.total_size,
        )
    )


@router.delete(
    "/me/waitlist/{entry_id}",
    operation_id="waitlist.leave",
    tags=WAITLIST,
    status_code=204,
)
async def leave_waitlist(
    entry_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Leaves a line; a seat offered to the caller goes to the next in line."""
    await api.booking.DeleteWaitlistEntry(
        pb.DeleteWaitlistEntryRequest(name=f"waitlist/{entry_id}"), metadata=caller.metadata()
    )
    return Response(status_code=204)


@router.post(
    "/me/calendar-feed",
    operation_id="calendar_feeds.rotate",
    tags=FEEDS,
    status_code=201,
    response_model=CalendarFeedOut,
)
async def rotate_calendar_feed(
    request: Request, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """A new secret address of the caller's calendar feed (every confirmed booking, as
    client or practitioner); the previous address stops working. Shown only now."""
    feed = await api.booking.RotateCalendarFeed(
        pb.RotateCalendarFeedRequest(), metadata=caller.metadata()
    )
    url = str(request.url_for("calendar_feed").include_query_params(token=feed.token))
    return json_response(
        CalendarFeedOut.model_construct(
            url=url, token=feed.token, created_at=instant(feed.create_time)
        ),
        201,
    )


@router.delete(
    "/me/calendar-feed",
    operation_id="calendar_feeds.delete",
    tags=FEEDS,
    status_code=204,
    responses=responses(404),
)
async def delete_calendar_feed(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Turns the caller's calendar feed off."""
    await api.booking.DeleteCalendarFeed(pb.DeleteCalendarFeedRequest(), metadata=caller.metadata())
    return Response(status_code=204)


@router.get(
    "/calendar-feed.ics",
    name="calendar_feed",
    operation_id="calendar_feeds.get",
    tags=FEEDS,
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "An iCalendar feed."},
        **responses(404),
    },
)
async def calendar_feed(
    token: Annotated[
        str, Query(pattern=FEED_TOKEN, description="The feed's secret (its address has it).")
    ],
    api: Backends = Depends(backends),
) -> Response:
    """A user's confirmed bookings as iCalendar (RFC 5545), for calendar apps; the secret is
    in the query, so it stays out of the gateway's access log."""
    feed = await api.booking.GetCalendarFeed(
        pb.GetCalendarFeedRequest(token=token), metadata=anonymous()
    )
    return Response(
        feed.ics,
        media_type="text/calendar",
        headers={"Cache-Control": "private, max-age=300"},
    )
