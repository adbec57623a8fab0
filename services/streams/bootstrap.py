"""Streams' composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from chassis.auth.remote import identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.bus.consumer import Subscription
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.grpc_client import open_channel
from chassis.grpc_server import ServicerBinding
from chassis.jobs import PeriodicJob
from chassis.media import media_store
from chassis.media.sweeper import MediaSweeper
from chassis.runtime import ServiceRuntime
from estuary.streams.v1 import rooms_pb2, rooms_pb2_grpc, streams_pb2, streams_pb2_grpc
from services.streams.analytics import AnalyticsDesk
from services.streams.consumers import subscriptions
from services.streams.desk import StreamDesk
from services.streams.engagement import EngagementDesk
from services.streams.events import EMITTED
from services.streams.grpc_api import RoomsServicer, StreamsServicer
from services.streams.media import MediaDesk
from services.streams.rooms import RoomDesk
from services.streams.sales import SalesDesk
from services.streams.settings import StreamsSettings
from services.streams.uow import StreamsUnitOfWork
from services.streams.video.config import room_service

NAME = "streams"
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class StreamsService:
    """A built streams service: its runtime, its handlers and what it holds open."""

    runtime: ServiceRuntime
    desk: StreamDesk
    engagement: EngagementDesk
    media: MediaDesk
    analytics: AnalyticsDesk
    sweeper: MediaSweeper[StreamsUnitOfWork]
    rooms: RoomDesk
    verifier: TokenVerifier
    subscriptions: tuple[Subscription, ...]
    jobs: list[PeriodicJob]
    sales: SalesDesk
    channels: list[Any] = field(default_factory=list)
    port: int = 0

    async def start(self) -> int:
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    StreamsServicer(
                        self.desk, self.engagement, self.sales, self.media, self.analytics
                    ),
                    streams_pb2_grpc.add_StreamsServiceServicer_to_server,
                    streams_pb2.DESCRIPTOR.services_by_name["StreamsService"].full_name,
                ),
                ServicerBinding(
                    RoomsServicer(self.rooms),
                    rooms_pb2_grpc.add_RoomsServiceServicer_to_server,
                    rooms_pb2.DESCRIPTOR.services_by_name["RoomsService"].full_name,
                ),
            ],
            verifier=self.verifier,
            subscriptions=self.subscriptions,
            unit_of_work=self.runtime.unit_of_work(StreamsUnitOfWork),
            jobs=self.jobs,
        )
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.rooms.video.close()
        await self.media.store.close()
        for channel in self.channels:
            await channel.close()


def build(
    settings: StreamsSettings, *, transport: Transport, clock: Clock | None = None
) -> StreamsService:
    """Wires streams' handlers, servicers and consumers onto a runtime (nothing starts yet);
    a half-configured LiveKit or media store is refused here (RoomsMisconfigured,
    MediaMisconfigured), naming the setting."""
    video, keys, video_url = room_service(
        url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret,
        empty_timeout_seconds=settings.room_empty_timeout_seconds,
    )
    runtime = ServiceRuntime(settings, transport=transport, clock=clock, emits=EMITTED)
    media = media_store(settings.media, clock=runtime.clock)
    identity_channel = open_channel(settings.identity_address)
    verifier = TokenVerifier(
        KeySet(identity_jwks(identity_channel)),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=runtime.clock,
    )
    unit_of_work = runtime.unit_of_work(StreamsUnitOfWork)
    desk = StreamDesk(unit_of_work, runtime.clock, video, media)
    sweeper = MediaSweeper(
        unit_of_work,
        lambda uow: uow.media,
        media,
        runtime.clock,
        job="streams.sweep_post_media",
        pending=timedelta(hours=settings.post_media_pending_hours),
        interval=timedelta(seconds=settings.post_media_sweep_seconds),
    )
    return StreamsService(
        runtime,
        desk,
        EngagementDesk(unit_of_work, runtime.clock),
        MediaDesk(unit_of_work, runtime.clock, media, settings),
        AnalyticsDesk(unit_of_work, runtime.clock),
        sweeper,
        RoomDesk(
            unit_of_work,
            runtime.clock,
            video,
            keys,
            video_url,
            token_ttl=timedelta(seconds=settings.room_token_ttl_seconds),
            lead=timedelta(minutes=settings.session_room_lead_minutes),
        ),
        verifier,
        subscriptions(video),
        [
            PeriodicJob(
                "streams.publish_scheduled_posts",
                timedelta(seconds=settings.scheduled_post_check_seconds),
                desk.publish_due_posts,
            ),
            *sweeper.jobs(),
        ],
        SalesDesk(unit_of_work),
        [identity_channel],
    )
