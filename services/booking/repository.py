"""Booking's repositories: every query its handlers, consumers and jobs make. The unit of
work holds one of each."""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus
from chassis.db import insert_ignoring_conflicts
from chassis.errors import FailedPrecondition
from chassis.ids import new_id
from chassis.lifecycle import Lifecycle
from chassis.money import Money
from chassis.tables import account_statuses
from services.booking.domain.attendance import Attendance, Mark, Presence
from services.booking.domain.availability import (
    DateOverride,
    Interval,
    LocalWindow,
    Schedule,
    Span,
    WeeklyWindow,
)
from services.booking.domain.bookings import (
    HOLDING,
    Actor,
    BookedTime,
    Booking,
    BookingStatus,
)
from services.booking.domain.entitlements import Entitlement
from services.booking.domain.practitioners import Practitioner
from services.booking.domain.terms import (
    GROUP_KINDS,
    BundleItem,
    DatedSession,
    LocationKind,
    PackageTerms,
    RefundRule,
    ServiceKind,
    ServiceTerms,
)
from services.booking.domain.waitlist import IN_LINE, WaitlistEntry, WaitlistStatus
from services.booking.tables import (
    attendance_marks,
    booking_times,
    bookings,
    calendar_feeds,
    entitlements,
    group_sessions,
    occupancy,
    practitioners,
    reminders_sent,
    schedules,
    service_terms,
    waitlist_entries,
)

# PostgreSQL's SQLSTATE for a broken exclusion constraint.
_PG_EXCLUSION = "23P01"

BOOKING_STATUS = Lifecycle(bookings, noun="booking")
WAITLIST_STATUS = Lifecycle(waitlist_entries, noun="waitlist entry")


class SlotTaken(FailedPrecondition):
    """The time asked for overlaps what the practitioner already has (409)."""

    def __init__(self, wanted: Interval, conflict: Interval | None = None) -> None:
        taken = conflict or wanted
        super().__init__(
            f"the practitioner is booked from {taken.start.isoformat()} to "
            f"{taken.end.isoformat()} (buffers included): that time is taken",
            reason="SLOT_TAKEN",
            metadata={
                "conflict_start": taken.start.isoformat(),
                "conflict_end": taken.end.isoformat(),
            },
        )


class SeatsTaken(FailedPrecondition):
    def __init__(self, left: int) -> None:
        super().__init__(
            f"not enough seats left ({left})",
            reason="SEATS_TAKEN",
            metadata={"seats_left": str(max(left, 0))},
        )


def _is_exclusion_violation(error: sa.exc.IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == _PG_EXCLUSION


def overlapping(column_from: Any, column_until: Any, span: Interval) -> Any:
    """Rows whose [from, until) shares an instant with span."""
    return sa.and_(column_from < span.end, column_until > span.start)


# Practitioners and schedules -----------------------------------------------------------------


class Practitioners:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, practitioner_id: str) -> Practitioner | None:
        row = (
            await self._c.execute(
                sa.select(practitioners).where(practitioners.c.id == practitioner_id)
            )
        ).first()
        return Practitioner(row.id, row.user_id, row.time_zone, row.updated_at) if row else None

    async def remember(self, practitioner: Practitioner) -> None:
        """Records who owns a practitioner profile and its zone, unless newer news is held."""
        await self._c.execute(
            insert_ignoring_conflicts(self._c.dialect.name, practitioners, ["id"]),
            {
                "id": practitioner.id,
                "user_id": practitioner.user_id,
                "time_zone": practitioner.time_zone,
                "updated_at": practitioner.updated_at,
            },
        )
        await self._c.execute(
            practitioners.update()
            .where(
                practitioners.c.id == practitioner.id,
                practitioners.c.updated_at < practitioner.updated_at,
            )
            .values(
                user_id=practitioner.user_id,
                time_zone=practitioner.time_zone,
                updated_at=practitioner.updated_at,
            )
        )


def _minutes(window: LocalWindow) -> dict[str, str]:
    return {"start": window.start.strftime("%H:%M"), "end": window.end.strftime("%H:%M")}


def _window(stored: dict[str, str]) -> LocalWindow:
    return LocalWindow(time.fromisoformat(stored["start"]), time.fromisoformat(stored["end"]))


def _schedule(row: sa.Row) -> Schedule:
    weekly = tuple(WeeklyWindow(w["weekday"], _window(w)) for w in row.weekly)
    overrides = tuple(
        DateOverride(date.fromisoformat(o["date"]), tuple(_window(w) for w in o["windows"]))
        for o in row.overrides
    )
    return Schedule(row.time_zone, weekly, overrides)


@dataclass(frozen=True)
class Hours:
    """A practitioner's schedule, and whether the dated sessions of their workshops and
    courses on sale must be read as busy time too."""

    schedule: Schedule
    sells_group_sessions: bool


# A practitioner's schedule, with whether they have a workshop or course on sale; built once
# (see _TERMS_WITH_STATUS).
_HOURS = sa.select(
    schedules,
    sa.exists()
    .where(
        service_terms.c.practitioner_id == schedules.c.practitioner_id,
        service_terms.c.kind.in_([k.value for k in GROUP_KINDS]),
        service_terms.c.on_sale.is_(True),
    )
    .label("sells_group_sessions"),
).where(schedules.c.practitioner_id == sa.bindparam("practitioner_id"))


class Schedules:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, practitioner_id: str) -> tuple[Schedule, datetime] | None:
        """The practitioner's schedule and when it was saved, if ever."""
        row = (
            await self._c.execute(
                sa.select(schedules).where(schedules.c.practitioner_id == practitioner_id)
            )
        ).first()
        return (_schedule(row), row.updated_at) if row is not None else None

    async def hours(self, practitioner_id: str) -> Hours | None:
        """The practitioner's schedule, if ever saved, with whether a workshop or course of
        theirs is on sale (whose dates are busy time): one read."""
        row = (await self._c.execute(_HOURS, {"practitioner_id": practitioner_id})).first()
        return Hours(_schedule(row), row.sells_group_sessions) if row is not None else None

    async def save(self, practitioner_id: str, schedule: Schedule, now: datetime) -> None:
        values = {
            "time_zone": schedule.time_zone,
            "weekly": [{"weekday": w.weekday, **_minutes(w.window)} for w in schedule.weekly],
            "overrides": [
                {"date": o.day.isoformat(), "windows": [_minutes(w) for w in o.windows]}
                for o in schedule.overrides
            ],
            "updated_at": now,
        }
        changed = await self._c.execute(
            schedules.update()
            .where(schedules.c.practitioner_id == practitioner_id)
            .values(**values)
            .returning(schedules.c.practitioner_id)
        )
        if changed.first() is None:
            await self._c.execute(
                schedules.insert().values(practitioner_id=practitioner_id, **values)
            )


