"""Waitlists: a client joins the line of a full group session; a freed seat is held for the
first in line (waitlist.offered), who takes it by booking; a lapsed or refused offer passes
to the next in line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.pagination import KeyPart, Page, page_request
from services.booking.domain.availability import Interval
from services.booking.domain.bookings import BookedTime
from services.booking.domain.terms import ServiceTerms
from services.booking.domain.waitlist import WaitlistEntry, WaitlistStatus
from services.booking.service_layer.base import Handlers, caller, id_of
from services.booking.uow import BookingUnitOfWork


@dataclass(frozen=True)
class EntryView:
    entry: WaitlistEntry
    ahead: int


async def seats_of(
    uow: BookingUnitOfWork, terms: ServiceTerms, start: datetime | None
) -> tuple[list[str], BookedTime]:
    """The group session rows a seat of this start covers (made if new, each with its
    occupied range), and the first meeting's time."""
    meetings = terms.meetings_for(start)
    rules = terms.slot_rules(1)
    ids = await uow.group_sessions.ensure(
        terms.service_id, terms.practitioner_id, [Interval(m.start, m.end) for m in meetings]
    )
    for group_id, meeting in zip(ids, meetings, strict=True):
        await uow.occupancy.add_for_group(
            group_id,
            terms.practitioner_id,
            Interval(meeting.start - rules.buffer_before, meeting.end + rules.buffer_after),
        )
    return ids, BookedTime(meetings[0].start, meetings[0].end)


async def offer_freed_seats(
    uow: BookingUnitOfWork,
    terms: ServiceTerms,
    group_ids: Sequence[str],
    first: BookedTime,
    count: int,
    now: datetime,
    lasting: timedelta,
) -> list[object]:
    """Up to `count` freed seats, each held for the next client in line: their offers."""
    offers: list[object] = []
    for _ in range(count):
        entry = await uow.waitlist.first_waiting(terms.service_id, first.start)
        if entry is None or not await uow.group_sessions.hold(group_ids, terms.max_participants):
            break
        offers.append(entry.offer(now, lasting, first, terms))
        await uow.waitlist.move(entry, WaitlistStatus.WAITING)
    await uow.occupancy.follow_seats(group_ids, terms.practitioner_id)
    return offers


async def pass_on_offer(
    uow: BookingUnitOfWork, entry: WaitlistEntry, now: datetime, lasting: timedelta
) -> list[object]:
    """An offer that will not be taken (lapsed, or its client left the line): its seat goes
    to the next in line, or back to everyone."""
    terms = await uow.terms.get(entry.service_id)
    if terms is None:
        return []
    try:
        group_ids, first = await seats_of(uow, terms, entry.starts_at)
    except InvalidArgument:
        return []  # the practitioner moved that session: nobody can book its seats now
    await uow.group_sessions.unhold(group_ids)
    return await offer_freed_seats(uow, terms, group_ids, first, 1, now, lasting)


class WaitlistHandlers(Handlers):
    async def join_waitlist(
        self,
        principal: Principal | None,
        service_name: str,
        start: datetime | None,
        request_id: str = "",
    ) -> EntryView:
        """A place in line for a full workshop date or course."""
        user = caller(principal)
        service_id = id_of(service_name, "services", "service")
        terms = await self.terms_of(service_id)
        if not terms.is_group:
            raise InvalidArgument.field(
                "service", "only workshops and courses have waitlists", "not_a_group_service"
            )
        meetings = terms.meetings_for(start)
        idempotent = IdempotentRequest.of(
            "CreateWaitlistEntry", user, request_id, service_id, repr(meetings[0].start)
        )
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                return await self._entry_view(uow, earlier, user)
            terms.check_on_sale()
            now = self.now()
            if meetings[0].start <= now:
                raise FailedPrecondition("that session has started", reason="ALREADY_STARTED")
            group_ids, first = await seats_of(uow, terms, start)
            if await uow.group_sessions.seats_left(group_ids, terms.max_participants) > 0:
                raise FailedPrecondition(
                    "seats are still free: book one instead", reason="SEATS_AVAILABLE"
                )
            if await uow.waitlist.in_line_for(service_id, first.start, user.user_id) is not None:
                raise FailedPrecondition("you are already in line", reason="ALREADY_IN_LINE")
            entry = WaitlistEntry(
                new_id(), service_id, first.start, user.user_id, WaitlistStatus.WAITING, now, now
            )
            await uow.waitlist.add(entry)
            await uow.remember(idempotent, entry.id)
            await uow.commit()
            return EntryView(entry, await uow.waitlist.ahead_of(entry))

    async def _entry_view(
        self, uow: BookingUnitOfWork, entry_id: str, user: Principal
    ) -> EntryView:
        entry = await uow.waitlist.get(entry_id)
        if entry is None or entry.client_id != user.user_id:
            raise NotFound("no such waitlist entry")
        return EntryView(entry, await uow.waitlist.ahead_of(entry))

    async def list_waitlist(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Page[EntryView]:
        """The caller's places in line, newest first."""
        user = caller(principal)
        page = page_request(
            page_size, page_token, query={"waitlist": user.subject}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.waitlist.page_of_client(
                user.user_id, after_id=page.after[0] if page.after else None, limit=page.fetch
            )
            served = page.page(found, total, key=lambda entry: [entry.id])
            views = [
                EntryView(
                    e,
                    await uow.waitlist.ahead_of(e) if e.status is WaitlistStatus.WAITING else 0,
                )
                for e in served.items
            ]
        return Page(views, served.next_page_token, served.total)

    async def leave_waitlist(self, principal: Principal | None, name: str) -> None:
        """Leaves a line; an offer held is passed on."""
        user = caller(principal)
        entry_id = id_of(name, "waitlist")
        async with self._uow() as uow:
            entry = await uow.waitlist.get(entry_id)
            if entry is None or entry.client_id != user.user_id:
                raise NotFound("no such waitlist entry")
            now = self.now()
            offers: list[object] = []
            if entry.status is WaitlistStatus.OFFERED:
                entry.lapse(now)
                await uow.waitlist.move(entry, WaitlistStatus.OFFERED)
                offers = await pass_on_offer(
                    uow, entry, now, timedelta(minutes=self._settings.waitlist_offer_minutes)
                )
            await uow.waitlist.remove(entry.id)
            uow.record(*offers)
            await uow.commit()
