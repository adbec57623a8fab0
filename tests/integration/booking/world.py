"""A practitioner's world for booking's handler tests: their hours, their services of every
kind (known to a fake catalog), the people who book, on a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from chassis.auth.principal import Principal, Role
from chassis.bus.consumer import EventConsumer
from chassis.bus.envelope import ReceivedEvent, encode_event
from chassis.clock import FrozenClock
from chassis.ids import new_id
from chassis.money import Money
from chassis.wire import timestamp
from estuary.catalog.v1 import catalog_pb2
from estuary.catalog.v1 import events_pb2 as catalog_events
from estuary.streams.v1 import events_pb2 as streams_events
from services.booking.bootstrap import BookingService
from services.booking.consumers import keep_terms
from services.booking.domain.availability import LocalWindow, WeeklyWindow, check_schedule
from services.booking.domain.bookings import Booking
from services.booking.domain.practitioners import Practitioner
from services.booking.domain.terms import (
    BundleItem,
    DatedSession,
    LocationKind,
    PackageTerms,
    RefundRule,
    ServiceKind,
    ServiceTerms,
)
from services.booking.events import PARTICIPANT_JOINED, PARTICIPANT_LEFT, SERVICE_PUBLISHED
from services.booking.service_layer import FrontDesk
from services.booking.service_layer.bookings import BookingRequest, BookingView, apply_payment
from services.booking.uow import BookingUnitOfWork
from services.booking.wire import LOCATION_KINDS, SERVICE_KINDS
from tests.builders import STAFF, FakeCatalog, built_booking, person
from tests.integration.payments.world import HeldDelivery

# A Monday, 09:00 UTC (Lisbon is on UTC in March).
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = (RefundRule(24, 100), RefundRule(0, 0))


@dataclass
class World:
    """One practitioner with hours every day 08:00-20:00 in Lisbon, and what they sell."""

    service: BookingService
    catalog: FakeCatalog
    clock: FrozenClock
    practitioner_id: str = field(default_factory=new_id)
    user_id: str = field(default_factory=new_id)

    @property
    def desk(self) -> FrontDesk:
        return self.service.desk

    @property
    def owner(self) -> Principal:
        return person(self.user_id, Role.PRACTITIONER)

    @property
    def staff(self) -> Principal:
        return STAFF

    def terms(self, **changes: Any) -> ServiceTerms:
        """A service of this practitioner's, sold by the fake catalog: by default an hour's
        virtual session at 40 EUR with a 15-minute buffer after, an hour's notice."""
        base = ServiceTerms(
            service_id=new_id(),
            practitioner_id=self.practitioner_id,
            practitioner_user_id=self.user_id,
            time_zone="Europe/Lisbon",
            kind=ServiceKind.SESSION,
            title="Morning yoga",
            price_minor=4000,
            currency="EUR",
            duration_minutes=60,
            max_participants=1,
            buffer_before_minutes=0,
            buffer_after_minutes=15,
            min_notice_minutes=60,
            booking_window_days=90,
            location_kind=LocationKind.VIRTUAL,
            updated_at=self.clock.now(),
            cancellation_policy=POLICY,
        )
        return self.catalog.sells(replace(base, **changes))

    def workshop(self, seats: int = 5, **changes: Any) -> ServiceTerms:
        start = at(days=3, hour=18)
        made: dict[str, Any] = {
            "kind": ServiceKind.WORKSHOP,
            "title": "Breathwork workshop",
            "max_participants": seats,
            "price_minor": 2500,
            "sessions": (DatedSession(start, 90), DatedSession(start + timedelta(days=7), 90)),
        }
        return self.terms(**(made | changes))

    def course(self, seats: int = 4, meetings: int = 3) -> ServiceTerms:
        start = at(days=2, hour=7)
        return self.terms(
            kind=ServiceKind.COURSE,
            title="Pilates course",
            max_participants=seats,
            price_minor=9000,
            sessions=tuple(
                DatedSession(start + timedelta(days=7 * n), 60) for n in range(meetings)
            ),
        )

    def package(self, session: ServiceTerms, count: int = 3) -> ServiceTerms:
        return self.terms(
            kind=ServiceKind.PACKAGE,
            title="Three yoga sessions",
            price_minor=10_500,
            package=PackageTerms(session.service_id, count, 60),
        )

    def bundle(self, *parts: ServiceTerms) -> ServiceTerms:
        return self.terms(
            kind=ServiceKind.BUNDLE,
            title="Yoga and breath",
            price_minor=6000,
            bundle_items=tuple(BundleItem(p.service_id, 1) for p in parts),
        )

    async def announce(self, terms: ServiceTerms, event_type: Any = SERVICE_PUBLISHED) -> None:
        """Catalog's service.published (or .updated) reaching booking's terms consumer."""
        message = event_type.message(service=terms_message(terms))
        async with self.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
            await keep_terms(
                uow,
                ReceivedEvent(
                    new_id(), event_type.name, "/estuary/catalog", "", self.clock.now(), message
                ),
            )
            await uow.commit()

    async def open_hours(self, start: time = time(8), end: time = time(20)) -> None:
        schedule = check_schedule(
            "Europe/Lisbon", [WeeklyWindow(day, LocalWindow(start, end)) for day in range(7)]
        )
        await self.desk.update_schedule(
            self.owner, f"practitioners/{self.practitioner_id}/schedule", schedule
        )

    async def book(
        self,
        terms: ServiceTerms,
        start: datetime | None = None,
        who: Principal | None = None,
        **asked: Any,
    ) -> BookingView:
        return await self.desk.create_booking(
            who or person(),
            BookingRequest(service_id=terms.service_id, start=start, **asked),
        )

    async def paid(self, booking: Booking, payment_id: str = "") -> None:
        """payment.succeeded for the booking, as payments would send it."""
        async with self.service.runtime.unit_of_work(BookingUnitOfWork)() as uow:
            await apply_payment(
                uow,
                self.service.runtime.settings,  # type: ignore[arg-type]
                booking_id=booking.id,
                payment_id=payment_id or f"pay_{booking.id[-6:]}",
                amount=booking.price,
            )
            await uow.commit()

    def room_event(
        self,
        booking: Booking,
        user_id: str,
        joined: bool,
        when: datetime | None,
        *,
        event_id: str | None = None,
        booking_id: str | None = None,
    ) -> HeldDelivery:
        """Streams' room.participant_joined (or _left) about a booking's room, as the bus
        delivers it (the same event id twice: a redelivery); another booking id, or no time,
        when a test asks for a message streams should not send."""
        fields: dict[str, Any] = {
            "booking_id": booking.id if booking_id is None else booking_id,
            "user_id": user_id,
            "role": streams_events.ROOM_ROLE_CLIENT
            if user_id == booking.client_id
            else streams_events.ROOM_ROLE_PRACTITIONER,
            "room": f"session-{booking.id}",
        }
        event_type: Any = PARTICIPANT_JOINED if joined else PARTICIPANT_LEFT
        if when is not None:
            fields["join_time" if joined else "leave_time"] = timestamp(when)
        event = encode_event(
            event_type,
            event_type.message(**fields),
            event_id=event_id or new_id(),
            source="/estuary/streams",
            subject=f"bookings/{booking.id}",
            time=self.clock.now(),
        )
        return HeldDelivery(dict(event.headers), event.content_type, event.body)

    async def deliver(self, delivery: HeldDelivery) -> str:
        """Hands one delivery to booking's attendance consumer; how it was settled."""
        subscription = next(
            s for s in self.service.subscriptions if s.queue == "booking.attendance"
        )
        consumer = EventConsumer(
            subscription,
            unit_of_work=self.service.runtime.unit_of_work(BookingUnitOfWork),
            transport=self.service.runtime.transport,
            backoff=0,
            backoff_max=0,
        )
        await consumer.handle(delivery)
        return delivery.settled


