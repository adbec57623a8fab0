"""The gateway's gRPC channels and stubs, one channel per declared service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis.grpc_client import call_metadata, open_channel, retrying
from chassis.service import ServiceDeclaration, resolve
from gateway.settings import GatewaySettings
from suite.registry import SERVICES

HEALTH_DEADLINE_SECONDS = 0.5


class Backends:
    """A channel to every declared service and the stubs each declares for the gateway
    (`backends.identity`, `backends.auth`, `backends.catalog`...), retrying UNAVAILABLE."""

    def __init__(
        self, settings: GatewaySettings, declarations: Sequence[ServiceDeclaration] = SERVICES
    ) -> None:
        deadline = settings.backend_deadline_seconds
        self.deadline = deadline
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.stubs: dict[str, Any] = {}
        self._settings = settings
        self._ports = {service.name: service.grpc_port for service in declarations}
        self._stream_channels: dict[str, grpc.aio.Channel] = {}
        for service in declarations:
            address = settings.backend_address(service.name, service.grpc_port)
            channel = open_channel(address, deadline=deadline)
            self.channels[service.name] = channel
            for attribute, stub in service.stubs.items():
                if attribute in self.stubs:
                    raise ValueError(f"two services declare the gateway stub {attribute!r}")
                self.stubs[attribute] = retrying(resolve(stub)(channel), deadline=deadline)

    def __getattr__(self, name: str) -> Any:
        # Only for names not found otherwise: the stubs the services declared.
        stubs = self.__dict__.get("stubs", {})
        if name in stubs:
            return stubs[name]
        raise AttributeError(f"no backend declares the gateway stub {name!r}")

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

    def stream_channel(self, name: str) -> grpc.aio.Channel:
        """A channel to a service for long-lived streams (the live socket's): no default
        deadline, made on first use."""
        channel = self._stream_channels.get(name)
        if channel is None:
            address = self._settings.backend_address(name, self._ports[name])
            channel = self._stream_channels[name] = open_channel(address, deadline=None)
        return channel

    async def close(self) -> None:
        for channel in [*self.channels.values(), *self._stream_channels.values()]:
            await channel.close()
