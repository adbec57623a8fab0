"""Booking's proto mapping: its enums matched to the protos' by the chassis's wire kit, and its
domain objects to and from their messages, for the servicer, the events and catalog's answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, time

from chassis.money import Money
from chassis.validation import Violations
from chassis.wire import ProtoEnum, instant, timestamp
from estuary.booking.v1 import booking_pb2 as pb
from estuary.booking.v1 import events_pb2
from estuary.catalog.v1 import catalog_pb2
from estuary.catalog.v1 import events_pb2 as catalog_events
from estuary.type.v1 import money_pb2
from services.booking.domain.attendance import Attendance, Attendee
from services.booking.domain.availability import (
    DateOverride,
    LocalWindow,
    Schedule,
    WeeklyWindow,
    check_schedule,
)
from services.booking.domain.bookings import Actor, BookedTime, Booking, BookingStatus
from services.booking.domain.entitlements import Entitlement, EntitlementStatus
from services.booking.domain.events import Reminder
from services.booking.domain.terms import (
    BundleItem,
    DatedSession,
    LocationKind,
    PackageTerms,
    RefundRule,
    ServiceKind,
    ServiceTerms,
)
from services.booking.domain.waitlist import WaitlistEntry, WaitlistStatus

SERVICE_KINDS = ProtoEnum(catalog_pb2.ServiceKind, ServiceKind)
LOCATION_KINDS = ProtoEnum(catalog_pb2.LocationKind, LocationKind)
BOOKING_STATUSES = ProtoEnum(pb.BookingStatus, BookingStatus)
ACTORS = ProtoEnum(events_pb2.Actor, Actor)
REMINDERS = ProtoEnum(events_pb2.Reminder, Reminder)
ENTITLEMENT_STATUSES = ProtoEnum(pb.EntitlementStatus, EntitlementStatus)
WAITLIST_STATUSES = ProtoEnum(pb.WaitlistStatus, WaitlistStatus)

_CLOCK = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def money(value: Money) -> money_pb2.Money:
    return value.to_proto()


def booked_time(time_: BookedTime) -> events_pb2.BookedTime:
    return events_pb2.BookedTime(start_time=timestamp(time_.start), end_time=timestamp(time_.end))


def snapshot(booking: Booking) -> events_pb2.BookingSnapshot:
    """What every booking event carries."""
    return events_pb2.BookingSnapshot(
        booking_id=booking.id,
        service_id=booking.service_id,
        service_kind=SERVICE_KINDS.to_proto(booking.kind),
        service_title=booking.title,
        practitioner_id=booking.practitioner_id,
        practitioner_user_id=booking.practitioner_user_id,
        client_id=booking.client_id,
        time_zone=booking.time_zone,
        times=[booked_time(t) for t in booking.times],
        price=money(booking.price),
        seats=booking.seats,
        entitlement_id=booking.entitlement_id or "",
        location_kind=LOCATION_KINDS.to_proto(booking.location_kind),
    )


def booking_to_proto(
    booking: Booking,
    granted: Sequence[Entitlement] = (),
    now: datetime | None = None,
    attendance: Attendance | None = None,
) -> pb.Booking:
    message = pb.Booking(
        name=f"bookings/{booking.id}",
        id=booking.id,
        service_id=booking.service_id,
        service_kind=SERVICE_KINDS.to_proto(booking.kind),
        service_title=booking.title,
        practitioner_id=booking.practitioner_id,
        practitioner_user_id=booking.practitioner_user_id,
        client_id=booking.client_id,
        status=BOOKING_STATUSES.to_proto(booking.status),
        times=[booked_time(t) for t in booking.times],
        price=money(booking.price),
        seats=booking.seats,
        notes=booking.notes,
        entitlement_id=booking.entitlement_id or "",
        payment_id=booking.payment_id,
        refund_percent=booking.refund_percent or 0,
        cancel_reason=booking.cancel_reason,
        time_zone=booking.time_zone,
        location_kind=LOCATION_KINDS.to_proto(booking.location_kind),
        create_time=timestamp(booking.created_at),
        update_time=timestamp(booking.updated_at),
    )
    if booking.amount_paid_minor is not None:
        message.amount_paid.CopyFrom(money(booking.amount_paid))
    if booking.cancelled_by is not None:
        message.cancelled_by = ACTORS.to_proto(booking.cancelled_by)
    for field, value in (
        ("hold_expire_time", booking.hold_expires_at),
        ("confirm_time", booking.confirmed_at),
        ("cancel_time", booking.cancelled_at),
        ("complete_time", booking.completed_at),
    ):
        if value is not None:
            getattr(message, field).CopyFrom(timestamp(value))
    if granted:
        assert now is not None
        message.entitlements.extend(entitlement_to_proto(e, now) for e in granted)
    if attendance is not None:
        message.attendance.SetInParent()
        for field, attendee in (
            ("client", attendance.client),
            ("practitioner", attendance.practitioner),
        ):
            if attendee is not None:
                getattr(message.attendance, field).CopyFrom(attendee_to_proto(attendee))
    return message


def attendee_to_proto(attendee: Attendee) -> pb.Attendee:
    message = pb.Attendee(
        user_id=attendee.user_id,
        seconds_present=attendee.seconds_present,
        present=attendee.present,
    )
    if attendee.first_joined_at is not None:
        message.first_join_time.CopyFrom(timestamp(attendee.first_joined_at))
    if attendee.last_left_at is not None:
        message.last_leave_time.CopyFrom(timestamp(attendee.last_left_at))
    return message


def entitlement_to_proto(entitlement: Entitlement, now: datetime) -> pb.Entitlement:
    return pb.Entitlement(
        name=f"entitlements/{entitlement.id}",
        id=entitlement.id,
        service_id=entitlement.service_id,
        service_title=entitlement.service_title,
        practitioner_id=entitlement.practitioner_id,
        purchase_booking_id=entitlement.purchase_booking_id,
        total=entitlement.total,
        used=entitlement.used,
        remaining=max(entitlement.remaining, 0),
        status=ENTITLEMENT_STATUSES.to_proto(entitlement.status(now)),
        expire_time=timestamp(entitlement.expires_at),
        create_time=timestamp(entitlement.created_at),
    )


def waitlist_entry_to_proto(entry: WaitlistEntry, ahead: int) -> pb.WaitlistEntry:
    message = pb.WaitlistEntry(
        name=f"waitlist/{entry.id}",
        id=entry.id,
        service_id=entry.service_id,
        client_id=entry.client_id,
        start_time=timestamp(entry.starts_at),
        status=WAITLIST_STATUSES.to_proto(entry.status),
        ahead=ahead,
        create_time=timestamp(entry.created_at),
    )
    if entry.offer_expires_at is not None:
        message.offer_expire_time.CopyFrom(timestamp(entry.offer_expires_at))
    return message


# Service terms, from catalog's events and answers ------------------------------------------


def _policy(rules: Sequence[catalog_pb2.RefundRule]) -> tuple[RefundRule, ...]:
    ordered = sorted(rules, key=lambda r: r.hours_before, reverse=True)
    return tuple(RefundRule(r.hours_before, r.refund_percent) for r in ordered)


def _kind(number: int) -> ServiceKind:
    kind = SERVICE_KINDS.from_proto(number)
    if kind is None:
        raise ValueError(f"a service of no known kind ({number})")
    return kind


def _common_terms(message: catalog_events.ServiceTerms | catalog_pb2.Service) -> dict[str, object]:
    """The fields catalog's ServiceTerms and Service messages share, by the same names."""
    return {
        "kind": _kind(message.kind),
        "title": message.title,
        "price_minor": message.price.amount_minor,
        "currency": message.price.currency,
        "duration_minutes": message.duration_minutes,
        "max_participants": message.max_participants or 1,
        "buffer_before_minutes": message.buffer_before_minutes,
        "buffer_after_minutes": message.buffer_after_minutes,
        "min_notice_minutes": message.min_notice_minutes,
        "booking_window_days": message.booking_window_days,
        "updated_at": instant(message.update_time),
        "on_sale": message.status == catalog_pb2.SERVICE_STATUS_ACTIVE,
        "cancellation_policy": _policy(message.cancellation_policy),
        "sessions": tuple(
            DatedSession(instant(s.start_time), s.duration_minutes)
            for s in sorted(message.sessions, key=lambda s: s.start_time.ToNanoseconds())
        ),
        "package": (
            PackageTerms(
                message.package.session_service_id,
                message.package.session_count,
                message.package.validity_days,
            )
            if message.HasField("package")
            else None
        ),
        "bundle_items": tuple(BundleItem(i.service_id, i.quantity) for i in message.bundle_items),
    }


