"""The embedded suite: every service and the gateway in one process, on one machine.

Each service has its own SQLite file and its own gRPC port and is called over real gRPC on
loopback; events travel on the embedded broker, which keeps RabbitMQ's semantics and keeps
its queues in the data folder's bus.db, so a crash loses none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import secrets
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.clock import Clock
from chassis.media import MediaSettings
from chassis.migrations import upgrade
from chassis.service import ServiceDeclaration, in_start_order
from gateway.app import create_app
from gateway.settings import GatewaySettings
from suite.registry import SERVICES

# The gateway's hourly budgets when a person explores the embedded suite: the production
# defaults (100 anonymous requests an hour) lock a newcomer out of login after a few minutes
# of clicking through the docs. The per-minute limits on login and registration stay as in
# production. Any ESTUARY_RATE_LIMIT_* variable that is set wins.
EXPLORING_LIMITS: dict[str, Any] = {
    "rate_limit_anonymous_per_hour": 10_000,
    "rate_limit_client_per_hour": 10_000,
    "rate_limit_practitioner_per_hour": 10_000,
}


class PortInUse(Exception):
    """A port the suite would listen on is taken by another program."""

    def __init__(self, host: str, port: int, purpose: str) -> None:
        super().__init__(f"port {port} on {host} ({purpose}) is in use by another program")
        self.host = host
        self.port = port
        self.purpose = purpose


def listening_socket(host: str, port: int, purpose: str) -> socket.socket:
    """A socket bound to host:port (not listening yet); PortInUse when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on accepted sockets whose
    # listener says TCP, and without it a keep-alive response written in two parts waits
    # ~40 ms for the client's delayed ACK (Nagle), on every request after a connection's first.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, purpose) from None
        raise
    return sock


def require_free_port(host: str, port: int, purpose: str) -> None:
    """PortInUse unless host:port can be bound now (port 0, any free port, always can)."""
    if port:
        listening_socket(host, port, purpose).close()


def env_sets(field_name: str) -> bool:
    """Whether the environment sets this setting (ESTUARY_<FIELD>, in any case)."""
    variable = f"ESTUARY_{field_name}".upper()
    return any(name.upper() == variable for name in os.environ)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the suite stops everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(
    app: Any, host: str, port: int, purpose: str = "the gateway's HTTP port"
) -> tuple[QuietServer, asyncio.Task[None], int]:
    """Starts uvicorn on the running loop; returns the server, its task and the bound port.
    A taken port is PortInUse, before anything starts."""
    sock = listening_socket(host, port, purpose)
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
        # websockets' Sans-I/O protocol, without per-message compression: the live frames
        # are small JSON, and each socket's zlib state alone was ~44 KiB (an idle socket cost
        # 58 KiB with it, 20 KiB without; the legacy protocol, deprecated, 127 KiB).
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        loop="none",
    )
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"the gateway could not start on {host}:{port}")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return server, task, bound


