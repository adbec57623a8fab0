"""Booking's composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chassis.auth.remote import ServiceTokens, identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.bus.consumer import Subscription
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.grpc_client import open_channel
from chassis.grpc_server import ServicerBinding
from chassis.runtime import ServiceRuntime
from estuary.booking.v1 import booking_pb2, booking_pb2_grpc
from services.booking.catalog import Catalog, CatalogClient
from services.booking.consumers import subscriptions
from services.booking.events import EMITTED
from services.booking.grpc_api import BookingServicer
from services.booking.service_layer import FrontDesk
from services.booking.settings import BookingSettings
from services.booking.uow import BookingUnitOfWork

NAME = "booking"
MIGRATIONS = Path(__file__).parent / "migrations"
EVENTS_EMITTED = EMITTED


@dataclass
class BookingService:
    """A built booking service: its runtime, its handlers and what it holds open."""

    runtime: ServiceRuntime
    desk: FrontDesk
    verifier: TokenVerifier
    subscriptions: tuple[Subscription, ...]
    channels: list[Any] = field(default_factory=list)
    port: int = 0

    async def start(self) -> int:
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    BookingServicer(self.desk),
                    booking_pb2_grpc.add_BookingServiceServicer_to_server,
                    booking_pb2.DESCRIPTOR.services_by_name["BookingService"].full_name,
                )
            ],
            verifier=self.verifier,
            subscriptions=self.subscriptions,
            unit_of_work=self.runtime.unit_of_work(BookingUnitOfWork),
            jobs=self.desk.periodic_jobs(),
        )
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()
        for channel in self.channels:
            await channel.close()


def build(
    settings: BookingSettings,
    *,
    transport: Transport,
    clock: Clock | None = None,
    catalog: Catalog | None = None,
) -> BookingService:
    """Wires booking's handlers, servicer, consumers and jobs onto a runtime (nothing starts
    yet). Catalog is reached over gRPC unless the caller brings another (tests do)."""
    runtime = ServiceRuntime(settings, transport=transport, clock=clock, emits=EMITTED)
    identity_channel = open_channel(settings.identity_address)
    channels: list[Any] = [identity_channel]
    verifier = TokenVerifier(
        KeySet(identity_jwks(identity_channel)),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=runtime.clock,
    )
    if catalog is None:
        catalog_channel = open_channel(settings.catalog_address)
        channels.append(catalog_channel)
        tokens = ServiceTokens(
            identity_channel,
            client_id=settings.service_name,
            client_secret=settings.service_client_secret,
            clock=runtime.clock,
        )
        catalog = CatalogClient(catalog_channel, tokens)
    desk = FrontDesk(
        unit_of_work=runtime.unit_of_work(BookingUnitOfWork),
        settings=settings,
        clock=runtime.clock,
        catalog=catalog,
    )
    return BookingService(runtime, desk, verifier, subscriptions(settings), channels)