def terms_from_event(message: catalog_events.ServiceTerms) -> ServiceTerms:
    """The terms service.published and service.updated carry."""
    if not message.service_id or not message.practitioner_user_id:
        raise ValueError("service terms name no service or practitioner")
    return ServiceTerms(
        service_id=message.service_id,
        practitioner_id=message.practitioner_id,
        practitioner_user_id=message.practitioner_user_id,
        time_zone=message.timezone,
        location_kind=LOCATION_KINDS.from_proto(message.location_kind) or LocationKind.VIRTUAL,
        location_id=message.location_id,
        **_common_terms(message),  # type: ignore[arg-type]
    )


def terms_from_service(
    service: catalog_pb2.Service, practitioner: catalog_pb2.Practitioner
) -> ServiceTerms:
    """The terms of a service catalog answered for (BatchGetServices), with its owner."""
    return ServiceTerms(
        service_id=service.id,
        practitioner_id=service.practitioner_id,
        practitioner_user_id=practitioner.user_id,
        time_zone=practitioner.timezone,
        location_kind=LOCATION_KINDS.from_proto(service.location.kind) or LocationKind.VIRTUAL,
        location_id=service.location.location_id,
        **_common_terms(service),  # type: ignore[arg-type]
    )


# Schedules ------------------------------------------------------------------------------------