# Service terms --------------------------------------------------------------------------------


def _terms_columns(terms: ServiceTerms) -> dict[str, Any]:
    return {
        "practitioner_id": terms.practitioner_id,
        "practitioner_user_id": terms.practitioner_user_id,
        "time_zone": terms.time_zone,
        "kind": terms.kind.value,
        "title": terms.title,
        "price_minor": terms.price_minor,
        "currency": terms.currency,
        "duration_minutes": terms.duration_minutes,
        "max_participants": terms.max_participants,
        "buffer_before_minutes": terms.buffer_before_minutes,
        "buffer_after_minutes": terms.buffer_after_minutes,
        "min_notice_minutes": terms.min_notice_minutes,
        "booking_window_days": terms.booking_window_days,
        "cancellation_policy": [
            [r.hours_before, r.refund_percent] for r in terms.cancellation_policy
        ],
        "location_kind": terms.location_kind.value,
        "location_id": terms.location_id,
        "sessions": [[s.start.isoformat(), s.duration_minutes] for s in terms.sessions],
        "package": (
            [
                terms.package.session_service_id,
                terms.package.session_count,
                terms.package.validity_days,
            ]
            if terms.package
            else None
        ),
        "bundle_items": [[i.service_id, i.quantity] for i in terms.bundle_items],
        "on_sale": terms.on_sale,
        "updated_at": terms.updated_at,
    }


def _terms(row: sa.Row) -> ServiceTerms:
    return ServiceTerms(
        service_id=row.service_id,
        practitioner_id=row.practitioner_id,
        practitioner_user_id=row.practitioner_user_id,
        time_zone=row.time_zone,
        kind=ServiceKind(row.kind),
        title=row.title,
        price_minor=row.price_minor,
        currency=row.currency,
        duration_minutes=row.duration_minutes,
        max_participants=row.max_participants,
        buffer_before_minutes=row.buffer_before_minutes,
        buffer_after_minutes=row.buffer_after_minutes,
        min_notice_minutes=row.min_notice_minutes,
        booking_window_days=row.booking_window_days,
        location_kind=LocationKind(row.location_kind),
        updated_at=row.updated_at,
        on_sale=row.on_sale,
        cancellation_policy=policy_of(row.cancellation_policy),
        location_id=row.location_id,
        sessions=tuple(
            DatedSession(datetime.fromisoformat(start), minutes) for start, minutes in row.sessions
        ),
        package=PackageTerms(*row.package) if row.package else None,
        bundle_items=tuple(
            BundleItem(service_id, quantity) for service_id, quantity in row.bundle_items
        ),
    )


def policy_of(stored: Iterable[Sequence[int]]) -> tuple[RefundRule, ...]:
    return tuple(RefundRule(hours, percent) for hours, percent in stored)


# The reads every booking or request for slots makes, built once: building a statement and
# its cache key again for each call costs about as much CPU as running it.
_TERMS_WITH_STATUS = (
    sa.select(service_terms, account_statuses.c.status.label("practitioner_status"))
    .outerjoin(account_statuses, account_statuses.c.user_id == service_terms.c.practitioner_user_id)
    .where(service_terms.c.service_id == sa.bindparam("service_id"))
)


