"""Bodies of the booking routes: schedules, free time and slots, bookings, entitlements,
waitlists and calendar feeds.

Enum names are read from the proto descriptors; the bounds are booking's own rules, so the
OpenAPI document states what the service enforces. The gateway loads no booking module: the
few numbers it needs are the protos' and these.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field

from chassis.wire import ProtoNames, instant
from estuary.booking.v1 import booking_pb2 as pb
from estuary.booking.v1 import events_pb2
from estuary.catalog.v1 import catalog_pb2
from gateway.schemas.catalog import Money
from gateway.schemas.common import Int32, StrictBody, examples

BOOKING_STATUSES = ProtoNames(pb.BookingStatus)
ENTITLEMENT_STATUSES = ProtoNames(pb.EntitlementStatus)
WAITLIST_STATUSES = ProtoNames(pb.WaitlistStatus)
WEEKDAYS = ProtoNames(pb.DayOfWeek)
ACTORS = ProtoNames(events_pb2.Actor)
SERVICE_KINDS = ProtoNames(catalog_pb2.ServiceKind)
LOCATION_KINDS = ProtoNames(catalog_pb2.LocationKind)
SCOPES = {
    "all": pb.BOOKING_SCOPE_UNSPECIFIED,
    "upcoming": pb.BOOKING_SCOPE_UPCOMING,
    "past": pb.BOOKING_SCOPE_PAST,
}

if TYPE_CHECKING:
    BookingStatusName = str
    EntitlementStatusName = str
    WaitlistStatusName = str
    WeekdayName = str
    ActorName = str
    KindName = str
    LocationKindName = str
else:
    BookingStatusName = BOOKING_STATUSES.literal
    EntitlementStatusName = ENTITLEMENT_STATUSES.literal
    WaitlistStatusName = WAITLIST_STATUSES.literal
    WeekdayName = WEEKDAYS.literal
    ActorName = ACTORS.literal
    KindName = SERVICE_KINDS.literal
    LocationKindName = LOCATION_KINDS.literal

# Booking's rules, as its domain states them (services/booking/domain/bookings.py) and as
# the slot engine bounds a schedule (services/booking/domain/availability.py).
NOTES_LENGTH = 2000
REASON_LENGTH = 500
MAX_SEATS = 1000
MAX_WINDOWS = 7 * 12
MAX_OVERRIDES = 731
MAX_OVERRIDE_WINDOWS = 12

Clock = Annotated[
    str,
    Field(
        pattern=r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$",
        examples=["09:00"],
        description='Local wall time "HH:MM"; as an end, "24:00" (or "00:00") ends the day.',
    ),
]
Day = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-03-09"])]

# Examples for the OpenAPI document, as the gateway answers.
BOOKING_ID = "0193c4f6-a0b1-7c2d-8e3f-4a5b6c7d8e9f"
SERVICE_ID = "0193b3e5-9fa0-7b1c-8d2e-3f4a5b6c7d8e"
PRACTITIONER_ID = "0193b1c3-7d8e-7f9a-8b0c-1d2e3f4a5b6c"
TIME = {"start_time": "2026-03-10T10:00:00Z", "end_time": "2026-03-10T11:00:00Z"}
BOOKING: dict[str, Any] = {
    "id": BOOKING_ID,
    "service_id": SERVICE_ID,
    "service_kind": "session",
    "service_title": "Morning vinyasa",
    "practitioner_id": PRACTITIONER_ID,
    "practitioner_user_id": "0193b1c3-7d8e-7f9a-8b0c-aaaaaaaaaaaa",
    "client_id": "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11",
    "status": "pending_payment",
    "times": [TIME],
    "price": {"amount_minor": 4500, "currency": "EUR"},
    "seats": 1,
    "notes": "First class; an old knee injury.",
    "entitlement_id": None,
    "hold_expires_at": "2026-03-02T09:15:00Z",
    "payment_id": None,
    "amount_paid": None,
    "refund_percent": None,
    "cancelled_by": None,
    "cancel_reason": None,
    "time_zone": "Europe/Lisbon",
    "location_kind": "virtual",
    "created_at": "2026-03-02T09:00:00Z",
    "updated_at": "2026-03-02T09:00:00Z",
    "confirmed_at": None,
    "cancelled_at": None,
    "completed_at": None,
    "entitlements": [],
    "attendance": None,
}
ENTITLEMENT: dict[str, Any] = {
    "id": "0193c5a7-b1c2-7d3e-8f4a-5b6c7d8e9f0a",
    "service_id": SERVICE_ID,
    "service_title": "Morning vinyasa",
    "practitioner_id": PRACTITIONER_ID,
    "purchase_booking_id": BOOKING_ID,
    "total": 5,
    "used": 2,
    "remaining": 3,
    "status": "active",
    "expires_at": "2026-06-01T09:00:00Z",
    "created_at": "2026-03-02T09:00:00Z",
}


class TimeRange(BaseModel):
    """A stretch of time, UTC, half-open [start_time, end_time)."""

    start_time: datetime
    end_time: datetime

    @classmethod
    def from_proto(cls, t: events_pb2.BookedTime) -> TimeRange:
        return cls.model_construct(start_time=instant(t.start_time), end_time=instant(t.end_time))


class TimeWindow(StrictBody):
    start: Clock
    end: Clock


class WeeklyWindow(StrictBody):
    weekday: WeekdayName
    start: Clock
    end: Clock


class DateOverride(StrictBody):
    day: Day = Field(description="A local date; its windows replace that weekday's.")
    windows: list[TimeWindow] = Field(
        default_factory=list,
        max_length=MAX_OVERRIDE_WINDOWS,
        description="None: a day off.",
    )


class ScheduleBody(StrictBody):
    """A practitioner's weekly hours and date overrides, replacing what was there."""

    model_config = examples(
        {
            "time_zone": "Europe/Lisbon",
            "weekly": [
                {"weekday": "monday", "start": "09:00", "end": "13:00"},
                {"weekday": "monday", "start": "14:00", "end": "18:00"},
                {"weekday": "wednesday", "start": "09:00", "end": "17:00"},
            ],
            "overrides": [{"day": "2026-04-06", "windows": []}],
        }
    )
    time_zone: str = Field(
        "",
        max_length=64,
        examples=["Europe/Lisbon"],
        description="IANA zone; the practitioner's profile zone when empty.",
    )
    weekly: list[WeeklyWindow] = Field(default_factory=list, max_length=MAX_WINDOWS)
    overrides: list[DateOverride] = Field(default_factory=list, max_length=MAX_OVERRIDES)

    def to_proto(self, practitioner_id: str) -> pb.Schedule:
        return pb.Schedule(
            name=f"practitioners/{practitioner_id}/schedule",
            time_zone=self.time_zone,
            weekly=[
                pb.WeeklyWindow(weekday=WEEKDAYS.to_proto(w.weekday), start=w.start, end=w.end)
                for w in self.weekly
            ],
            overrides=[
                pb.DateOverride(
                    day=o.day,
                    windows=[pb.TimeWindow(start=w.start, end=w.end) for w in o.windows],
                )
                for o in self.overrides
            ],
        )


