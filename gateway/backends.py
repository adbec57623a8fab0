"""The gateway's gRPC channels and stubs, one channel per backend service."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis.grpc_client import call_metadata, open_channel, retrying
from estuary.catalog.v1 import catalog_pb2_grpc
from estuary.identity.v1 import identity_pb2_grpc
from gateway.settings import GatewaySettings

HEALTH_DEADLINE_SECONDS = 0.5


class Backends:
    """Stubs for every backend the gateway translates to."""

    def __init__(self, settings: GatewaySettings) -> None:
        deadline = settings.backend_deadline_seconds
        self.channels: dict[str, grpc.aio.Channel] = {
            "identity": open_channel(settings.identity_address, deadline=deadline),
            "catalog": open_channel(settings.catalog_address, deadline=deadline),
        }
        self.deadline = deadline
        self.identity = retrying(
            identity_pb2_grpc.IdentityServiceStub(self.channels["identity"]), deadline=deadline
        )
        self.auth = retrying(
            identity_pb2_grpc.AuthServiceStub(self.channels["identity"]), deadline=deadline
        )
        self.catalog = retrying(
            catalog_pb2_grpc.CatalogServiceStub(self.channels["catalog"]), deadline=deadline
        )

    async def health(self) -> dict[str, str]:
        """Each backend's gRPC health status, by name, asked of all at once (a readiness
        probe's time limit is about a second)."""

        async def check(channel: grpc.aio.Channel) -> str:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""),
                    timeout=HEALTH_DEADLINE_SECONDS,
                    metadata=call_metadata(),
                    wait_for_ready=False,
                )
            except grpc.aio.AioRpcError as error:
                return error.code().name
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        names = list(self.channels)
        found = await asyncio.gather(*(check(self.channels[name]) for name in names))
        return dict(zip(names, found, strict=True))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