class Terms:
    """The copy of each service's terms."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, service_id: str) -> ServiceTerms | None:
        found = await self.get_many([service_id])
        return found[0] if found else None

    async def get_with_status(self, service_id: str) -> tuple[ServiceTerms, AccountStatus] | None:
        """A service's terms and its practitioner's account status, in one read."""
        row = (await self._c.execute(_TERMS_WITH_STATUS, {"service_id": service_id})).first()
        if row is None:
            return None
        return _terms(row), account_status(row.practitioner_status)

    async def get_many(self, service_ids: Collection[str]) -> list[ServiceTerms]:
        if not service_ids:
            return []
        rows = await self._c.execute(
            sa.select(service_terms).where(service_terms.c.service_id.in_(list(service_ids)))
        )
        return [_terms(row) for row in rows]

    async def save(self, terms: ServiceTerms) -> bool:
        """Keeps these terms unless newer ones are held; whether they were kept."""
        columns = _terms_columns(terms)
        inserted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, service_terms, ["service_id"]
            ).returning(service_terms.c.service_id),
            {"service_id": terms.service_id, **columns},
        )
        if inserted.first() is not None:
            return True
        changed = await self._c.execute(
            service_terms.update()
            .where(
                service_terms.c.service_id == terms.service_id,
                service_terms.c.updated_at <= terms.updated_at,
            )
            .values(**columns)
            .returning(service_terms.c.service_id)
        )
        return changed.first() is not None

    async def group_services_of(self, practitioner_id: str) -> list[ServiceTerms]:
        """The practitioner's workshops and courses on sale: their dated sessions are busy
        time for their other services even before a seat is sold."""
        rows = await self._c.execute(
            sa.select(service_terms).where(
                service_terms.c.practitioner_id == practitioner_id,
                service_terms.c.kind.in_([k.value for k in GROUP_KINDS]),
                service_terms.c.on_sale.is_(True),
            )
        )
        return [_terms(row) for row in rows]


# Bookings -------------------------------------------------------------------------------------


def _booking_columns(booking: Booking) -> dict[str, Any]:
    return {
        "client_id": booking.client_id,
        "service_id": booking.service_id,
        "kind": booking.kind.value,
        "title": booking.title,
        "practitioner_id": booking.practitioner_id,
        "practitioner_user_id": booking.practitioner_user_id,
        "time_zone": booking.time_zone,
        "location_kind": booking.location_kind.value,
        "status": booking.status.value,
        "seats": booking.seats,
        "price_minor": booking.price.amount_minor,
        "currency": booking.price.currency,
        "notes": booking.notes,
        "entitlement_id": booking.entitlement_id,
        "starts_at": booking.starts_at,
        "ends_at": booking.ends_at,
        "hold_expires_at": booking.hold_expires_at,
        "payment_id": booking.payment_id,
        "amount_paid_minor": booking.amount_paid_minor,
        "refund_percent": booking.refund_percent,
        "cancelled_by": booking.cancelled_by.value if booking.cancelled_by else None,
        "cancel_reason": booking.cancel_reason,
        "cancellation_policy": [[r.hours_before, r.refund_percent] for r in booking.policy],
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
        "confirmed_at": booking.confirmed_at,
        "cancelled_at": booking.cancelled_at,
        "completed_at": booking.completed_at,
        "armed_at": booking.armed_at,
    }


# What a state change writes (everything but who, what and when it was made).
_CHANGING = (
    "status",
    "hold_expires_at",
    "payment_id",
    "amount_paid_minor",
    "refund_percent",
    "cancelled_by",
    "cancel_reason",
    "updated_at",
    "confirmed_at",
    "cancelled_at",
    "completed_at",
    "armed_at",
    "starts_at",
    "ends_at",
)


def _booking(row: sa.Row, times: list[BookedTime]) -> Booking:
    return Booking(
        id=row.id,
        client_id=row.client_id,
        service_id=row.service_id,
        kind=ServiceKind(row.kind),
        title=row.title,
        practitioner_id=row.practitioner_id,
        practitioner_user_id=row.practitioner_user_id,
        time_zone=row.time_zone,
        location_kind=LocationKind(row.location_kind),
        status=BookingStatus(row.status),
        seats=row.seats,
        price=Money(row.price_minor, row.currency),
        times=times,
        created_at=row.created_at,
        updated_at=row.updated_at,
        notes=row.notes,
        entitlement_id=row.entitlement_id,
        hold_expires_at=row.hold_expires_at,
        payment_id=row.payment_id,
        amount_paid_minor=row.amount_paid_minor,
        refund_percent=row.refund_percent,
        cancelled_by=Actor(row.cancelled_by) if row.cancelled_by else None,
        cancel_reason=row.cancel_reason,
        confirmed_at=row.confirmed_at,
        cancelled_at=row.cancelled_at,
        completed_at=row.completed_at,
        armed_at=row.armed_at,
        policy=policy_of(row.cancellation_policy),
    )


@dataclass(frozen=True)
class BookedMeeting:
    """One time of a booking, with the group session it sits in (if any)."""

    booking: Booking
    position: int
    time: BookedTime
    group_session_id: str | None


class Bookings:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, booking: Booking, group_session_ids: Sequence[str | None] = ()) -> None:
        # One cached statement with the values as parameters: a statement built with
        # .values() is compiled (and its cache key made) anew for every booking.
        await self._c.execute(bookings.insert(), {"id": booking.id, **_booking_columns(booking)})
        await self._write_times(booking, group_session_ids)

    async def _write_times(
        self, booking: Booking, group_session_ids: Sequence[str | None] = ()
    ) -> None:
        if not booking.times:
            return
        groups = list(group_session_ids) or [None] * len(booking.times)
        await self._c.execute(
            booking_times.insert(),
            [
                {
                    "booking_id": booking.id,
                    "position": position,
                    "starts_at": t.start,
                    "ends_at": t.end,
                    "group_session_id": group,
                }
                for position, (t, group) in enumerate(zip(booking.times, groups, strict=True))
            ],
        )

    async def get(self, booking_id: str) -> Booking | None:
        found = await self.get_many([booking_id])
        return found[0] if found else None

    async def get_many(self, ids: Sequence[str]) -> list[Booking]:
        """Bookings by id, in the order asked (the unknown left out)."""
        if not ids:
            return []
        rows = {
            row.id: row
            for row in await self._c.execute(sa.select(bookings).where(bookings.c.id.in_(ids)))
        }
        return await self._with_times([rows[i] for i in ids if i in rows])

    async def _with_times(self, rows: Sequence[sa.Row]) -> list[Booking]:
        if not rows:
            return []
        times: dict[str, list[BookedTime]] = {}
        for t in await self._c.execute(
            sa.select(booking_times)
            .where(booking_times.c.booking_id.in_([r.id for r in rows]))
            .order_by(booking_times.c.booking_id, booking_times.c.position)
        ):
            times.setdefault(t.booking_id, []).append(BookedTime(t.starts_at, t.ends_at))
        return [_booking(row, times.get(row.id, [])) for row in rows]

    async def group_session_ids(self, booking_id: str) -> list[str]:
        rows = await self._c.execute(
            sa.select(booking_times.c.group_session_id)
            .where(
                booking_times.c.booking_id == booking_id,
                booking_times.c.group_session_id.is_not(None),
            )
            .order_by(booking_times.c.position)
        )
        return [r.group_session_id for r in rows]

    async def move(
        self, booking: Booking, expected: BookingStatus | Collection[BookingStatus]
    ) -> None:
        """Writes a booking's change only if it is still in the state it was read in."""
        allowed = [expected] if isinstance(expected, BookingStatus) else list(expected)
        columns = _booking_columns(booking)
        await BOOKING_STATUS.move(
            self._c,
            booking.id,
            expected=[s.value for s in allowed],
            values={name: columns[name] for name in _CHANGING},
        )

    async def move_times(self, booking: Booking) -> None:
        """Replaces a booking's times (a reschedule; group seats never move)."""
        await self._c.execute(
            booking_times.delete().where(booking_times.c.booking_id == booking.id)
        )
        await self._write_times(booking)

    async def erase_notes_of(self, client_id: str) -> int:
        erased = await self._c.execute(
            bookings.update()
            .where(bookings.c.client_id == client_id, bookings.c.notes != "")
            .values(notes="")
            .returning(bookings.c.id)
        )
        return len(erased.all())

    async def upcoming_ids(
        self, *, now: datetime, client_id: str = "", practitioner_user_id: str = ""
    ) -> list[str]:
        """Bookings of a client or a practitioner that hold time not yet started."""
        condition = (
            bookings.c.client_id == client_id
            if client_id
            else bookings.c.practitioner_user_id == practitioner_user_id
        )
        rows = await self._c.execute(
            sa.select(bookings.c.id).where(
                condition,
                bookings.c.status.in_([s.value for s in HOLDING]),
                sa.or_(bookings.c.starts_at.is_(None), bookings.c.starts_at > now),
            )
        )
        return [r.id for r in rows]

    async def page_of_client(
        self,
        client_id: str,
        *,
        scope: str,
        status: BookingStatus | None,
        now: datetime,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> tuple[list[Booking], int]:
        """One page of a client's bookings: upcoming soonest first, past latest first, all
        newest first; keyset on (sort instant in microseconds, id)."""
        conditions: list[Any] = [bookings.c.client_id == client_id]
        if status is not None:
            conditions.append(bookings.c.status == status.value)
        order: list[Any]
        if scope == "upcoming":
            conditions.append(bookings.c.ends_at > now)
            key, ascending = bookings.c.starts_at, True
        elif scope == "past":
            conditions.append(bookings.c.ends_at <= now)
            key, ascending = bookings.c.ends_at, False
        else:
            key, ascending = None, False
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(bookings).where(*conditions)
            )
        ).scalar_one()
        if after is not None:
            conditions.append(_after(key, after, ascending))
        if key is None:
            order = [bookings.c.id.desc()]
        elif ascending:
            order = [key.asc(), bookings.c.id.asc()]
        else:
            order = [key.desc(), bookings.c.id.desc()]
        rows = (
            await self._c.execute(
                sa.select(bookings).where(*conditions).order_by(*order).limit(limit)
            )
        ).all()
        return await self._with_times(rows), total

    async def page_of_practitioner(
        self,
        practitioner_id: str,
        *,
        span: Interval,
        after: tuple[Any, ...] | None,
        limit: int,
    ) -> tuple[list[Booking], int]:
        """A practitioner's calendar: bookings that meet span (cancelled and expired ones
        left out), by start."""
        conditions: list[Any] = [
            bookings.c.practitioner_id == practitioner_id,
            overlapping(bookings.c.starts_at, bookings.c.ends_at, span),
            bookings.c.status.notin_([BookingStatus.CANCELLED.value, BookingStatus.EXPIRED.value]),
        ]
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(bookings).where(*conditions)
            )
        ).scalar_one()
        if after is not None:
            conditions.append(_after(bookings.c.starts_at, after, True))
        rows = (
            await self._c.execute(
                sa.select(bookings)
                .where(*conditions)
                .order_by(bookings.c.starts_at, bookings.c.id)
                .limit(limit)
            )
        ).all()
        return await self._with_times(rows), total

    async def confirmed_of_user(self, user_id: str, limit: int) -> list[Booking]:
        """A user's confirmed bookings, as client or practitioner, latest first (a feed)."""
        rows = (
            await self._c.execute(
                sa.select(bookings)
                .where(
                    sa.or_(
                        bookings.c.client_id == user_id,
                        bookings.c.practitioner_user_id == user_id,
                    ),
                    bookings.c.status == BookingStatus.CONFIRMED.value,
                    bookings.c.starts_at.is_not(None),
                )
                .order_by(bookings.c.starts_at.desc())
                .limit(limit)
            )
        ).all()
        return await self._with_times(rows)

    async def lapsed_holds(self, now: datetime, limit: int) -> list[Booking]:
        rows = (
            await self._c.execute(
                sa.select(bookings)
                .where(
                    bookings.c.status == BookingStatus.PENDING_PAYMENT.value,
                    bookings.c.hold_expires_at <= now,
                )
                .order_by(bookings.c.hold_expires_at)
                .limit(limit)
            )
        ).all()
        return await self._with_times(rows)

    async def ended_before(self, until: datetime, limit: int) -> list[Booking]:
        """Confirmed bookings (not purchases) that ended before `until`."""
        rows = (
            await self._c.execute(
                sa.select(bookings)
                .where(
                    bookings.c.status == BookingStatus.CONFIRMED.value,
                    bookings.c.ends_at <= until,
                )
                .order_by(bookings.c.ends_at)
                .limit(limit)
            )
        ).all()
        return await self._with_times(rows)

    async def meetings_starting(self, after: datetime, until: datetime) -> list[BookedMeeting]:
        """Every time of a confirmed booking that starts in (after, until]."""
        rows = (
            await self._c.execute(
                sa.select(
                    bookings,
                    booking_times.c.position,
                    booking_times.c.starts_at.label("time_start"),
                    booking_times.c.ends_at.label("time_end"),
                    booking_times.c.group_session_id,
                )
                .join(booking_times, booking_times.c.booking_id == bookings.c.id)
                .where(
                    bookings.c.status == BookingStatus.CONFIRMED.value,
                    booking_times.c.starts_at > after,
                    booking_times.c.starts_at <= until,
                )
                .order_by(booking_times.c.starts_at, bookings.c.id)
            )
        ).all()
        found = []
        for row in rows:
            booking = _booking(row, [])
            found.append(
                BookedMeeting(
                    booking,
                    row.position,
                    BookedTime(row.time_start, row.time_end),
                    row.group_session_id,
                )
            )
        return found

    async def active_count(self, practitioner_id: str) -> int:
        """How many bookings of a practitioner hold time (for tests and the benchmark)."""
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(bookings)
                .where(
                    bookings.c.practitioner_id == practitioner_id,
                    bookings.c.status.in_([s.value for s in HOLDING]),
                )
            )
        ).scalar_one()


