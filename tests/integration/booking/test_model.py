"""A model of one practitioner's bookings, held against the real handlers on both databases:
hypothesis books, pays, cancels, moves, lets holds lapse, completes and marks no-shows in
any order, and after every step the database agrees with the model and no two bookings
holding time overlap (buffers included)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from chassis.errors import DomainError
from services.booking.domain.bookings import BookingStatus
from services.booking.domain.terms import ServiceTerms
from services.booking.repository import Occupancy, SlotTaken
from services.booking.uow import BookingUnitOfWork
from tests.integration.booking.world import World, world

HOLDING = {BookingStatus.PENDING_PAYMENT, BookingStatus.CONFIRMED}
HOLD = timedelta(minutes=15)
SLOTS = 24  # candidate starts: every 30 minutes over 12 hours


@dataclass
class Modelled:
    """What the model believes of one booking."""

    terms: ServiceTerms
    start: datetime
    status: BookingStatus
    held_until: datetime | None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.terms.duration_minutes)

    @property
    def blocked(self) -> tuple[datetime, datetime]:
        return (
            self.start - timedelta(minutes=self.terms.buffer_before_minutes),
            self.end + timedelta(minutes=self.terms.buffer_after_minutes),
        )


def _overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class BookingModel(RuleBasedStateMachine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.w: World = self.run(
            self.stack.enter_async_context(world(url, completion_grace_minutes=0))
        )
        self.run(self.w.open_hours(time(0), time(0)))
        self.services = [
            self.w.terms(),  # an hour, 15 minutes kept after
            self.w.terms(title="Massage", duration_minutes=30, buffer_before_minutes=15),
            self.w.terms(title="Intro call", duration_minutes=30, price_minor=0),
        ]
        self.model: dict[str, Modelled] = {}
        self.ids: list[str] = []

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()

    @property
    def now(self) -> datetime:
        return self.w.clock.now()

    def candidate(self, slot: int) -> datetime:
        """A start on the grid, at least the notice ahead of now."""
        now = self.now
        grid = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
        return grid + timedelta(minutes=30 * slot)

    def free(self, wanted: Modelled, excluding: str = "") -> bool:
        return not any(
            _overlap(wanted.blocked, other.blocked)
            for ident, other in self.model.items()
            if ident != excluding and other.status in HOLDING
        )

    def pick(self, index: int) -> str | None:
        return self.ids[index % len(self.ids)] if self.ids else None

    def expect(self, work: Any, *, ok: bool, refusal: type[DomainError]) -> Any:
        try:
            done = self.run(work)
        except refusal:
            assert not ok, f"refused, but the model expected {work!r} to succeed"
            return None
        assert ok, f"succeeded, but the model expected a {refusal.__name__}"
        return done

    @rule(service=st.integers(0, 2), slot=st.integers(0, SLOTS - 1))
    def book(self, service: int, slot: int) -> None:
        terms = self.services[service]
        wanted = Modelled(terms, self.candidate(slot), BookingStatus.PENDING_PAYMENT, None)
        ok = self.free(wanted)
        made = self.expect(self.w.book(terms, wanted.start), ok=ok, refusal=SlotTaken)
        if made is None:
            return
        free = terms.price_minor == 0
        wanted.status = BookingStatus.CONFIRMED if free else BookingStatus.PENDING_PAYMENT
        wanted.held_until = None if free else self.now + HOLD
        self.model[made.booking.id] = wanted
        self.ids.append(made.booking.id)

    @rule(index=st.integers(0, 1000))
    def pay(self, index: int) -> None:
        ident = self.pick(index)
        if ident is None:
            return
        booked = self.model[ident]
        self.run(self.w.paid(_as_booking(self, ident), f"pay_{ident}"))
        if booked.status is BookingStatus.PENDING_PAYMENT or (
            booked.status is BookingStatus.EXPIRED
            and booked.start > self.now
            and self.free(booked, excluding=ident)
        ):
            booked.status = BookingStatus.CONFIRMED
        booked.held_until = None

    @rule(index=st.integers(0, 1000))
    def cancel(self, index: int) -> None:
        ident = self.pick(index)
        if ident is None:
            return
        booked = self.model[ident]
        ok = booked.status in HOLDING and self.now < booked.start
        self.expect(
            self.w.desk.cancel_booking(self.w.owner, f"bookings/{ident}"),
            ok=ok,
            refusal=DomainError,
        )
        if ok:
            booked.status = BookingStatus.CANCELLED

    @rule(index=st.integers(0, 1000), slot=st.integers(0, SLOTS - 1))
    def reschedule(self, index: int, slot: int) -> None:
        ident = self.pick(index)
        if ident is None:
            return
        booked = self.model[ident]
        moved = Modelled(booked.terms, self.candidate(slot), booked.status, booked.held_until)
        ok = (
            booked.status in HOLDING
            and self.now < booked.start
            and self.free(moved, excluding=ident)
        )
        self.expect(
            self.w.desk.reschedule_booking(self.w.owner, f"bookings/{ident}", moved.start),
            ok=ok,
            refusal=DomainError,
        )
        if ok:
            booked.start = moved.start

    @rule(minutes=st.sampled_from([5, 16, 45, 90, 240]))
    def time_passes(self, minutes: int) -> None:
        """Time moves on and the jobs run: lapsed holds expire, ended bookings complete."""
        self.w.clock.advance(timedelta(minutes=minutes))
        self.run(self.w.desk.expire_holds())
        self.run(self.w.desk.complete_ended())
        for booked in self.model.values():
            if (
                booked.status is BookingStatus.PENDING_PAYMENT
                and booked.held_until is not None
                and booked.held_until <= self.now
            ):
                booked.status = BookingStatus.EXPIRED
            if booked.status is BookingStatus.CONFIRMED and booked.end <= self.now:
                booked.status = BookingStatus.COMPLETED

    @rule(index=st.integers(0, 1000), no_show=st.booleans())
    def practitioner_marks(self, index: int, no_show: bool) -> None:
        ident = self.pick(index)
        if ident is None:
            return
        booked = self.model[ident]
        ok = booked.status is BookingStatus.CONFIRMED and booked.start <= self.now
        name = f"bookings/{ident}"
        work = (
            self.w.desk.mark_no_show(self.w.owner, name)
            if no_show
            else self.w.desk.complete_booking(self.w.owner, name)
        )
        self.expect(work, ok=ok, refusal=DomainError)
        if ok:
            booked.status = BookingStatus.NO_SHOW if no_show else BookingStatus.COMPLETED

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        stored = self.run(self._stored())
        assert stored == {ident: (m.status, m.start) for ident, m in self.model.items()}

    @invariant()
    def no_two_bookings_holding_time_overlap(self) -> None:
        active = [m for m in self.model.values() if m.status in HOLDING]
        for n, one in enumerate(active):
            for other in active[n + 1 :]:
                assert not _overlap(one.blocked, other.blocked)
        assert self.run(self._overlapping()) == 0

    async def _stored(self) -> dict[str, tuple[BookingStatus, datetime]]:
        async with self.w.service.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
            found = await uow.bookings.get_many(self.ids)
        return {b.id: (b.status, b.times[0].start) for b in found}

    async def _overlapping(self) -> int:
        async with self.w.service.runtime.unit_of_work(BookingUnitOfWork)(write=False) as uow:
            return await uow.occupancy.overlapping_active(self.w.practitioner_id)


def _as_booking(machine: BookingModel, ident: str) -> Any:
    async def load() -> Any:
        return (await machine.w.desk.get_booking(machine.w.owner, f"bookings/{ident}")).booking

    return machine.run(load())


def check(url: str, examples: int, steps: int, *, shrink: bool = True) -> None:
    run_state_machine_as_test(
        lambda: BookingModel(url),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            phases=tuple(Phase) if shrink else (Phase.generate,),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_the_database_never_disagrees_with_the_model_on_sqlite(tmp_path):
    check(f"sqlite+aiosqlite:///{tmp_path}/model.db", examples=40, steps=40)


def test_the_database_never_disagrees_with_the_model_on_postgres(postgres_url):
    check(postgres_url, examples=20, steps=30)


def test_the_model_catches_a_database_that_double_books(tmp_path, monkeypatch):
    """The model is not blind: with the practitioner's busy time hidden from the checks (so
    SQLite, which has no exclusion constraint, takes overlapping bookings), it finds the
    double booking."""

    async def nothing_in_the_way(self: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    monkeypatch.setattr(Occupancy, "busy", nothing_in_the_way)
    with pytest.raises(AssertionError):
        check(f"sqlite+aiosqlite:///{tmp_path}/model.db", examples=40, steps=20, shrink=False)
