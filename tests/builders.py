"""Services built on a database of the test's own, with no process, port or bus started:
their handlers run on the real unit of work, against SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from google.protobuf.message import Message

from chassis.auth.principal import Principal, Role, TokenType
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import EventType, decode_event
from chassis.clock import Clock
from chassis.db import Database
from chassis.errors import FailedPrecondition, NotFound
from chassis.ids import new_id
from chassis.media import MediaSettings
from chassis.migrations import upgrade
from chassis.money import Money
from chassis.tables import outbox
from services.booking import bootstrap as booking_bootstrap
from services.booking.catalog import Quote
from services.booking.domain.practitioners import Practitioner
from services.booking.settings import BookingSettings
from services.catalog import bootstrap as catalog_bootstrap
from services.catalog.domain.practitioners import Location, LocationKind, Profile
from services.catalog.domain.services import Service, ServiceKind, ServiceStatus
from services.catalog.settings import CatalogSettings
from services.identity import bootstrap as identity_bootstrap
from services.identity.settings import IdentitySettings
from services.messaging import bootstrap as messaging_bootstrap
from services.messaging.settings import MessagingSettings
from services.payments import bootstrap as payments_bootstrap
from services.payments.settings import PaymentsSettings


def person(user_id: str | None = None, *roles: Role) -> Principal:
    """A signed-in user with these roles (a client when none are given)."""
    return Principal(
        subject=user_id or new_id(),
        token_type=TokenType.ACCESS,
        roles=frozenset(r.value for r in roles) or frozenset({Role.CLIENT.value}),
        token_id=new_id(),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )


# Who acts in tests, and what they offer.

STAFF = person(None, Role.STAFF)
PASSWORD = "river-stone-42-lantern"


def profile(name: str = "Ana Lima") -> Profile:
    """A practitioner profile that passes every check."""
    return Profile(name, "Teaches yoga.", ["yoga"], [], 3, ["en"], "Europe/Lisbon")


VIRTUAL = [Location("", LocationKind.VIRTUAL)]


async def applicant(catalog: Any, user: Principal | None = None) -> tuple[Principal, Any]:
    """A user who has applied as a practitioner (pending review), and their profile."""
    user = user or person()
    view = await catalog.apply(user, profile(), VIRTUAL)
    return user, view.practitioner


def draft(category_id: str) -> Service:
    """A one-to-one virtual session that passes every check."""
    now = datetime.now(UTC)
    return Service(
        id="",
        practitioner_id="",
        kind=ServiceKind.SESSION,
        title="Morning yoga",
        description="A calm hour.",
        category_id=category_id,
        price_minor=4000,
        currency="EUR",
        duration_minutes=60,
        location_kind=LocationKind.VIRTUAL,
        location_id=None,
        max_participants=1,
        buffer_before_minutes=0,
        buffer_after_minutes=0,
        min_notice_minutes=60,
        booking_window_days=90,
        cancellation_policy=[],
        status=ServiceStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )


@asynccontextmanager
async def built_identity(
    url: str, *, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[identity_bootstrap.IdentityService]:
    """Identity on its migrated database, with cheap password hashing unless the settings
    given say otherwise, on the test's clock if it brings one."""
    await asyncio.to_thread(upgrade, identity_bootstrap.MIGRATIONS, url)
    configured = IdentitySettings(
        **{"argon2_time_cost": 1, "argon2_memory_kib": 64, **settings},
        database_url=url,
        grpc_port=0,
    )
    service = identity_bootstrap.build(
        configured, transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)), clock=clock
    )
    await service.keyring.ensure_active()
    try:
        yield service
    finally:
        await service.runtime.database.dispose()


@asynccontextmanager
async def built_catalog(
    url: str, *, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[catalog_bootstrap.CatalogService]:
    """Catalog on its migrated database, with the settings given, on the test's clock if it
    brings one."""
    await asyncio.to_thread(upgrade, catalog_bootstrap.MIGRATIONS, url)
    configured = CatalogSettings(**settings, database_url=url, grpc_port=0)
    service = catalog_bootstrap.build(
        configured, transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)), clock=clock
    )
    try:
        yield service
    finally:
        await service.runtime.database.dispose()
        await service.identity_channel.close()  # type: ignore[attr-defined]


def _outbox_rows(event_type: str, subject: str) -> list[sa.ColumnElement[bool]]:
    conditions = [outbox.c.event_type == event_type]
    if subject:
        conditions.append(outbox.c.subject == subject)
    return conditions