def _after(key: Any, after: tuple[Any, ...], ascending: bool) -> Any:
    """The keyset condition: rows after the last one served, by (key, id) or by id."""
    if key is None:
        return bookings.c.id < after[-1]
    instant = _from_micros(after[0])
    if ascending:
        return sa.or_(key > instant, sa.and_(key == instant, bookings.c.id > after[1]))
    return sa.or_(key < instant, sa.and_(key == instant, bookings.c.id < after[1]))


def micros(instant: datetime | None) -> int:
    """An instant as whole microseconds since the epoch (a cursor's sort value)."""
    assert instant is not None
    return int(instant.timestamp()) * 1_000_000 + instant.microsecond


def _from_micros(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


# Occupied time and group seats ----------------------------------------------------------------


# Active occupied ranges of a practitioner meeting [span_start, span_end), by start; built
# once (see _TERMS_WITH_STATUS).
_BUSY_WHERE = (
    occupancy.c.practitioner_id == sa.bindparam("practitioner_id"),
    occupancy.c.active.is_(True),
    occupancy.c.blocked_from < sa.bindparam("span_end"),
    occupancy.c.blocked_until > sa.bindparam("span_start"),
)
_BUSY = (
    sa.select(occupancy.c.blocked_from, occupancy.c.blocked_until)
    .where(*_BUSY_WHERE)
    .order_by(occupancy.c.blocked_from)
)
# The same but for one booking's own range (a reschedule moves it).
_BUSY_EXCLUDING = _BUSY.where(
    sa.or_(
        occupancy.c.booking_id.is_(None),
        occupancy.c.booking_id != sa.bindparam("excluding_booking"),
    )
)


@functools.cache
def _busy_spans(dialect: str) -> sa.Select[Any]:
    """The busy ranges as microseconds since the epoch, built once per dialect."""
    return (
        sa.select(
            _epoch_micros(occupancy.c.blocked_from, dialect),
            _epoch_micros(occupancy.c.blocked_until, dialect),
        )
        .where(*_BUSY_WHERE)
        .order_by(occupancy.c.blocked_from)
    )


def _epoch_micros(instant: Any, dialect: str) -> Any:
    """An instant column as whole microseconds since the epoch, exactly (no float on the way)."""
    if dialect == "postgresql":
        # Whole seconds and the second's microseconds apart: EXTRACT gives a float before
        # PostgreSQL 14, too coarse for microseconds at today's epoch.
        whole = sa.extract("epoch", sa.func.date_trunc("second", instant))
        fraction = sa.cast(sa.extract("microseconds", instant), sa.BigInteger) % 1_000_000
        return sa.cast(whole, sa.BigInteger) * 1_000_000 + fraction
    # SQLite holds naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'; strftime would round the
    # fraction, so the whole seconds are read without it.
    seconds = sa.cast(sa.func.strftime("%s", sa.func.substr(instant, 1, 19)), sa.BigInteger)
    return seconds * 1_000_000 + sa.cast(sa.func.substr(instant, 21, 6), sa.BigInteger)


class Occupancy:
    """The practitioner's time that bookings and group sessions take, buffers included."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def busy_spans(self, practitioner_id: str, span: Interval) -> list[Span]:
        """Active occupied ranges of a practitioner that meet span, as whole microseconds
        since the epoch worked out by the database: a month of a busy calendar is hundreds
        of ranges, read for every request of its slots, and no datetime is made of them."""
        rows = await self._c.execute(
            _busy_spans(self._c.dialect.name),
            {"practitioner_id": practitioner_id, "span_start": span.start, "span_end": span.end},
        )
        return [(start, end) for start, end in rows.all()]

    async def busy(
        self, practitioner_id: str, span: Interval, *, excluding_booking: str = ""
    ) -> list[Interval]:
        """Active occupied ranges of a practitioner that meet span."""
        rows = await self._c.execute(
            _BUSY_EXCLUDING if excluding_booking else _BUSY,
            {
                "practitioner_id": practitioner_id,
                "span_start": span.start,
                "span_end": span.end,
                "excluding_booking": excluding_booking,
            },
        )
        return [Interval(start, end) for start, end in rows.all()]

    async def conflict(
        self, practitioner_id: str, wanted: Interval, *, excluding_booking: str = ""
    ) -> Interval | None:
        found = await self.busy(practitioner_id, wanted, excluding_booking=excluding_booking)
        return found[0] if found else None

    async def _guarded(
        self,
        statement: Any,
        wanted: Interval,
        practitioner_id: str,
        excluding_booking: str = "",
        *,
        known_free: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Runs a write that may make two active ranges of one practitioner overlap: the
        check first (which alone decides on SQLite, whose writers run one at a time; skipped
        when the caller found the range free in this same transaction), the exclusion
        constraint on PostgreSQL for writers that raced past it."""
        if not known_free:
            conflict = await self.conflict(
                practitioner_id, wanted, excluding_booking=excluding_booking
            )
            if conflict is not None:
                raise SlotTaken(wanted, conflict)
        try:
            await self._c.execute(statement, parameters)
        except sa.exc.IntegrityError as error:
            if _is_exclusion_violation(error):
                raise SlotTaken(wanted) from error
            raise

    async def take_for_booking(
        self, booking_id: str, practitioner_id: str, blocked: Interval, *, known_free: bool = False
    ) -> None:
        await self._guarded(
            occupancy.insert(),
            blocked,
            practitioner_id,
            known_free=known_free,
            parameters={
                "id": new_id(),
                "practitioner_id": practitioner_id,
                "blocked_from": blocked.start,
                "blocked_until": blocked.end,
                "active": True,
                "booking_id": booking_id,
            },
        )

    async def move_booking(self, booking_id: str, practitioner_id: str, blocked: Interval) -> None:
        """The booking's range moves in place: the new time is checked, the old one freed,
        in one statement."""
        statement = (
            occupancy.update()
            .where(occupancy.c.booking_id == booking_id)
            .values(blocked_from=blocked.start, blocked_until=blocked.end, active=True)
        )
        await self._guarded(statement, blocked, practitioner_id, excluding_booking=booking_id)

    async def reactivate_booking(self, booking_id: str, practitioner_id: str) -> bool:
        """A lapsed booking's time taken again (a late payment), if nobody took it since."""
        row = (
            await self._c.execute(
                sa.select(occupancy.c.blocked_from, occupancy.c.blocked_until).where(
                    occupancy.c.booking_id == booking_id
                )
            )
        ).first()
        if row is None:
            return True
        wanted = Interval(row.blocked_from, row.blocked_until)
        if await self.conflict(practitioner_id, wanted) is not None:
            return False
        savepoint = await self._c.begin_nested()
        try:
            await self._c.execute(
                occupancy.update().where(occupancy.c.booking_id == booking_id).values(active=True)
            )
        except sa.exc.IntegrityError as error:
            await savepoint.rollback()
            if _is_exclusion_violation(error):
                return False
            raise
        await savepoint.commit()
        return True

    async def release_booking(self, booking_id: str) -> None:
        await self._c.execute(
            occupancy.update().where(occupancy.c.booking_id == booking_id).values(active=False)
        )

    async def add_for_group(
        self, group_session_id: str, practitioner_id: str, blocked: Interval
    ) -> None:
        """A group session's range, inactive until a seat is taken."""
        await self._c.execute(
            insert_ignoring_conflicts(self._c.dialect.name, occupancy, ["group_session_id"]),
            {
                "id": new_id(),
                "practitioner_id": practitioner_id,
                "blocked_from": blocked.start,
                "blocked_until": blocked.end,
                "active": False,
                "booking_id": None,
                "group_session_id": group_session_id,
            },
        )

    async def follow_seats(self, group_session_ids: Sequence[str], practitioner_id: str) -> None:
        """Group sessions with a seat taken or held occupy their time; others free it. A
        session that starts to occupy time someone else holds is SlotTaken."""
        for group_id in group_session_ids:
            row = (
                await self._c.execute(
                    sa.select(
                        occupancy.c.blocked_from,
                        occupancy.c.blocked_until,
                        occupancy.c.active,
                        (group_sessions.c.taken + group_sessions.c.offered).label("seats"),
                    )
                    .join(group_sessions, group_sessions.c.id == occupancy.c.group_session_id)
                    .where(occupancy.c.group_session_id == group_id)
                )
            ).one()
            wanted = row.seats > 0
            if wanted == row.active:
                continue
            statement = (
                occupancy.update()
                .where(occupancy.c.group_session_id == group_id)
                .values(active=wanted)
            )
            if wanted:
                await self._guarded(
                    statement, Interval(row.blocked_from, row.blocked_until), practitioner_id
                )
            else:
                await self._c.execute(statement)

    async def overlapping_active(self, practitioner_id: str = "") -> int:
        """How many pairs of active ranges of one practitioner overlap (must be 0), of one
        practitioner's or everyone's."""
        other = occupancy.alias("other")
        conditions: list[Any] = [occupancy.c.active.is_(True)]
        if practitioner_id:
            conditions.append(occupancy.c.practitioner_id == practitioner_id)
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(occupancy)
                .join(
                    other,
                    sa.and_(
                        other.c.practitioner_id == occupancy.c.practitioner_id,
                        other.c.id > occupancy.c.id,
                        other.c.active.is_(True),
                        other.c.blocked_from < occupancy.c.blocked_until,
                        other.c.blocked_until > occupancy.c.blocked_from,
                    ),
                )
                .where(*conditions)
            )
        ).scalar_one()


