"""The grpc.aio server every service runs: interceptors, health, reflection, graceful stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chassis.accounts import AccountStatuses
from chassis.auth.tokens import TokenVerifier
from chassis.interceptors import (
    AuthInterceptor,
    ErrorInterceptor,
    RequestContextInterceptor,
    access_policy,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ServicerBinding:
    """A servicer, the generated function that registers it, and its full service name."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    service_name: str


class GrpcServer:
    """One service's gRPC server on its own port."""

    def __init__(
        self,
        *,
        bindings: Sequence[ServicerBinding],
        verifier: TokenVerifier,
        host: str,
        port: int,
        reflection_enabled: bool = True,
        shutdown_grace: float = 10.0,
        accounts: AccountStatuses | None = None,
    ) -> None:
        self._bindings = bindings
        self._address = f"{host}:{port}"
        self._grace = shutdown_grace
        self._health = health.aio.HealthServicer()
        service_names = [b.service_name for b in bindings]
        self._server = grpc.aio.server(
            interceptors=[
                RequestContextInterceptor(),
                ErrorInterceptor(),
                AuthInterceptor(verifier, access_policy(service_names), accounts),
            ],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ],
        )
        for binding in bindings:
            binding.add_to_server(binding.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        if reflection_enabled:
            reflection.enable_server_reflection(
                [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
            )
        self.port = 0

    async def start(self) -> int:
        """Binds, starts and marks every service SERVING; returns the bound port."""
        self.port = self._server.add_insecure_port(self._address)
        if self.port == 0:
            raise RuntimeError(f"could not bind gRPC on {self._address}")
        await self._server.start()
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)
        return self.port

    async def stop(self) -> None:
        """Marks NOT_SERVING so probes drain traffic, then lets in-flight calls finish."""
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self._server.stop(self._grace)

    async def _set_all(self, status: int) -> None:
        await self._health.set("", status)
        for binding in self._bindings:
            await self._health.set(binding.service_name, status)
