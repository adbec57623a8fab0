"""Demo bookings: every demo practitioner's weekly hours, so a newcomer finds times to book at
once, and the demo client's own bookings, a few past (paid and completed) and a few coming,
all through booking's handlers. The first practitioner they booked saw them three times in
the past, which earns that practitioner enough to be paid out (suite/demo_payments.py).

While seeding nothing runs, so booking asks catalog's handlers in this process
(LocalCatalog) for the services and practitioners it has not heard of, mapped through the
very messages it reads over gRPC. Past bookings are made through a booking built on a clock
set back two weeks, paid as payments would pay them (booking's payment.succeeded handler),
then completed by booking's completion job as of a day after the last of them ended (the
earnings they make have passed their hold by now): their booking.completed events open them
to review once the suite runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from chassis.auth.principal import Principal, Role, TokenType
from chassis.money import Money
from services.booking.catalog import Quote
from services.booking.domain.availability import LocalWindow, WeeklyWindow, check_schedule
from services.booking.domain.practitioners import Practitioner
from services.booking.domain.terms import ServiceKind, ServiceTerms
from services.booking.service_layer.bookings import BookingRequest, apply_payment
from services.booking.uow import BookingUnitOfWork
from services.booking.wire import terms_from_service
from services.catalog.grpc_api import service_view_to_proto
from services.catalog.service_layer import Catalog
from services.catalog.wire import practitioner_to_proto

# Weekdays 09:00-18:00 and Saturday mornings, in each practitioner's own zone.
WEEK = [WeeklyWindow(day, LocalWindow(time(9), time(18))) for day in range(5)] + [
    WeeklyWindow(5, LocalWindow(time(10), time(14)))
]
# How far back the demo client's past bookings were made.
PAST = timedelta(days=14)
# Practitioners the demo client has booked with.
BOOKED_WITH = 3
# Past sessions with the first of them: three of the cheapest demo session, less the Free
# tier's commission, still reach the payout minimum (50.00) in every demo currency.
PAID_OUT_SESSIONS = 3
DAY = timedelta(days=1)


class LocalCatalog:
    """Catalog as booking asks it, answered by catalog's handlers in this process."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def quote(self, service_id: str, seats: int) -> Quote:
        quote = await self._catalog.quote(service_id, seats)
        return Quote(Money(quote.total_minor, quote.service.currency), quote.service.updated_at)

    async def services(self, service_ids: Sequence[str]) -> list[ServiceTerms]:
        views = await self._catalog.batch_get_services(list(service_ids))
        owners = await self._catalog.batch_get_practitioners(
            sorted({v.service.practitioner_id for v in views}), []
        )
        by_id = {p.id: practitioner_to_proto(p, owner_view=True) for p in owners}
        return [
            terms_from_service(service_view_to_proto(view), by_id[view.service.practitioner_id])
            for view in views
            if view.service.practitioner_id in by_id
        ]

    async def practitioner(self, practitioner_id: str) -> Practitioner | None:
        found = await self._catalog.batch_get_practitioners([practitioner_id], [])
        for person in found:
            return Practitioner(
                person.id, person.user_id, person.profile.timezone, person.updated_at
            )
        return None


@dataclass
class BookingsReport:
    hours: int = 0
    past: int = 0
    upcoming: int = 0
    # The practitioner the demo client saw most, whose earnings are paid out ("" if none).
    paid_out_user_id: str = ""


def _user(user_id: str, *roles: Role) -> Principal:
    return Principal(
        subject=user_id,
        token_type=TokenType.ACCESS,
        roles=frozenset(r.value for r in roles) or frozenset({Role.CLIENT.value}),
        token_id="demo",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


async def _pay(service: Any, booking_id: str, price: Money) -> None:
    async with service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
        await apply_payment(
            uow,
            service.runtime.settings,
            booking_id=booking_id,
            payment_id=f"demo_payment_{booking_id[-12:]}",
            amount=price,
        )
        await uow.commit()


async def _book_first_slot(
    service: Any, client: Principal, terms: ServiceTerms, since: datetime, skip: int
) -> datetime | None:
    """Books (and pays) the skip-th slot of a session from `since` on, if there is one; when
    it ends."""
    found = await service.desk.slots(terms.service_id, since, since + timedelta(days=7), "")
    if len(found.slots) <= skip:
        return None
    made = await service.desk.create_booking(
        client,
        BookingRequest(
            service_id=terms.service_id,
            start=found.slots[skip].start,
            notes="Demo booking: say hello!",
        ),
    )
    if made.booking.price.amount_minor:
        await _pay(service, made.booking.id, made.booking.price)
    return made.booking.ends_at


async def seed_bookings(
    booking: Any,
    booking_then: Any,
    catalog: Catalog,
    *,
    practitioner_user_ids: Sequence[str],
    client_id: str,
) -> BookingsReport:
    """Hours for every practitioner; past and coming bookings for the demo client (none if
    there is no new client this run: a seeded client keeps what they had)."""
    report = BookingsReport()
    practitioners = await catalog.batch_get_practitioners([], list(practitioner_user_ids))
    service_ids: list[str] = []
    for practitioner in practitioners:
        owner = _user(practitioner.user_id, Role.PRACTITIONER)
        schedule = check_schedule(practitioner.profile.timezone, WEEK)
        await booking.desk.update_schedule(
            owner, f"practitioners/{practitioner.id}/schedule", schedule
        )
        report.hours += 1
        mine = await catalog.list_own_services(owner, 100, "")
        service_ids += [view.service.id for view in mine.items]
    # Booking hears of the services through catalog's events once the suite runs; it knows
    # them now, so their slots show at once.
    terms = await booking.desk.fetch_terms(service_ids)
    if not client_id:
        return report
    client = _user(client_id)
    sessions: dict[str, ServiceTerms] = {}
    for offered in terms:
        if offered.kind is ServiceKind.SESSION:
            sessions.setdefault(offered.practitioner_user_id, offered)
    # In the order the practitioners were made: practitioner1 is the one paid out.
    booked = [sessions[u] for u in practitioner_user_ids if u in sessions][:BOOKED_WITH]
    then = booking_then.desk.now()
    ended: list[datetime] = []
    for number, session in enumerate(booked):
        for _ in range(PAID_OUT_SESSIONS if number == 0 else 1):
            end = await _book_first_slot(booking_then, client, session, then + DAY, 0)
            if end is not None:
                ended.append(end)
        if await _book_first_slot(booking, client, session, booking.desk.now() + DAY, 2):
            report.upcoming += 1
    report.past = len(ended)
    if booked:
        report.paid_out_user_id = booked[0].practitioner_user_id
    # The past sessions took place: the completion job completes them a day after the last
    # one ended.
    if ended:
        await booking.desk.complete_ended(now=max(ended) + DAY)
    return report
