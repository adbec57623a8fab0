"""Bookings: made (a session, a seat, a purchase or a redemption), read and listed by those
who may see them, cancelled, moved, completed or marked a no-show; and what payments'
events do to them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chassis.audit import StaffAction
from chassis.auth.principal import AccountStatus, Principal
from chassis.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.money import Money
from chassis.pagination import KeyPart, Page, page_request
from services.booking.domain.attendance import Attendance
from services.booking.domain.availability import Interval
from services.booking.domain.bookings import (
    Actor,
    BookedTime,
    Booking,
    BookingStatus,
    check_notes,
    check_reason,
    check_seats,
)
from services.booking.domain.entitlements import Entitlement, grant
from services.booking.domain.events import RefundRequested
from services.booking.domain.slots import is_bookable, occupied
from services.booking.domain.terms import ServiceKind, ServiceTerms
from services.booking.repository import SlotTaken, micros
from services.booking.service_layer.attendance import attendance_of
from services.booking.service_layer.base import (
    Handlers,
    booking_for,
    caller,
    check_span,
    id_of,
    practitioner_unavailable,
)
from services.booking.service_layer.schedules import busy_for
from services.booking.service_layer.waitlist import offer_freed_seats, seats_of
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork

CALENDAR_SPAN = timedelta(days=7)
SCOPES = ("all", "upcoming", "past")


@dataclass(frozen=True)
class BookingRequest:
    """What a client asks to book: a service (and its start), or an entitlement to redeem."""

    service_id: str = ""
    start: datetime | None = None
    seats: int = 0
    entitlement_id: str = ""
    notes: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class BookingView:
    """A booking, for a paid purchase the entitlements it granted, and for its client and
    practitioner reading a virtual one, who was in its session room."""

    booking: Booking
    entitlements: list[Entitlement] = field(default_factory=list)
    attendance: Attendance | None = None


class SlotUnavailable(FailedPrecondition):
    """A start the practitioner does not offer (not their hours, off the grid, too soon or
    too far ahead); 409 naming start_time."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"start_time: {why}",
            reason="SLOT_UNAVAILABLE",
            violations=[FieldViolation("start_time", why, "slot_unavailable")],
        )


def why_not_bookable(terms: ServiceTerms, start: datetime, now: datetime) -> str:
    """What makes a start unbookable when no booking is in its way."""
    if start < now + terms.min_notice:
        return f"must be at least {terms.min_notice_minutes} minutes from now"
    if start > now + terms.booking_window:
        return f"must be at most {terms.booking_window_days} days from now"
    return "is not a start the practitioner offers (outside their hours or off the slot grid)"