@dataclass(frozen=True)
class GroupSeats:
    id: str
    starts_at: datetime
    ends_at: datetime
    taken: int
    offered: int


class GroupSessions:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def ensure(
        self, service_id: str, practitioner_id: str, meetings: Sequence[Interval]
    ) -> list[str]:
        """The rows of these dated sessions of a service, made if new; their ids in order."""
        for meeting in meetings:
            await self._c.execute(
                insert_ignoring_conflicts(
                    self._c.dialect.name, group_sessions, ["service_id", "starts_at"]
                ),
                {
                    "id": new_id(),
                    "service_id": service_id,
                    "practitioner_id": practitioner_id,
                    "starts_at": meeting.start,
                    "ends_at": meeting.end,
                    "taken": 0,
                    "offered": 0,
                },
            )
        rows = await self._c.execute(
            sa.select(group_sessions.c.id, group_sessions.c.starts_at).where(
                group_sessions.c.service_id == service_id,
                group_sessions.c.starts_at.in_([m.start for m in meetings]),
            )
        )
        by_start = {r.starts_at: r.id for r in rows}
        return [by_start[m.start] for m in meetings]

    async def take(
        self, ids: Sequence[str], seats: int, capacity: int, *, from_offer: int = 0
    ) -> None:
        """Takes seats on every one of these sessions, or none: a guarded update that
        PostgreSQL re-checks on the newest row, so concurrent takers never oversell. Seats
        held by an offer to this client (from_offer) become taken."""
        taken = await self._c.execute(
            group_sessions.update()
            .where(
                group_sessions.c.id.in_(list(ids)),
                group_sessions.c.offered >= from_offer,
                group_sessions.c.taken + group_sessions.c.offered - from_offer + seats <= capacity,
            )
            .values(
                taken=group_sessions.c.taken + seats,
                offered=group_sessions.c.offered - from_offer,
            )
            .returning(group_sessions.c.id)
        )
        if len(taken.all()) != len(ids):
            left = await self.seats_left(ids, capacity)
            raise SeatsTaken(left + from_offer)

    async def hold(self, ids: Sequence[str], capacity: int) -> bool:
        """Holds one seat on each session for a waitlist offer, if one is free."""
        held = await self._c.execute(
            group_sessions.update()
            .where(
                group_sessions.c.id.in_(list(ids)),
                group_sessions.c.taken + group_sessions.c.offered + 1 <= capacity,
            )
            .values(offered=group_sessions.c.offered + 1)
            .returning(group_sessions.c.id)
        )
        held_ids = [r.id for r in held]
        if len(held_ids) == len(ids):
            return True
        # Not on every session: give back what was held (nothing is left half held).
        await self.unhold(held_ids)
        return False

    async def unhold(self, ids: Sequence[str]) -> None:
        await self._c.execute(
            group_sessions.update()
            .where(group_sessions.c.id.in_(list(ids)), group_sessions.c.offered > 0)
            .values(offered=group_sessions.c.offered - 1)
        )

    async def free(self, ids: Sequence[str], seats: int) -> None:
        await self._c.execute(
            group_sessions.update()
            .where(group_sessions.c.id.in_(list(ids)))
            .values(
                taken=sa.case(
                    (group_sessions.c.taken < seats, 0), else_=group_sessions.c.taken - seats
                )
            )
        )

    async def seats_left(self, ids: Sequence[str], capacity: int) -> int:
        rows = await self._c.execute(
            sa.select(group_sessions.c.taken, group_sessions.c.offered).where(
                group_sessions.c.id.in_(list(ids))
            )
        )
        used = [r.taken + r.offered for r in rows]
        return capacity - max(used, default=0)

    async def of_service(self, service_id: str) -> dict[datetime, GroupSeats]:
        rows = await self._c.execute(
            sa.select(group_sessions).where(group_sessions.c.service_id == service_id)
        )
        return {
            r.starts_at: GroupSeats(r.id, r.starts_at, r.ends_at, r.taken, r.offered) for r in rows
        }

    async def get(self, group_session_id: str) -> GroupSeats | None:
        row = (
            await self._c.execute(
                sa.select(group_sessions).where(group_sessions.c.id == group_session_id)
            )
        ).first()
        return (
            GroupSeats(row.id, row.starts_at, row.ends_at, row.taken, row.offered) if row else None
        )