class ScheduleOut(BaseModel):
    model_config = examples(
        {
            "practitioner_id": PRACTITIONER_ID,
            "time_zone": "Europe/Lisbon",
            "weekly": [{"weekday": "monday", "start": "09:00", "end": "17:00"}],
            "overrides": [{"day": "2026-04-06", "windows": []}],
            "updated_at": "2026-03-01T18:00:00Z",
        }
    )
    practitioner_id: str
    time_zone: str
    weekly: list[WeeklyWindow]
    overrides: list[DateOverride]
    updated_at: datetime | None = Field(description="Null until hours are first saved.")

    @classmethod
    def from_proto(cls, s: pb.Schedule) -> ScheduleOut:
        return cls.model_construct(
            practitioner_id=s.practitioner_id,
            time_zone=s.time_zone,
            weekly=[
                WeeklyWindow.model_construct(
                    weekday=WEEKDAYS.from_proto(w.weekday) or "monday", start=w.start, end=w.end
                )
                for w in s.weekly
            ],
            overrides=[
                DateOverride.model_construct(
                    day=o.day,
                    windows=[
                        TimeWindow.model_construct(start=w.start, end=w.end) for w in o.windows
                    ],
                )
                for o in s.overrides
            ],
            updated_at=instant(s.update_time) if s.HasField("update_time") else None,
        )