async def outbox_events(database: Database, event_type: str, subject: str = "") -> int:
    """How many events of a type (about a subject) a service's outbox holds."""
    conditions = _outbox_rows(event_type, subject)
    async with database.engine.connect() as connection:
        return (
            await connection.execute(
                sa.select(sa.func.count()).select_from(outbox).where(*conditions)
            )
        ).scalar_one()


M = TypeVar("M", bound=Message)


async def outbox_messages(
    database: Database, event_type: EventType[M], subject: str = ""
) -> list[M]:
    """The messages of a type (about a subject) a service's outbox holds, oldest first."""
    conditions = _outbox_rows(event_type.name, subject)
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox.c.headers, outbox.c.content_type, outbox.c.body)
            .where(*conditions)
            .order_by(outbox.c.position)
        )
    registry: dict[str, EventType[Any]] = {event_type.name: event_type}
    return [
        cast(M, decode_event(r.headers, r.content_type, r.body, registry).message) for r in rows
    ]


# Booking -------------------------------------------------------------------------------------


class FakeCatalog:
    """Catalog as booking sees it, in memory: the services on sale (their terms) and their
    practitioners; quotes are the terms' price per seat, refused once a service is off sale."""

    def __init__(self) -> None:
        self.terms: dict[str, Any] = {}
        self.people: dict[str, Any] = {}
        self.quotes = 0
        self.fetches = 0

    def sells(self, terms: Any) -> Any:
        self.terms[terms.service_id] = terms
        self.people[terms.practitioner_id] = Practitioner(
            terms.practitioner_id, terms.practitioner_user_id, terms.time_zone, terms.updated_at
        )
        return terms

    def knows(self, practitioner: Any) -> Any:
        self.people[practitioner.id] = practitioner
        return practitioner

    async def quote(self, service_id: str, seats: int) -> Any:
        self.quotes += 1
        terms = self.terms.get(service_id)
        if terms is None:
            raise NotFound("no such service")
        if not terms.on_sale:
            raise FailedPrecondition("the service is not on sale", reason="NOT_ON_SALE")
        return Quote(Money(terms.price_minor * (seats or 1), terms.currency), terms.updated_at)

    async def services(self, service_ids: Any) -> list[Any]:
        self.fetches += 1
        return [self.terms[i] for i in service_ids if i in self.terms]

    async def practitioner(self, practitioner_id: str) -> Any:
        return self.people.get(practitioner_id)


@asynccontextmanager
async def built_booking(
    url: str, *, clock: Clock | None = None, catalog: Any = None, **settings: Any
) -> AsyncIterator[Any]:
    """Booking on its migrated database with a catalog of the test's own (a FakeCatalog
    unless given), on the test's clock if it brings one; nothing is started."""
    await asyncio.to_thread(upgrade, booking_bootstrap.MIGRATIONS, url)
    configured = BookingSettings(**settings, database_url=url, grpc_port=0)
    service = booking_bootstrap.build(
        configured,
        transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)),
        clock=clock,
        catalog=catalog or FakeCatalog(),
    )
    try:
        yield service
    finally:
        await service.runtime.database.dispose()
        for channel in service.channels:
            await channel.close()


@asynccontextmanager
async def built_messaging(
    url: str, *, clock: Clock | None = None, mailer: Any = None, **settings: Any
) -> AsyncIterator[Any]:
    """Messaging on its migrated database, sending mail to the test's mailer if it brings
    one, its attachments in a folder store of its own unless given `media`; nothing is
    started."""
    await asyncio.to_thread(upgrade, messaging_bootstrap.MIGRATIONS, url)
    with tempfile.TemporaryDirectory(prefix="estuary-media-") as folder:
        settings.setdefault("media", MediaSettings(folder=folder, signing_secret=new_id()))
        configured = MessagingSettings(**settings, database_url=url, grpc_port=0)
        service = messaging_bootstrap.build(
            configured,
            transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)),
            clock=clock,
            mailer=mailer,
        )
        try:
            yield service
        finally:
            await service.runtime.database.dispose()
            await service.media.close()
            for channel in service.channels:
                await channel.close()


@asynccontextmanager
async def built_payments(
    url: str, *, sandbox_dir: str, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[Any]:
    """Payments on its migrated database and the sandbox file in sandbox_dir (a running
    suite's own: its events wait there for that suite's payments to deliver), at clock's
    time; nothing is started."""
    await asyncio.to_thread(upgrade, payments_bootstrap.MIGRATIONS, url)
    configured = PaymentsSettings(
        **settings, database_url=url, grpc_port=0, sandbox_dir=sandbox_dir
    )
    service = payments_bootstrap.build(
        configured, transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)), clock=clock
    )
    try:
        yield service
    finally:
        await service.runtime.database.dispose()
        await service.provider.aclose()
        for channel in service.channels:
            await channel.close()