def _clock(v: Violations, field: str, value: str, *, end: bool) -> time | None:
    if end and value == "24:00":
        return time(0)
    if not _CLOCK.fullmatch(value):
        allowed = "HH:MM (00:00-23:59, or 24:00 as an end)" if end else "HH:MM (00:00-23:59)"
        v.add(field, f"must be a local time {allowed}", "invalid")
        return None
    return time.fromisoformat(value)


def _window(v: Violations, field: str, start: str, end: str) -> LocalWindow | None:
    opens = _clock(v, f"{field}.start", start, end=False)
    closes = _clock(v, f"{field}.end", end, end=True)
    return LocalWindow(opens, closes) if opens is not None and closes is not None else None


def schedule_from_proto(message: pb.Schedule, default_zone: str) -> Schedule:
    """A schedule from a request, every field checked (errors name them all)."""
    v = Violations()
    weekly = []
    for index, item in enumerate(message.weekly):
        field = f"weekly[{index}]"
        if not 1 <= item.weekday <= 7:
            v.add(f"{field}.weekday", "must be a day of the week", "required")
        window = _window(v, field, item.start, item.end)
        if window is not None and 1 <= item.weekday <= 7:
            weekly.append(WeeklyWindow(item.weekday - 1, window))
    overrides = []
    for index, override in enumerate(message.overrides):
        field = f"overrides[{index}]"
        day: date | None = None
        if _DATE.fullmatch(override.day):
            try:
                day = date.fromisoformat(override.day)
            except ValueError:
                day = None
        if day is None:
            v.add(f"{field}.day", "must be a date YYYY-MM-DD", "invalid")
        windows = [
            _window(v, f"{field}.windows[{n}]", w.start, w.end)
            for n, w in enumerate(override.windows)
        ]
        if day is not None and all(w is not None for w in windows):
            overrides.append(DateOverride(day, tuple(w for w in windows if w is not None)))
    v.raise_if_any()
    return check_schedule(message.time_zone or default_zone, weekly, overrides)


def _hhmm(value: time, *, end: bool) -> str:
    if end and value == time(0):
        return "24:00"
    return value.strftime("%H:%M")


def schedule_to_proto(
    practitioner_id: str, schedule: Schedule, saved_at: datetime | None
) -> pb.Schedule:
    message = pb.Schedule(
        name=f"practitioners/{practitioner_id}/schedule",
        practitioner_id=practitioner_id,
        time_zone=schedule.time_zone,
        weekly=[
            pb.WeeklyWindow(
                weekday=w.weekday + 1,
                start=_hhmm(w.window.start, end=False),
                end=_hhmm(w.window.end, end=True),
            )
            for w in schedule.weekly
        ],
        overrides=[
            pb.DateOverride(
                day=o.day.isoformat(),
                windows=[
                    pb.TimeWindow(start=_hhmm(w.start, end=False), end=_hhmm(w.end, end=True))
                    for w in o.windows
                ],
            )
            for o in schedule.overrides
        ],
    )
    if saved_at is not None:
        message.update_time.CopyFrom(timestamp(saved_at))
    return message
