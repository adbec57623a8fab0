"""The embedded suite: every service and the gateway in one process, on one machine.

Each service has its own SQLite file and its own gRPC port and is called over real gRPC on
loopback; events travel on the embedded broker, which keeps RabbitMQ's semantics and keeps
its queues in the data folder's bus.db, so a crash loses none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.clock import Clock
from chassis.migrations import upgrade
from gateway.app import create_app
from gateway.settings import GatewaySettings
from suite.registry import SERVICES, ServiceEntry


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the suite stops everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(app: Any, host: str, port: int) -> tuple[QuietServer, asyncio.Task[None], int]:
    """Starts uvicorn on the running loop; returns the server, its task and the bound port."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # The gateway alone decides whether to trust X-Forwarded-For (trust_forwarded_for).
        proxy_headers=False,
        loop="none",
    )
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"the gateway could not start on {host}:{port}")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, task, bound


@dataclass
class EmbeddedSuite:
    """All of Estuary in this process. Ports of 0 pick free ones (for tests)."""

    data_dir: Path
    gateway_port: int = 8000
    grpc_ports: dict[str, int] = field(default_factory=dict)
    host: str = "127.0.0.1"
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    gateway_overrides: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        self._broker: EmbeddedBroker | None = None
        self.services: dict[str, Any] = {}
        self.ports: dict[str, int] = {}
        self.gateway_url = ""
        self._server: QuietServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        # Each service gets a secret for service tokens, made fresh for this run.
        self.service_secrets = {s.name: secrets.token_urlsafe(24) for s in SERVICES}

    @property
    def broker(self) -> EmbeddedBroker:
        """The suite's bus, opened on first use: its queues are in the data folder's bus.db."""
        if self._broker is None:
            self._broker = EmbeddedBroker(
                self.data_dir / "bus.db", self.settings_for(SERVICES[0]).bus_delivery_limit
            )
        return self._broker

    def database_url(self, name: str) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{name}.db').resolve()}"

    def settings_for(self, entry: ServiceEntry) -> Any:
        values: dict[str, Any] = {
            "database_url": self.database_url(entry.name),
            "bus_url": "memory://",
            "grpc_host": self.host,
            "grpc_port": self.grpc_ports.get(entry.name, entry.default_grpc_port),
            "identity_address": f"{self.host}:{self.ports.get('identity', 0)}",
            "service_client_secret": self.service_secrets[entry.name],
            "log_format": "console",
        }
        if entry.name == "identity":
            values["service_credentials"] = self.service_secrets
        values.update(self.overrides.get(entry.name, {}))
        return entry.settings(**values)

    async def migrate(self) -> None:
        """Brings every service's database to the newest schema."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for entry in SERVICES:
            await asyncio.to_thread(upgrade, entry.migrations, self.database_url(entry.name))

    async def start(self) -> None:
        """Migrates, then starts the services in order and the gateway last."""
        await self.migrate()
        for entry in SERVICES:
            service = entry.build(
                self.settings_for(entry),
                transport=EmbeddedTransport(self.broker),
                clock=self.clock,
            )
            self.ports[entry.name] = await service.start()
            self.services[entry.name] = service
        addresses: dict[str, Any] = {
            f"{name}_address": f"{self.host}:{port}" for name, port in self.ports.items()
        }
        gateway_settings = GatewaySettings(
            http_host=self.host,
            http_port=self.gateway_port,
            **addresses,
            **self.gateway_overrides,
        )
        self.gateway_app = create_app(gateway_settings)
        self._server, self._server_task, port = await serve_http(
            self.gateway_app, self.host, self.gateway_port
        )
        self.gateway_url = f"http://{self.host}:{port}"

    async def stop(self) -> None:
        """Stops the gateway first, then the services in reverse order, then closes the bus;
        what is still queued stays in bus.db for the next start."""
        if self._server is not None and self._server_task is not None:
            self._server.should_exit = True
            await self._server_task
        for name in reversed(list(self.services)):
            await self.services[name].stop()
        self.services.clear()
        if self._broker is not None:
            self._broker.close()
            self._broker = None
