"""Streams' composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chassis.auth.remote import identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.bus.consumer import Subscription
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.grpc_client import open_channel
from chassis.grpc_server import ServicerBinding
from chassis.runtime import ServiceRuntime
from estuary.streams.v1 import streams_pb2, streams_pb2_grpc
from services.streams.consumers import SUBSCRIPTIONS
from services.streams.desk import StreamDesk
from services.streams.engagement import EngagementDesk
from services.streams.grpc_api import StreamsServicer
from services.streams.settings import StreamsSettings
from services.streams.uow import StreamsUnitOfWork

NAME = "streams"
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class StreamsService:
    """A built streams service: its runtime, its handlers and what it holds open."""

    runtime: ServiceRuntime
    desk: StreamDesk
    engagement: EngagementDesk
    verifier: TokenVerifier
    subscriptions: tuple[Subscription, ...]
    channels: list[Any] = field(default_factory=list)
    port: int = 0

    async def start(self) -> int:
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    StreamsServicer(self.desk, self.engagement),
                    streams_pb2_grpc.add_StreamsServiceServicer_to_server,
                    streams_pb2.DESCRIPTOR.services_by_name["StreamsService"].full_name,
                ),
            ],
            verifier=self.verifier,
            subscriptions=self.subscriptions,
            unit_of_work=self.runtime.unit_of_work(StreamsUnitOfWork),
        )
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()
        for channel in self.channels:
            await channel.close()


def build(
    settings: StreamsSettings, *, transport: Transport, clock: Clock | None = None
) -> StreamsService:
    """Wires streams' handlers, servicer and consumers onto a runtime (nothing starts yet)."""
    runtime = ServiceRuntime(settings, transport=transport, clock=clock)
    identity_channel = open_channel(settings.identity_address)
    verifier = TokenVerifier(
        KeySet(identity_jwks(identity_channel)),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=runtime.clock,
    )
    unit_of_work = runtime.unit_of_work(StreamsUnitOfWork)
    return StreamsService(
        runtime,
        StreamDesk(unit_of_work, runtime.clock),
        EngagementDesk(unit_of_work, runtime.clock),
        verifier,
        SUBSCRIPTIONS,
        [identity_channel],
    )