# Entitlements ---------------------------------------------------------------------------------


def _entitlement(row: sa.Row) -> Entitlement:
    return Entitlement(
        id=row.id,
        client_id=row.client_id,
        purchase_booking_id=row.purchase_booking_id,
        service_id=row.service_id,
        service_title=row.service_title,
        practitioner_id=row.practitioner_id,
        total=row.total,
        used=row.used,
        value_minor=row.value_minor,
        currency=row.currency,
        expires_at=row.expires_at,
        created_at=row.created_at,
        voided_at=row.voided_at,
    )


class Entitlements:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, granted: Sequence[Entitlement]) -> None:
        if not granted:
            return
        await self._c.execute(
            entitlements.insert(),
            [
                {
                    "id": e.id,
                    "client_id": e.client_id,
                    "purchase_booking_id": e.purchase_booking_id,
                    "service_id": e.service_id,
                    "service_title": e.service_title,
                    "practitioner_id": e.practitioner_id,
                    "total": e.total,
                    "used": e.used,
                    "value_minor": e.value_minor,
                    "currency": e.currency,
                    "expires_at": e.expires_at,
                    "created_at": e.created_at,
                    "voided_at": e.voided_at,
                }
                for e in granted
            ],
        )

    async def get(self, entitlement_id: str) -> Entitlement | None:
        row = (
            await self._c.execute(
                sa.select(entitlements).where(entitlements.c.id == entitlement_id)
            )
        ).first()
        return _entitlement(row) if row else None

    async def of_purchase(self, booking_id: str) -> list[Entitlement]:
        rows = await self._c.execute(
            sa.select(entitlements)
            .where(entitlements.c.purchase_booking_id == booking_id)
            .order_by(entitlements.c.id)
        )
        return [_entitlement(r) for r in rows]

    async def use(self, entitlement: Entitlement) -> None:
        """Writes one more use, only if none was used meanwhile beyond what was read: of
        concurrent redemptions of the last session, one wins."""
        used = await self._c.execute(
            entitlements.update()
            .where(entitlements.c.id == entitlement.id, entitlements.c.used == entitlement.used - 1)
            .values(used=entitlement.used)
            .returning(entitlements.c.id)
        )
        if used.first() is None:
            raise FailedPrecondition(
                "this entitlement changed meanwhile; try again", reason="ENTITLEMENT_CHANGED"
            )

    async def give_back(self, entitlement_id: str) -> None:
        await self._c.execute(
            entitlements.update()
            .where(entitlements.c.id == entitlement_id, entitlements.c.used > 0)
            .values(used=entitlements.c.used - 1)
        )

    async def void_purchase(self, booking_id: str, now: datetime) -> bool:
        """Voids a purchase's entitlements if none was used; whether it could."""
        used = (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(entitlements)
                .where(entitlements.c.purchase_booking_id == booking_id, entitlements.c.used > 0)
            )
        ).scalar_one()
        if used:
            return False
        await self._c.execute(
            entitlements.update()
            .where(entitlements.c.purchase_booking_id == booking_id)
            .values(voided_at=now)
        )
        return True

    async def page_of_client(
        self, client_id: str, *, after_id: str | None, limit: int
    ) -> tuple[list[Entitlement], int]:
        conditions: list[Any] = [entitlements.c.client_id == client_id]
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(entitlements).where(*conditions)
            )
        ).scalar_one()
        if after_id is not None:
            conditions.append(entitlements.c.id < after_id)
        rows = await self._c.execute(
            sa.select(entitlements)
            .where(*conditions)
            .order_by(entitlements.c.id.desc())
            .limit(limit)
        )
        return [_entitlement(r) for r in rows], total