class AvailabilityOut(BaseModel):
    model_config = examples(
        {
            "practitioner_id": PRACTITIONER_ID,
            "time_zone": "Europe/Lisbon",
            "free": [TIME],
        }
    )
    practitioner_id: str
    time_zone: str = Field(description="The zone the practitioner's hours are kept in.")
    free: list[TimeRange] = Field(description="Free working time, UTC, in order.")

    @classmethod
    def from_proto(cls, a: pb.Availability) -> AvailabilityOut:
        return cls.model_construct(
            practitioner_id=a.practitioner_id,
            time_zone=a.time_zone,
            free=[TimeRange.from_proto(t) for t in a.free],
        )


class Slot(BaseModel):
    start_time: datetime
    end_time: datetime
    local_start: str = Field(
        description="The start as the viewer's wall time, RFC 3339 with its offset.",
        examples=["2026-03-10T15:30:00+05:30"],
    )
    seats_left: Int32 | None = Field(description="Workshops and courses: seats still free.")


class SlotsOut(BaseModel):
    model_config = examples(
        {
            "service_id": SERVICE_ID,
            "service_kind": "session",
            "time_zone": "Asia/Kolkata",
            "slots": [
                {
                    "start_time": "2026-03-10T10:00:00Z",
                    "end_time": "2026-03-10T11:00:00Z",
                    "local_start": "2026-03-10T15:30:00+05:30",
                    "seats_left": None,
                }
            ],
        }
    )
    service_id: str
    service_kind: KindName
    time_zone: str = Field(description="The zone local_start is in.")
    slots: list[Slot]

    @classmethod
    def from_proto(cls, s: pb.ListSlotsResponse) -> SlotsOut:
        group = s.service_kind in (
            catalog_pb2.SERVICE_KIND_WORKSHOP,
            catalog_pb2.SERVICE_KIND_COURSE,
        )
        return cls.model_construct(
            service_id=s.service_id,
            service_kind=SERVICE_KINDS.from_proto(s.service_kind) or "session",
            time_zone=s.time_zone,
            slots=[
                Slot.model_construct(
                    start_time=instant(x.start_time),
                    end_time=instant(x.end_time),
                    local_start=x.local_start,
                    seats_left=x.seats_left if group else None,
                )
                for x in s.slots
            ],
        )


class BookingBody(StrictBody):
    """What to book: a service (and for a session or workshop its start), or an entitlement
    to redeem (and a start). The price is catalog's, never the request's."""

    model_config = examples(
        {"service_id": SERVICE_ID, "start_time": "2026-03-10T10:00:00Z", "notes": "First class."},
        {
            "entitlement_id": "0193c5a7-b1c2-7d3e-8f4a-5b6c7d8e9f0a",
            "start_time": "2026-03-12T10:00:00Z",
        },
        {"service_id": SERVICE_ID, "start_time": "2026-03-14T18:00:00Z", "seats": 2},
    )
    service_id: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$")
    start_time: AwareDatetime | None = Field(
        None, description="A session's start, or which dated session of a workshop."
    )
    seats: int = Field(1, ge=1, le=MAX_SEATS, description="Seats of a workshop or course.")
    entitlement_id: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$")
    notes: str = Field("", max_length=NOTES_LENGTH, description="For the practitioner.")


