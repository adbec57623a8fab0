"""What every handler module shares: the unit of work each use case opens, the clock, the
settings, catalog, and how a request's names are found (or refused)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from chassis.auth.principal import AccountStatus, Principal
from chassis.clock import Clock
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from chassis.ids import is_uuid
from services.booking.catalog import Catalog
from services.booking.domain.availability import Interval
from services.booking.domain.bookings import Actor, Booking
from services.booking.domain.practitioners import Practitioner
from services.booking.domain.terms import ServiceTerms
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork


class Handlers:
    """The use cases' shared dependencies; each module adds the use cases of one aggregate."""

    def __init__(
        self,
        *,
        unit_of_work: Callable[..., BookingUnitOfWork],
        settings: BookingSettings,
        clock: Clock,
        catalog: Catalog,
    ) -> None:
        self._uow = unit_of_work
        self._settings = settings
        self._clock = clock
        self._catalog = catalog
        self._hold = timedelta(minutes=settings.hold_minutes)

    async def terms_of(self, service_id: str, *, refresh: bool = False) -> ServiceTerms:
        """A service's terms: booking's copy, or asked of catalog once (and kept) for one
        booking has not heard of yet or knows to be stale."""
        if not is_uuid(service_id):
            raise NotFound("no such service")
        if not refresh:
            async with self._uow(write=False) as uow:
                held = await uow.terms.get(service_id)
            if held is not None:
                return held
        found = await self.fetch_terms([service_id])
        if not found:
            raise NotFound("no such service")
        return found[0]

    async def fetch_terms(self, service_ids: Sequence[str]) -> list[ServiceTerms]:
        """Terms asked of catalog and kept (a newer copy already held wins)."""
        fetched = await self._catalog.services(list(service_ids))
        if not fetched:
            return []
        async with self._uow() as uow:
            for terms in fetched:
                await uow.terms.save(terms)
                await uow.practitioners.remember(
                    Practitioner(
                        terms.practitioner_id,
                        terms.practitioner_user_id,
                        terms.time_zone,
                        terms.updated_at,
                    )
                )
            await uow.commit()
            return await uow.terms.get_many(service_ids)

    async def practitioner_of(self, name: str) -> Practitioner:
        """A practitioner by resource name, practitioners/{id}: known, or asked of catalog."""
        practitioner_id = id_of(name, "practitioners", "practitioner")
        async with self._uow(write=False) as uow:
            known = await uow.practitioners.get(practitioner_id)
        if known is not None:
            return known
        found = await self._catalog.practitioner(practitioner_id)
        if found is None:
            raise NotFound("no such practitioner")
        async with self._uow() as uow:
            await uow.practitioners.remember(found)
            await uow.commit()
        return found

    async def bookable_terms(self, service_id: str) -> ServiceTerms:
        """A service's terms, read with whether its practitioner takes bookings (one read):
        a suspended or deleted practitioner's are refused before catalog is asked a price."""
        if not is_uuid(service_id):
            raise NotFound("no such service")
        async with self._uow(write=False) as uow:
            held = await uow.terms.get_with_status(service_id)
        if held is None:
            terms = await self.terms_of(service_id)
            async with self._uow(write=False) as uow:
                open_ = await takes_bookings(uow, terms.practitioner_user_id)
        else:
            terms, status = held
            open_ = status is AccountStatus.ACTIVE
        if not open_:
            raise practitioner_unavailable()
        return terms

    def now(self) -> datetime:
        return self._clock.now()


async def takes_bookings(uow: BookingUnitOfWork, practitioner_user_id: str) -> bool:
    """A suspended or deleted practitioner takes no new bookings."""
    status = await uow.account_statuses.status_of(practitioner_user_id)
    return status is AccountStatus.ACTIVE


def practitioner_unavailable() -> FailedPrecondition:
    return FailedPrecondition(
        "the practitioner is not taking bookings", reason="PRACTITIONER_UNAVAILABLE"
    )


def id_of(name: str, collection: str, field: str = "name") -> str:
    """The id in a resource name "<collection>/{id}" (or a bare id); NotFound if it is not
    one of ours."""
    ident = name.removeprefix(f"{collection}/")
    if not is_uuid(ident):
        if not ident:
            raise InvalidArgument.field(field, "is required", "required")
        raise NotFound(f"no such {collection.rstrip('s')}")
    return ident


def caller(principal: Principal | None) -> Principal:
    if principal is None or not principal.is_user:
        raise Unauthenticated("this needs a signed-in user")
    return principal


def actor_of(booking: Booking, principal: Principal) -> Actor | None:
    """Who the caller is to a booking: its client, its practitioner, staff, or nobody."""
    if principal.is_user and principal.user_id == booking.client_id:
        return Actor.CLIENT
    if principal.is_user and principal.user_id == booking.practitioner_user_id:
        return Actor.PRACTITIONER
    if principal.is_staff:
        return Actor.STAFF
    return None


async def booking_for(
    uow: BookingUnitOfWork, principal: Principal, name: str
) -> tuple[Booking, Actor]:
    """A booking the caller may see (its client, its practitioner, staff) and who they are
    to it; anyone else is told there is no such booking."""
    booking_id = id_of(name, "bookings")
    booking = await uow.bookings.get(booking_id)
    actor = actor_of(booking, principal) if booking is not None else None
    if booking is None or actor is None:
        raise NotFound("no such booking")
    return booking, actor


def check_span(
    start: datetime | None, end: datetime | None, *, now: datetime, default: timedelta, longest: int
) -> Interval:
    """The [from, to) of a slots, availability or calendar request: from now and a default
    length when unset; never longer than `longest` days."""
    start = start or now
    end = end or start + default
    if end <= start:
        raise InvalidArgument.field("end_time", "must be after start_time", "invalid_range")
    if end - start > timedelta(days=longest):
        raise InvalidArgument.field(
            "end_time", f"must be at most {longest} days after start_time", "range_too_long"
        )
    return Interval(start, end)