class BookingHandlers(Handlers):
    async def create_booking(
        self, principal: Principal | None, asked: BookingRequest
    ) -> BookingView:
        """Books a session, a group seat, a package or bundle, or redeems an entitlement; a
        paid booking holds its time until paid, a free one (or a redemption) is confirmed."""
        user = caller(principal)
        check_notes(asked.notes)
        idempotent = IdempotentRequest.of("CreateBooking", user, asked.request_id, repr(asked))
        entitlement: Entitlement | None = None
        if asked.entitlement_id:
            entitlement = await self._own_entitlement(user, asked.entitlement_id)
            if (
                asked.service_id
                and id_of(asked.service_id, "services", "service") != entitlement.service_id
            ):
                raise InvalidArgument.field(
                    "service", "is not the service the entitlement is for", "entitlement_mismatch"
                )
            terms = await self.bookable_terms(entitlement.service_id)
            if terms.is_purchase:
                raise InvalidArgument.field(
                    "entitlement_id", "is for a purchase, not a bookable service", "invalid"
                )
            seats = check_seats(asked.seats, terms)
            if seats != 1:
                raise InvalidArgument.field("seats", "a redemption books one seat", "out_of_range")
            price = Money(0, terms.currency)
        else:
            service_id = id_of(asked.service_id, "services", "service")
            # A suspended practitioner's service is refused before catalog is asked a price,
            # the same way for a paid service, a free one and a redemption.
            terms = await self.bookable_terms(service_id)
            seats = check_seats(asked.seats, terms)
            quote = await self._catalog.quote(service_id, seats)
            if quote.service_updated_at > terms.updated_at:
                terms = await self.terms_of(service_id, refresh=True)
            price = quote.total
        if terms.is_purchase:
            if asked.start is not None:
                raise InvalidArgument.field(
                    "start_time", "a package or bundle is bought, not booked at a time", "invalid"
                )
            await self._know_parts(terms)
        elif terms.kind is ServiceKind.SESSION and asked.start is None:
            raise InvalidArgument.field("start_time", "is required for a session", "required")
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                return await self._view(uow, earlier)
            now = self.now()
            terms.check_on_sale()
            booking_id = new_id()
            times: list[BookedTime] = []
            group_ids: list[str] = []
            blocked: Interval | None = None
            if terms.kind is ServiceKind.SESSION:
                assert asked.start is not None
                blocked = await self._check_session_start(uow, terms, asked.start, now)
                rules = terms.slot_rules(self._settings.slot_step_minutes)
                times = [BookedTime(asked.start, asked.start + rules.duration)]
            elif terms.is_group:
                group_ids, times = await self._take_seats(uow, terms, asked.start, seats, user, now)
            value = 0
            if entitlement is not None:
                entitlement = await uow.entitlements.get(entitlement.id)
                assert entitlement is not None
                value = entitlement.redeem(now, times[-1].end if times else None)
                await uow.entitlements.use(entitlement)
            booking, events = Booking.place(
                booking_id=booking_id,
                client_id=user.user_id,
                terms=terms,
                times=times,
                seats=seats,
                price=price,
                notes=asked.notes,
                now=now,
                hold=self._hold,
                entitlement_id=entitlement.id if entitlement else None,
                value_minor=value,
            )
            await uow.bookings.add(booking, group_ids)
            if blocked is not None:
                # Found free just now, in this transaction: the exclusion constraint (or, on
                # SQLite, this writer's lock) keeps it so.
                await uow.occupancy.take_for_booking(
                    booking.id, terms.practitioner_id, blocked, known_free=True
                )
            granted: list[Entitlement] = []
            if booking.is_purchase and booking.status is BookingStatus.CONFIRMED:
                granted = await grant_purchase(uow, booking, self._settings, now)
            uow.record(*events)
            await uow.remember(idempotent, booking.id)
            await uow.commit()
        return BookingView(booking, granted)

    async def _own_entitlement(self, user: Principal, entitlement_id: str) -> Entitlement:
        ident = id_of(entitlement_id, "entitlements", "entitlement_id")
        async with self._uow(write=False) as uow:
            found = await uow.entitlements.get(ident)
        if found is None or found.client_id != user.user_id:
            raise NotFound("no such entitlement")
        return found

    async def _know_parts(self, terms: ServiceTerms) -> None:
        """A package's or bundle's parts are in the copy before it is sold (granting reads
        them when the payment arrives)."""
        wanted = set(terms.parts)
        async with self._uow(write=False) as uow:
            known = {t.service_id: t for t in await uow.terms.get_many(wanted)}
        inner = {t.package.session_service_id for t in known.values() if t.package}
        missing = (wanted | inner) - set(known)
        if missing:
            await self.fetch_terms(sorted(missing))

    async def _check_session_start(
        self,
        uow: BookingUnitOfWork,
        terms: ServiceTerms,
        start: datetime,
        now: datetime,
        *,
        excluding_booking: str = "",
    ) -> Interval:
        """The range a session at `start` would occupy, if the practitioner offers that start
        and nothing of theirs is in its way; else SlotTaken naming what is, or
        SlotUnavailable saying why not."""
        hours = await uow.schedules.hours(terms.practitioner_id)
        if hours is None:
            raise FailedPrecondition(
                "the practitioner has not opened their hours yet", reason="NO_SCHEDULE"
            )
        rules = terms.slot_rules(self._settings.slot_step_minutes)
        blocked = occupied(rules, start)
        busy = await busy_for(
            uow,
            terms.practitioner_id,
            blocked,
            excluding_booking=excluding_booking,
            sells_group_sessions=hours.sells_group_sessions,
        )
        if not is_bookable(hours.schedule, rules, busy, now, start):
            conflict = next((b for b in busy if b.overlaps(blocked)), None)
            if conflict is not None:
                raise SlotTaken(blocked, conflict)
            raise SlotUnavailable(why_not_bookable(terms, start, now))
        return blocked

    async def _take_seats(
        self,
        uow: BookingUnitOfWork,
        terms: ServiceTerms,
        start: datetime | None,
        seats: int,
        user: Principal,
        now: datetime,
    ) -> tuple[list[str], list[BookedTime]]:
        """Seats on a workshop date or every meeting of a course, all or none; a seat held
        for this client by a waitlist offer is theirs to take."""
        meetings = terms.meetings_for(start)
        first = meetings[0]
        if first.start < now + terms.min_notice:
            raise SlotUnavailable(f"must be at least {terms.min_notice_minutes} minutes from now")
        if first.start > now + terms.booking_window:
            raise SlotUnavailable(f"must be at most {terms.booking_window_days} days from now")
        group_ids, _ = await seats_of(uow, terms, start)
        offer = await uow.waitlist.in_line_for(terms.service_id, first.start, user.user_id)
        live = offer is not None and offer.is_offer_live(now)
        await uow.group_sessions.take(
            group_ids, seats, terms.max_participants, from_offer=1 if live else 0
        )
        if offer is not None and live:
            before = offer.status
            offer.accept(now)
            await uow.waitlist.move(offer, before)
        await uow.occupancy.follow_seats(group_ids, terms.practitioner_id)
        return group_ids, [BookedTime(m.start, m.end) for m in meetings]

    async def _view(self, uow: BookingUnitOfWork, booking_id: str) -> BookingView:
        booking = await uow.bookings.get(booking_id)
        if booking is None:
            raise NotFound("no such booking")
        granted = await uow.entitlements.of_purchase(booking.id) if booking.is_purchase else []
        return BookingView(booking, granted)

    async def get_booking(self, principal: Principal | None, name: str) -> BookingView:
        """A booking, for its client, its practitioner and staff only; its room's attendance
        for its client and practitioner alone (the two people it is about)."""
        async with self._uow(write=False) as uow:
            booking, actor = await booking_for(uow, caller(principal), name)
            view = await self._view(uow, booking.id)
            if actor is Actor.STAFF or not view.booking.attendance_decides:
                return view
            return replace(view, attendance=await uow.attendance.of(view.booking))

    async def list_bookings(
        self,
        principal: Principal | None,
        scope: str,
        status: BookingStatus | None,
        page_size: int,
        page_token: str,
    ) -> Page[Booking]:
        """The caller's bookings as a client: upcoming soonest first, past latest first, or
        all newest first; a status narrows them."""
        user = caller(principal)
        key = (KeyPart.ID,) if scope == "all" else (KeyPart.NUMBER_OR_NULL, KeyPart.ID)
        page = page_request(
            page_size,
            page_token,
            query={"client": user.subject, "scope": scope, "status": status or ""},
            key=key,
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.bookings.page_of_client(
                user.user_id,
                scope=scope,
                status=status,
                now=self.now(),
                after=page.after,
                limit=page.fetch,
            )

        def sort_key(booking: Booking) -> list[Any]:
            if scope == "upcoming":
                return [micros(booking.starts_at), booking.id]
            if scope == "past":
                return [micros(booking.ends_at), booking.id]
            return [booking.id]

        return page.page(found, total, key=sort_key)

    async def practitioner_calendar(
        self,
        principal: Principal | None,
        name: str,
        start: datetime | None,
        end: datetime | None,
        page_size: int,
        page_token: str,
    ) -> Page[Booking]:
        """A practitioner's bookings in [start, end), by start: for them and staff."""
        user = caller(principal)
        practitioner = await self.practitioner_of(name)
        if not practitioner.may_be_managed_by(user):
            raise PermissionDenied("only the practitioner or staff can see their calendar")
        span = check_span(
            start,
            end,
            now=self.now(),
            default=CALENDAR_SPAN,
            longest=self._settings.max_range_days,
        )
        page = page_request(
            page_size,
            page_token,
            query={
                "practitioner": practitioner.id,
                "from": span.start.isoformat(),
                "to": span.end.isoformat(),
            },
            key=(KeyPart.NUMBER_OR_NULL, KeyPart.ID),
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.bookings.page_of_practitioner(
                practitioner.id, span=span, after=page.after, limit=page.fetch
            )
        return page.page(found, total, key=lambda b: [micros(b.starts_at), b.id])

    async def cancel_booking(
        self, principal: Principal | None, name: str, reason: str = ""
    ) -> BookingView:
        """Cancels before the start: the client is refunded by the policy, anyone else in
        full; a redemption's session is given back when cancelled within the policy."""
        user = caller(principal)
        reason = check_reason(reason)
        async with self._uow() as uow:
            booking, actor = await booking_for(uow, user, name)
            before_status = booking.status
            before = _audit_view(booking)
            now = self.now()
            event = booking.cancel(actor, now, reason)
            await uow.bookings.move(booking, before_status)
            voided = not booking.is_purchase or await uow.entitlements.void_purchase(
                booking.id, now
            )
            if not voided:
                raise FailedPrecondition(
                    "sessions of this purchase were already booked; cancel those first",
                    reason="ENTITLEMENTS_IN_USE",
                )
            if booking.entitlement_id is not None and (booking.refund_percent or 0) > 0:
                # Cancelled within the policy (or by the practitioner or staff): the
                # session goes back to the entitlement.
                await uow.entitlements.give_back(booking.entitlement_id)
            offers = await release(uow, booking, now, self._settings)
            uow.record(event, *offers)
            if actor is Actor.STAFF:
                await _record_staff(uow, user, "booking.cancel", before, booking, reason)
            await uow.commit()
        return BookingView(booking)

    async def reschedule_booking(
        self, principal: Principal | None, name: str, start: datetime | None
    ) -> BookingView:
        """Moves a session in one step: the new time taken and the old one freed together."""
        user = caller(principal)
        if start is None:
            raise InvalidArgument.field("start_time", "is required", "required")
        async with self._uow() as uow:
            booking, actor = await booking_for(uow, user, name)
            held = await uow.terms.get_with_status(booking.service_id)
            if held is None:
                raise NotFound("no such service")
            terms, practitioner_status = held
            before_status = booking.status
            before = _audit_view(booking)
            now = self.now()
            rules = terms.slot_rules(self._settings.slot_step_minutes)
            event = booking.reschedule([BookedTime(start, start + rules.duration)], actor, now)
            if practitioner_status is not AccountStatus.ACTIVE:
                raise practitioner_unavailable()
            blocked = await self._check_session_start(
                uow, terms, start, now, excluding_booking=booking.id
            )
            await uow.bookings.move(booking, before_status)
            await uow.bookings.move_times(booking)
            await uow.occupancy.move_booking(booking.id, terms.practitioner_id, blocked)
            uow.record(event)
            if actor is Actor.STAFF:
                await _record_staff(uow, user, "booking.reschedule", before, booking)
            await uow.commit()
        return BookingView(booking)

    async def complete_booking(self, principal: Principal | None, name: str) -> BookingView:
        """The practitioner (or staff) says it took place, once it has started."""
        return await self._practitioner_marks(principal, name, "booking.complete")

    async def mark_no_show(self, principal: Principal | None, name: str) -> BookingView:
        """The practitioner (or staff) says the client did not come, once it has started."""
        return await self._practitioner_marks(principal, name, "booking.no_show")

    async def _practitioner_marks(
        self, principal: Principal | None, name: str, action: str
    ) -> BookingView:
        user = caller(principal)
        async with self._uow() as uow:
            booking, actor = await booking_for(uow, user, name)
            if actor is Actor.CLIENT:
                raise PermissionDenied("only the practitioner or staff can say how it went")
            before = _audit_view(booking)
            now = self.now()
            grace = timedelta(minutes=self._settings.completion_grace_minutes)
            event = (
                booking.complete(actor, now, grace)
                if action == "booking.complete"
                else booking.mark_no_show(
                    now, actor, await attendance_of(uow, self._settings, booking)
                )
            )
            await uow.bookings.move(booking, BookingStatus.CONFIRMED)
            uow.record(event)
            if actor is Actor.STAFF:
                await _record_staff(uow, user, action, before, booking)
            await uow.commit()
        return BookingView(booking)


async def grant_purchase(
    uow: BookingUnitOfWork, booking: Booking, settings: BookingSettings, now: datetime
) -> list[Entitlement]:
    """A confirmed package or bundle grants its entitlements."""
    terms = await uow.terms.get(booking.service_id)
    assert terms is not None
    parts = {t.service_id: t for t in await uow.terms.get_many(terms.parts)}
    inner = [t.package.session_service_id for t in parts.values() if t.package]
    parts |= {t.service_id: t for t in await uow.terms.get_many(inner)}
    granted = grant(
        purchase_id=booking.id,
        client_id=booking.client_id,
        terms=terms,
        parts=parts,
        paid_minor=booking.amount_paid_minor or 0,
        now=now,
        bundle_validity=timedelta(days=settings.bundle_validity_days),
        new_id=new_id,
    )
    await uow.entitlements.add(granted)
    return granted


async def release(
    uow: BookingUnitOfWork, booking: Booking, now: datetime, settings: BookingSettings
) -> list[object]:
    """Frees what a booking that stopped holding took: a session's range, or its seats (each
    offered to the next client in line); the offers made."""
    if booking.is_purchase:
        return []
    if booking.kind is ServiceKind.SESSION:
        await uow.occupancy.release_booking(booking.id)
        return []
    group_ids = await uow.bookings.group_session_ids(booking.id)
    await uow.group_sessions.free(group_ids, booking.seats)
    terms = await uow.terms.get(booking.service_id)
    if terms is None or not booking.times:
        await uow.occupancy.follow_seats(group_ids, booking.practitioner_id)
        return []
    first = booking.times[0]
    if now >= first.start:
        await uow.occupancy.follow_seats(group_ids, booking.practitioner_id)
        return []
    return await offer_freed_seats(
        uow,
        terms,
        group_ids,
        first,
        booking.seats,
        now,
        timedelta(minutes=settings.waitlist_offer_minutes),
    )


async def retake(uow: BookingUnitOfWork, booking: Booking, now: datetime) -> bool:
    """A lapsed booking takes its time (or seats) again, if nobody took it meanwhile and it
    has not started."""
    if booking.is_purchase:
        return True
    if booking.starts_at is None or booking.starts_at <= now:
        return False
    if booking.kind is ServiceKind.SESSION:
        return await uow.occupancy.reactivate_booking(booking.id, booking.practitioner_id)
    terms = await uow.terms.get(booking.service_id)
    if terms is None:
        return False
    group_ids = await uow.bookings.group_session_ids(booking.id)
    if await uow.group_sessions.seats_left(group_ids, terms.max_participants) < booking.seats:
        return False
    await uow.group_sessions.take(group_ids, booking.seats, terms.max_participants)
    try:
        await uow.occupancy.follow_seats(group_ids, booking.practitioner_id)
    except SlotTaken:
        return False
    return True


async def apply_payment(
    uow: BookingUnitOfWork,
    settings: BookingSettings,
    *,
    booking_id: str,
    payment_id: str,
    amount: Money,
) -> None:
    """payment.succeeded: confirms the booking it pays for; a late payment confirms it if
    its time is still free; one that cannot be honoured is sent back (refund_requested)."""
    booking = await uow.bookings.get(booking_id)
    if booking is None:
        raise LookupError(f"payment {payment_id} is for booking {booking_id}, which is unknown")
    now = uow.clock.now()

    def refund(reason: str) -> None:
        uow.record(RefundRequested(booking.id, payment_id, booking.client_id, amount, reason))

    if booking.status is BookingStatus.PENDING_PAYMENT:
        event = booking.confirm(now, payment_id, amount.amount_minor)
        await uow.bookings.move(booking, BookingStatus.PENDING_PAYMENT)
        uow.record(event)
    elif booking.status is BookingStatus.EXPIRED:
        if not await retake(uow, booking, now):
            refund("the booking's hold lapsed and its time is no longer free")
            return
        event = booking.confirm(now, payment_id, amount.amount_minor)
        await uow.bookings.move(booking, BookingStatus.EXPIRED)
        uow.record(event)
    elif booking.payment_id == payment_id:
        return  # this payment confirmed it already
    elif booking.status is BookingStatus.CANCELLED:
        refund("the booking was cancelled before its payment arrived")
        return
    else:
        refund("the booking was already paid")
        return
    if booking.is_purchase:
        await grant_purchase(uow, booking, settings, now)


async def payment_failed(
    uow: BookingUnitOfWork, settings: BookingSettings, *, booking_id: str
) -> None:
    """payment.failed: an unpaid booking lets its time go at once."""
    booking = await uow.bookings.get(booking_id)
    if booking is None or booking.status is not BookingStatus.PENDING_PAYMENT:
        return  # already paid, cancelled or lapsed: nothing is held
    now = uow.clock.now()
    event = booking.expire(now)
    await uow.bookings.move(booking, BookingStatus.PENDING_PAYMENT)
    offers = await release(uow, booking, now, settings)
    uow.record(event, *offers)


async def _record_staff(
    uow: BookingUnitOfWork,
    user: Principal,
    action: str,
    before: dict[str, Any],
    booking: Booking,
    reason: str = "",
) -> None:
    await uow.record_staff_action(
        StaffAction(
            user,
            action,
            f"bookings/{booking.id}",
            booking.client_id,
            before,
            _audit_view(booking),
            reason,
        )
    )


def _audit_view(booking: Booking) -> dict[str, Any]:
    """A booking as the audit log shows it before and after."""
    return {
        "status": booking.status.value,
        "starts_at": booking.starts_at.isoformat() if booking.starts_at else "",
        "refund_percent": booking.refund_percent if booking.refund_percent is not None else -1,
    }