# Waitlists ------------------------------------------------------------------------------------


def _entry(row: sa.Row) -> WaitlistEntry:
    return WaitlistEntry(
        id=row.id,
        service_id=row.service_id,
        starts_at=row.starts_at,
        client_id=row.client_id,
        status=WaitlistStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        offer_expires_at=row.offer_expires_at,
    )


class Waitlist:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, entry: WaitlistEntry) -> None:
        await self._c.execute(
            waitlist_entries.insert().values(
                id=entry.id,
                service_id=entry.service_id,
                starts_at=entry.starts_at,
                client_id=entry.client_id,
                status=entry.status.value,
                in_line=True,
                offer_expires_at=entry.offer_expires_at,
                created_at=entry.created_at,
                updated_at=entry.updated_at,
            )
        )

    async def get(self, entry_id: str) -> WaitlistEntry | None:
        row = (
            await self._c.execute(
                sa.select(waitlist_entries).where(waitlist_entries.c.id == entry_id)
            )
        ).first()
        return _entry(row) if row else None

    async def first_waiting(self, service_id: str, starts_at: datetime) -> WaitlistEntry | None:
        row = (
            await self._c.execute(
                sa.select(waitlist_entries)
                .where(
                    waitlist_entries.c.service_id == service_id,
                    waitlist_entries.c.starts_at == starts_at,
                    waitlist_entries.c.status == WaitlistStatus.WAITING.value,
                )
                .order_by(waitlist_entries.c.id)
                .limit(1)
            )
        ).first()
        return _entry(row) if row else None

    async def in_line_for(
        self, service_id: str, starts_at: datetime, client_id: str
    ) -> WaitlistEntry | None:
        row = (
            await self._c.execute(
                sa.select(waitlist_entries).where(
                    waitlist_entries.c.service_id == service_id,
                    waitlist_entries.c.starts_at == starts_at,
                    waitlist_entries.c.client_id == client_id,
                    waitlist_entries.c.in_line.is_(True),
                )
            )
        ).first()
        return _entry(row) if row else None

    async def move(self, entry: WaitlistEntry, expected: WaitlistStatus) -> None:
        await WAITLIST_STATUS.move(
            self._c,
            entry.id,
            expected=expected.value,
            values={
                "status": entry.status.value,
                "in_line": True if entry.status in IN_LINE else None,
                "offer_expires_at": entry.offer_expires_at,
                "updated_at": entry.updated_at,
            },
        )

    async def remove(self, entry_id: str) -> None:
        await self._c.execute(waitlist_entries.delete().where(waitlist_entries.c.id == entry_id))

    async def lapsed_offers(self, now: datetime, limit: int) -> list[WaitlistEntry]:
        rows = await self._c.execute(
            sa.select(waitlist_entries)
            .where(
                waitlist_entries.c.status == WaitlistStatus.OFFERED.value,
                waitlist_entries.c.offer_expires_at <= now,
            )
            .order_by(waitlist_entries.c.offer_expires_at)
            .limit(limit)
        )
        return [_entry(r) for r in rows]

    async def ahead_of(self, entry: WaitlistEntry) -> int:
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(waitlist_entries)
                .where(
                    waitlist_entries.c.service_id == entry.service_id,
                    waitlist_entries.c.starts_at == entry.starts_at,
                    waitlist_entries.c.status == WaitlistStatus.WAITING.value,
                    waitlist_entries.c.id < entry.id,
                )
            )
        ).scalar_one()

    async def page_of_client(
        self, client_id: str, *, after_id: str | None, limit: int
    ) -> tuple[list[WaitlistEntry], int]:
        conditions: list[Any] = [waitlist_entries.c.client_id == client_id]
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(waitlist_entries).where(*conditions)
            )
        ).scalar_one()
        if after_id is not None:
            conditions.append(waitlist_entries.c.id < after_id)
        rows = await self._c.execute(
            sa.select(waitlist_entries)
            .where(*conditions)
            .order_by(waitlist_entries.c.id.desc())
            .limit(limit)
        )
        return [_entry(r) for r in rows], total

    async def drop_client(self, client_id: str) -> list[WaitlistEntry]:
        """A client's places in line (an erased account leaves every line)."""
        rows = await self._c.execute(
            sa.select(waitlist_entries).where(
                waitlist_entries.c.client_id == client_id, waitlist_entries.c.in_line.is_(True)
            )
        )
        return [_entry(r) for r in rows]