@dataclass
class EmbeddedSuite:
    """All of Estuary in this process. Ports of 0 pick free ones (for tests); a service's
    gRPC port is its declared one unless grpc_ports says otherwise."""

    data_dir: Path
    gateway_port: int = 8000
    grpc_ports: dict[str, int] = field(default_factory=dict)
    host: str = "127.0.0.1"
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    gateway_overrides: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)
    declarations: Sequence[ServiceDeclaration] = SERVICES

    def __post_init__(self) -> None:
        self.declarations = in_start_order(self.declarations)
        self._broker: EmbeddedBroker | None = None
        self.services: dict[str, Any] = {}
        self.ports: dict[str, int] = {}
        self.gateway_url = ""
        self._server: QuietServer | None = None
        self._server_task: asyncio.Task[None] | None = None
        # Each service gets a secret for service tokens, made fresh for this run.
        self.service_secrets = {s.name: secrets.token_urlsafe(24) for s in self.declarations}
        self.media = self.media_settings()

    @property
    def broker(self) -> EmbeddedBroker:
        """The suite's bus, opened on first use: its queues are in the data folder's bus.db."""
        if self._broker is None:
            self._broker = EmbeddedBroker(
                self.data_dir / "bus.db",
                self.settings_for(self.declarations[0]).bus_delivery_limit,
            )
        return self._broker

    def database_url(self, name: str) -> str:
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{name}.db').resolve()}"

    def media_settings(self) -> MediaSettings:
        """The media store the services and the gateway share: the environment's, else files
        in the data folder's media/, signed with a secret made for this run. One object for
        all, so the gateway's address reaches every store once it listens."""
        media = MediaSettings()
        if media.backend != "folder":
            return media
        if not env_sets("media_folder"):
            media.folder = str((self.data_dir / "media").resolve())
        if not media.signing_secret:
            media.signing_secret = secrets.token_urlsafe(32)
        return media

    def grpc_port(self, declaration: ServiceDeclaration) -> int:
        return self.grpc_ports.get(declaration.name, declaration.grpc_port)

    def settings_for(self, declaration: ServiceDeclaration) -> Any:
        """A service's settings in this suite: its file in the data folder, the shared bus,
        where the services it calls listen (they start first), a secret for service tokens,
        and every service's secret for the one that issues them."""
        values: dict[str, Any] = {
            "service_name": declaration.name,
            "database_url": self.database_url(declaration.name),
            "bus_url": "memory://",
            "grpc_host": self.host,
            "grpc_port": self.grpc_port(declaration),
            "service_client_secret": self.service_secrets[declaration.name],
            "log_format": "console",
        }
        for called in declaration.calls:
            values[f"{called}_address"] = f"{self.host}:{self.ports.get(called, 0)}"
        if declaration.issues_service_tokens:
            values["service_credentials"] = self.service_secrets
        values.update({k: v for k, v in declaration.embedded_settings.items() if not env_sets(k)})
        if "media" in declaration.settings.model_fields:
            values["media"] = self.media
        values.update(self.overrides.get(declaration.name, {}))
        return declaration.settings(**values)

    def gateway_settings(self) -> GatewaySettings:
        """The gateway's settings: every service's address, and limits fit for exploring."""
        addresses = {f"{name}_address": f"{self.host}:{port}" for name, port in self.ports.items()}
        exploring = {name: v for name, v in EXPLORING_LIMITS.items() if not env_sets(name)}
        return GatewaySettings(
            http_host=self.host,
            http_port=self.gateway_port,
            media=self.media,
            **{**exploring, **addresses, **self.gateway_overrides},
        )

    def require_free_ports(self) -> None:
        """PortInUse naming the first port another program holds, before anything starts."""
        for declaration in self.declarations:
            port = self.grpc_port(declaration)
            require_free_port(self.host, port, f"{declaration.name}'s gRPC port")
        require_free_port(self.host, self.gateway_port, "the gateway's HTTP port")

    async def migrate(self) -> None:
        """Brings every service's database to the newest schema."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for declaration in self.declarations:
            await asyncio.to_thread(
                upgrade, declaration.migrations, self.database_url(declaration.name)
            )

    async def start(self) -> None:
        """Migrates, then starts the services in order and the gateway last."""
        self.require_free_ports()
        await self.migrate()
        for declaration in self.declarations:
            service = declaration.build(
                self.settings_for(declaration),
                transport=EmbeddedTransport(self.broker),
                clock=self.clock,
            )
            self.ports[declaration.name] = await service.start()
            self.services[declaration.name] = service
        self.gateway_app = create_app(self.gateway_settings(), declarations=self.declarations)
        self._server, self._server_task, port = await serve_http(
            self.gateway_app, self.host, self.gateway_port
        )
        self.gateway_url = f"http://{self.host}:{port}"
        if self.media.backend == "folder" and not env_sets("media_public_url"):
            # The folder store's forms and URLs point at this gateway.
            self.media.public_url = self.gateway_url
        for service in self.services.values():
            # A service that answers the gateway's webhooks (payments' sandbox) learns where.
            if hasattr(service, "gateway_started"):
                service.gateway_started(self.gateway_url)

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