def terms_message(terms: ServiceTerms) -> catalog_events.ServiceTerms:
    """Terms as catalog's events carry them."""
    return catalog_events.ServiceTerms(
        service_id=terms.service_id,
        practitioner_id=terms.practitioner_id,
        practitioner_user_id=terms.practitioner_user_id,
        timezone=terms.time_zone,
        kind=SERVICE_KINDS.to_proto(terms.kind),
        title=terms.title,
        price=Money(terms.price_minor, terms.currency).to_proto(),
        duration_minutes=terms.duration_minutes,
        max_participants=terms.max_participants,
        buffer_before_minutes=terms.buffer_before_minutes,
        buffer_after_minutes=terms.buffer_after_minutes,
        min_notice_minutes=terms.min_notice_minutes,
        booking_window_days=terms.booking_window_days,
        cancellation_policy=[
            catalog_pb2.RefundRule(hours_before=r.hours_before, refund_percent=r.refund_percent)
            for r in terms.cancellation_policy
        ],
        location_kind=LOCATION_KINDS.to_proto(terms.location_kind),
        location_id=terms.location_id,
        sessions=[
            catalog_pb2.ServiceSession(
                start_time=timestamp(s.start), duration_minutes=s.duration_minutes
            )
            for s in terms.sessions
        ],
        package=(
            catalog_pb2.PackageTerms(
                session_service_id=terms.package.session_service_id,
                session_count=terms.package.session_count,
                validity_days=terms.package.validity_days,
            )
            if terms.package
            else None
        ),
        bundle_items=[
            catalog_pb2.BundleItem(service_id=i.service_id, quantity=i.quantity)
            for i in terms.bundle_items
        ],
        status=catalog_pb2.SERVICE_STATUS_ACTIVE
        if terms.on_sale
        else catalog_pb2.SERVICE_STATUS_ARCHIVED,
        update_time=timestamp(terms.updated_at),
    )


def at(*, days: int = 1, hour: int = 10, minute: int = 0) -> datetime:
    """An instant `days` after MONDAY at hour:minute UTC (Lisbon's wall time in March)."""
    return (MONDAY + timedelta(days=days)).replace(hour=hour, minute=minute)


@asynccontextmanager
async def world(url: str, **settings: Any) -> AsyncIterator[World]:
    clock = FrozenClock(MONDAY)
    catalog = FakeCatalog()
    async with built_booking(url, clock=clock, catalog=catalog, **settings) as service:
        made = World(service, catalog, clock)
        catalog.knows(Practitioner(made.practitioner_id, made.user_id, "Europe/Lisbon", MONDAY))
        yield made