# Reminders, feeds, accounts -------------------------------------------------------------------


@functools.cache
def _claim_reminder(dialect: str) -> sa.Insert:
    return insert_ignoring_conflicts(
        dialect, reminders_sent, ["subject_id", "kind", "recipient_id", "starts_at"]
    ).returning(reminders_sent.c.subject_id)


class Reminders:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def claim(
        self, subject_id: str, kind: str, recipient_id: str, starts_at: datetime, now: datetime
    ) -> bool:
        """Marks a reminder sent, in the transaction that emits it; False if it was already."""
        claimed = await self._c.execute(
            _claim_reminder(self._c.dialect.name),
            {
                "subject_id": subject_id,
                "kind": kind,
                "recipient_id": recipient_id,
                "starts_at": starts_at,
                "sent_at": now,
            },
        )
        return claimed.first() is not None

    async def sent(self, kind: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(reminders_sent)
        if kind:
            query = query.where(reminders_sent.c.kind == kind)
        return (await self._c.execute(query)).scalar_one()

    async def forget_sent_before(self, before: datetime) -> None:
        """Drops the record of reminders sent before `before` (their meetings are past: a
        reminder goes out at most a day ahead)."""
        await self._c.execute(reminders_sent.delete().where(reminders_sent.c.sent_at < before))


class CalendarFeeds:
    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def replace(self, user_id: str, token_hash: str, now: datetime) -> None:
        await self._c.execute(calendar_feeds.delete().where(calendar_feeds.c.user_id == user_id))
        await self._c.execute(
            calendar_feeds.insert().values(user_id=user_id, token_hash=token_hash, created_at=now)
        )

    async def delete(self, user_id: str) -> bool:
        deleted = await self._c.execute(
            calendar_feeds.delete()
            .where(calendar_feeds.c.user_id == user_id)
            .returning(calendar_feeds.c.user_id)
        )
        return deleted.first() is not None

    async def owner_of(self, token_hash: str) -> str | None:
        return (
            await self._c.execute(
                sa.select(calendar_feeds.c.user_id).where(calendar_feeds.c.token_hash == token_hash)
            )
        ).scalar()


class AttendanceMarks:
    """The joins and leaves of bookings' session rooms."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def note(self, booking_id: str, mark: Mark) -> bool:
        """Keeps a mark; False if the same one was kept already."""
        noted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, attendance_marks, ["booking_id", "user_id", "presence", "at"]
            ).returning(attendance_marks.c.booking_id),
            {
                "booking_id": booking_id,
                "user_id": mark.user_id,
                "presence": mark.presence.value,
                "at": mark.at,
            },
        )
        return noted.first() is not None

    async def of(self, booking: Booking) -> Attendance:
        """The booking's client's and practitioner's presence in its room."""
        return (await self.of_many([booking]))[booking.id]

    async def of_many(self, found: Sequence[Booking]) -> dict[str, Attendance]:
        """The attendance of each of these bookings, by id (one query)."""
        marks: dict[str, list[Mark]] = {b.id: [] for b in found}
        if marks:
            for r in await self._c.execute(
                sa.select(attendance_marks).where(attendance_marks.c.booking_id.in_(list(marks)))
            ):
                marks[r.booking_id].append(Mark(r.user_id, Presence(r.presence), r.at))
        return {
            b.id: Attendance.of(b.client_id, b.practitioner_user_id, marks[b.id]) for b in found
        }


class Accounts:
    """The account statuses identity announced (the chassis's table), read in a transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def status_of(self, user_id: str) -> AccountStatus:
        found = (
            await self._c.execute(
                sa.select(account_statuses.c.status).where(account_statuses.c.user_id == user_id)
            )
        ).scalar()
        return account_status(found)


def account_status(stored: str | None) -> AccountStatus:
    """An account identity never announced a change of is active."""
    return AccountStatus(stored) if stored else AccountStatus.ACTIVE