class CancelBody(StrictBody):
    model_config = examples({"reason": "I am ill, sorry."})
    reason: str = Field("", max_length=REASON_LENGTH)


class RescheduleBody(StrictBody):
    model_config = examples({"start_time": "2026-03-11T15:00:00Z"})
    start_time: AwareDatetime


class EntitlementOut(BaseModel):
    model_config = examples(ENTITLEMENT)
    id: str
    service_id: str = Field(description="The service a redemption books.")
    service_title: str
    practitioner_id: str
    purchase_booking_id: str
    total: Int32
    used: Int32
    remaining: Int32
    status: EntitlementStatusName
    expires_at: datetime
    created_at: datetime

    @classmethod
    def from_proto(cls, e: pb.Entitlement) -> EntitlementOut:
        return cls.model_construct(
            id=e.id,
            service_id=e.service_id,
            service_title=e.service_title,
            practitioner_id=e.practitioner_id,
            purchase_booking_id=e.purchase_booking_id,
            total=e.total,
            used=e.used,
            remaining=e.remaining,
            status=ENTITLEMENT_STATUSES.from_proto(e.status) or "active",
            expires_at=instant(e.expire_time),
            created_at=instant(e.create_time),
        )


class AttendeeOut(BaseModel):
    """One person's time in a session room."""

    user_id: str
    first_joined_at: datetime | None = Field(description="Null if only a leave arrived yet.")
    last_left_at: datetime | None = Field(description="Null while no leave has arrived.")
    seconds_present: Int32 = Field(description="Between each join and the leave after it.")
    present: bool = Field(description="In the room now (the latest join has no leave yet).")

    @classmethod
    def from_proto(cls, a: pb.Attendee) -> AttendeeOut:
        return cls.model_construct(
            user_id=a.user_id,
            first_joined_at=instant(a.first_join_time) if a.HasField("first_join_time") else None,
            last_left_at=instant(a.last_leave_time) if a.HasField("last_leave_time") else None,
            seconds_present=a.seconds_present,
            present=a.present,
        )


class AttendanceOut(BaseModel):
    """A virtual booking's session room as booking heard of it."""

    client: AttendeeOut | None = Field(description="Null while the client was not seen.")
    practitioner: AttendeeOut | None = Field(
        description="Null while the practitioner was not seen."
    )

    @classmethod
    def from_proto(cls, a: pb.Attendance) -> AttendanceOut:
        return cls.model_construct(
            client=AttendeeOut.from_proto(a.client) if a.HasField("client") else None,
            practitioner=(
                AttendeeOut.from_proto(a.practitioner) if a.HasField("practitioner") else None
            ),
        )


