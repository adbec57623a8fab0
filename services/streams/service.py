"""Streams, as the suite, the gateway and the deploy files know it (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from chassis.service import Imported, ServiceDeclaration
from services.streams.settings import StreamsSettings

SERVICE = ServiceDeclaration(
    name="streams",
    grpc_port=50056,
    settings=StreamsSettings,
    bootstrap="services.streams.bootstrap:build",
    migrations=Path(__file__).parent / "migrations",
    emits=Imported("services.streams.events:EMITTED"),
    subscriptions=Imported("services.streams.consumers:SUBSCRIPTIONS"),
    # Identity's keys verify the tokens of the users reading and writing streams.
    calls=("identity",),
    stubs={
        "streams": "estuary.streams.v1.streams_pb2_grpc:StreamsServiceStub",
        "rooms": "estuary.streams.v1.rooms_pb2_grpc:RoomsServiceStub",
    },
    operator_settings={
        "ESTUARY_LIVEKIT_URL": False,
        "ESTUARY_LIVEKIT_API_KEY": False,
        "ESTUARY_LIVEKIT_API_SECRET": False,
    },
)