class BookingOut(BaseModel):
    model_config = examples(BOOKING)
    id: str
    service_id: str
    service_kind: KindName
    service_title: str
    practitioner_id: str
    practitioner_user_id: str
    client_id: str
    status: BookingStatusName
    times: list[TimeRange] = Field(description="Empty for a package or bundle purchase.")
    price: Money = Field(description="Catalog's price; 0 for a free booking or a redemption.")
    seats: Int32
    notes: str
    entitlement_id: str | None = Field(description="The entitlement a redemption used.")
    hold_expires_at: datetime | None = Field(description="An unpaid booking lets its time go then.")
    payment_id: str | None
    amount_paid: Money | None
    refund_percent: Int32 | None = Field(description="Of a cancelled booking.")
    cancelled_by: ActorName | None
    cancel_reason: str | None
    time_zone: str = Field(description="The practitioner's IANA zone.")
    location_kind: LocationKindName
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    completed_at: datetime | None
    entitlements: list[EntitlementOut] = Field(
        description="A paid package's or bundle's entitlements."
    )
    attendance: AttendanceOut | None = Field(
        description="Who was in a virtual booking's session room: for its client and "
        "practitioner reading one booking; null for anyone else, in lists and in person."
    )

    @classmethod
    def from_proto(cls, b: pb.Booking) -> BookingOut:
        cancelled = b.status == pb.BOOKING_STATUS_CANCELLED

        def at(field: str) -> datetime | None:
            return instant(getattr(b, field)) if b.HasField(field) else None

        return cls.model_construct(
            id=b.id,
            service_id=b.service_id,
            service_kind=SERVICE_KINDS.from_proto(b.service_kind) or "session",
            service_title=b.service_title,
            practitioner_id=b.practitioner_id,
            practitioner_user_id=b.practitioner_user_id,
            client_id=b.client_id,
            status=BOOKING_STATUSES.from_proto(b.status) or "pending_payment",
            times=[TimeRange.from_proto(t) for t in b.times],
            price=Money.from_proto(b.price),
            seats=b.seats,
            notes=b.notes,
            entitlement_id=b.entitlement_id or None,
            hold_expires_at=at("hold_expire_time"),
            payment_id=b.payment_id or None,
            amount_paid=Money.from_proto(b.amount_paid) if b.HasField("amount_paid") else None,
            refund_percent=b.refund_percent if cancelled else None,
            cancelled_by=ACTORS.from_proto(b.cancelled_by),
            cancel_reason=b.cancel_reason if cancelled else None,
            time_zone=b.time_zone,
            location_kind=LOCATION_KINDS.from_proto(b.location_kind) or "virtual",
            created_at=instant(b.create_time),
            updated_at=instant(b.update_time),
            confirmed_at=at("confirm_time"),
            cancelled_at=at("cancel_time"),
            completed_at=at("complete_time"),
            entitlements=[EntitlementOut.from_proto(e) for e in b.entitlements],
            attendance=AttendanceOut.from_proto(b.attendance) if b.HasField("attendance") else None,
        )


class WaitlistBody(StrictBody):
    model_config = examples({"start_time": "2026-03-14T18:00:00Z"}, {})
    start_time: AwareDatetime | None = Field(
        None, description="Which dated session of a workshop; empty for a course."
    )


class WaitlistEntryOut(BaseModel):
    model_config = examples(
        {
            "id": "0193c6b8-c2d3-7e4f-8a5b-6c7d8e9f0a1b",
            "service_id": SERVICE_ID,
            "start_time": "2026-03-14T18:00:00Z",
            "status": "waiting",
            "ahead": 2,
            "offer_expires_at": None,
            "created_at": "2026-03-02T09:00:00Z",
        }
    )
    id: str
    service_id: str
    start_time: datetime = Field(description="The dated session (a course: its first meeting).")
    status: WaitlistStatusName
    ahead: Int32 = Field(description="Clients ahead in line.")
    offer_expires_at: datetime | None = Field(
        description="While offered: book the seat before then."
    )
    created_at: datetime

    @classmethod
    def from_proto(cls, w: pb.WaitlistEntry) -> WaitlistEntryOut:
        return cls.model_construct(
            id=w.id,
            service_id=w.service_id,
            start_time=instant(w.start_time),
            status=WAITLIST_STATUSES.from_proto(w.status) or "waiting",
            ahead=w.ahead,
            offer_expires_at=(
                instant(w.offer_expire_time) if w.HasField("offer_expire_time") else None
            ),
            created_at=instant(w.create_time),
        )


class CalendarFeedOut(BaseModel):
    model_config = examples(
        {
            "url": "https://api.estuary.example/api/v1/calendar-feed.ics?token=q3Zx...",
            "token": "q3Zx...",
            "created_at": "2026-03-02T09:00:00Z",
        }
    )
    url: str = Field(description="Subscribe to it in a calendar app; anyone holding it reads it.")
    token: str = Field(description="The secret in the url; shown only now.")
    created_at: datetime
