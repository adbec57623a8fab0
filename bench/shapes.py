"""The suite in each of its shapes, started as operators start it, and what the bench borrows.

Embedded: one `estuary up` process (SQLite files, in-process bus). Production: `estuary serve
<service>` for every service of suite.registry and `estuary serve gateway`, each its own
process on PostgreSQL, RabbitMQ and Redis, configured only by environment. The bench creates
its own databases, exchanges, queues and rate-limit keys, and removes exactly those afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx
import psycopg
from redis.asyncio import Redis

from bench.process import resident_mb
from chassis.bus.embedded import EmbeddedBroker
from chassis.bus.envelope import OutgoingEvent
from chassis.bus.rabbitmq import DEAD_SUFFIX, RabbitTransport, dead_letter_exchange, live_exchange
from chassis.settings import ServiceSettings
from suite.embedded import EmbeddedSuite
from suite.registry import SERVICES

REPOSITORY = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
POSTGRES_ADMIN_DSN = os.environ.get(
    "ESTUARY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ESTUARY_BENCH_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("ESTUARY_BENCH_REDIS", "redis://127.0.0.1:6379/0")
RATE_LIMIT_PREFIX = "estuary:ratelimit:"
# How long a started suite may take to answer /readyz before the run gives up: nine
# processes importing at once on a shared two-core machine took over a minute.
READY_TIMEOUT_SECONDS = float(os.environ.get("ESTUARY_BENCH_READY_TIMEOUT", "180"))
STOP_TIMEOUT_SECONDS = 20.0
# Events published per confirmed batch: the outbox relay's default batch.
PUBLISH_BATCH = ServiceSettings.model_fields["outbox_batch_size"].default
# Limits no bench run reaches, so every figure measures the work and not the 429s; the
# limiter itself stays in the path, as it is in production.
UNREACHABLE_LIMIT = 1_000_000_000
BENCH_GATEWAY_ENV = {
    "ESTUARY_RATE_LIMIT_ANONYMOUS_PER_HOUR": str(UNREACHABLE_LIMIT),
    "ESTUARY_RATE_LIMIT_CLIENT_PER_HOUR": str(UNREACHABLE_LIMIT),
    "ESTUARY_RATE_LIMIT_PRACTITIONER_PER_HOUR": str(UNREACHABLE_LIMIT),
    "ESTUARY_RATE_LIMIT_REGISTER_PER_MINUTE": str(UNREACHABLE_LIMIT),
    "ESTUARY_RATE_LIMIT_LOGIN_PER_MINUTE": str(UNREACHABLE_LIMIT),
    # The live part sends 2 messages a second from each sender (120 a minute; default 30).
    "ESTUARY_RATE_LIMIT_MESSAGES_PER_MINUTE": str(UNREACHABLE_LIMIT),
    # The load comes "from" a per-run address (see BenchRun.client_address), so the
    # anonymous counters it bumps in a shared Redis are its own and not every local test's.
    "ESTUARY_TRUST_FORWARDED_FOR": "true",
}


def replica_name(process: str, replica: int, replicas: int) -> str:
    """A process's name in logs and figures: the service's own when it runs alone, else
    numbered from 1 ("messaging-2")."""
    return process if replicas == 1 else f"{process}-{replica + 1}"


def replica_addresses(grpc_ports: Mapping[str, Sequence[int]], replica: int) -> dict[str, str]:
    """The ESTUARY_<SERVICE>_ADDRESS of every service for a process's `replica`-th copy: the
    same-numbered replica of each service, wrapping round the ones with fewer, so gateway 2
    talks to messaging 2 and to the single identity."""
    return {
        f"ESTUARY_{name.upper()}_ADDRESS": f"{HOST}:{ports[replica % len(ports)]}"
        for name, ports in grpc_ports.items()
    }


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class BenchRun:
    """What makes this run's names its own: databases, exchanges, queues, addresses."""

    token: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def client_address(self) -> str:
        # 198.18.0.0/15 is reserved for benchmarking (RFC 2544): never a real client.
        octets = bytes.fromhex(self.token)
        return f"198.18.{octets[0]}.{octets[1]}"

    def database(self, purpose: str) -> str:
        return f"estuary_bench_{self.token}_{purpose}"

    def exchange(self, purpose: str) -> str:
        return f"estuary.bench.{self.token}.{purpose}"

    def queue(self, purpose: str) -> str:
        return f"bench.{purpose}.{self.token}"


class ServerProcess:
    """A server the bench started, with its log file; stopped by its own pid only."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @classmethod
    async def start(
        cls, name: str, args: Sequence[str], env: dict[str, str], logs: Path
    ) -> ServerProcess:
        log = logs / f"{name}.log"
        with log.open("ab") as sink:
            process = await asyncio.create_subprocess_exec(
                *args, cwd=REPOSITORY, env=env, stdout=sink, stderr=asyncio.subprocess.STDOUT
            )
        return cls(name, process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def resident_mb(self) -> float:
        return resident_mb(self.process.pid)

    def exited(self) -> bool:
        return self.process.returncode is not None

    async def stop(self) -> None:
        """SIGTERM (a graceful stop for every Estuary command), then SIGKILL if it hangs."""
        if self.exited():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def wait_until_answering(url: str, servers: Sequence[ServerProcess]) -> None:
    """Polls url until it answers 200; fails early if one of the servers died."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            for server in servers:
                if server.exited():
                    raise RuntimeError(f"{server.name} exited early; see {server.log}")
            with contextlib.suppress(httpx.HTTPError):
                answer = await client.get(url)
                # /readyz is 200 once the gateway is up; "ready" once every backend is too.
                if answer.status_code == 200 and (
                    not url.endswith("/readyz") or answer.json()["status"] == "ready"
                ):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer 200 in {READY_TIMEOUT_SECONDS:.0f} s")
            await asyncio.sleep(0.02)


def estuary_command(*args: str) -> list[str]:
    """The `estuary` console script of this virtualenv (what a user runs)."""
    return [str(Path(sys.executable).parent / "estuary"), *args]


class Shape(ABC):
    """A running suite the load generator can reach."""

    name: str
    gateway_port: int
    servers: list[ServerProcess]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def database_url(self, service: str) -> str:
        """Where a service of this suite keeps its data."""

    @abstractmethod
    def operator_env(self) -> dict[str, str]:
        """The environment an operator runs identity's `estuary admin` with for this suite."""

    async def make_admin(self, email: str, password: str) -> None:
        """An admin made as an operator makes one: `estuary admin create`."""
        made = await asyncio.create_subprocess_exec(
            *estuary_command("admin", "create", "--email", email, "--password", password),
            cwd=REPOSITORY,
            env=self.operator_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await made.communicate()
        if made.returncode != 0:
            raise RuntimeError(f"estuary admin create failed:\n{output.decode()}")

    def resident_mb(self) -> float:
        """What the suite's processes hold in memory together."""
        return sum(server.resident_mb for server in self.servers)


class EmbeddedShape(Shape):
    """`estuary up` on its own data folder."""

    name = "embedded"

    def __init__(self, data_dir: Path, logs: Path) -> None:
        self.data_dir = data_dir
        self.logs = logs
        self.gateway_port = free_port()
        self.servers = []

    def database_url(self, service: str) -> str:
        return EmbeddedSuite(data_dir=self.data_dir).database_url(service)

    def operator_env(self) -> dict[str, str]:
        return {**os.environ, "ESTUARY_DATA_DIR": str(self.data_dir)}

    async def start(self) -> float:
        """Starts `estuary up`; returns the seconds until /readyz answered 200."""
        for entry in SERVICES:
            # `estuary up` always binds each service's default gRPC port.
            if not port_is_free(entry.grpc_port):
                raise RuntimeError(
                    f"port {entry.grpc_port} ({entry.name}'s gRPC port under estuary up)"
                    " is taken: is another embedded suite running?"
                )
        env = {**os.environ, **BENCH_GATEWAY_ENV}
        started = time.perf_counter()
        server = await ServerProcess.start(
            "estuary-up",
            estuary_command(
                "up", "--data-dir", str(self.data_dir), "--port", str(self.gateway_port)
            ),
            env,
            self.logs,
        )
        self.servers = [server]
        await wait_until_answering(f"{self.base_url}/readyz", self.servers)
        return time.perf_counter() - started

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop()
        self.servers = []

    def queue_while_stopped(self, events: Sequence[OutgoingEvent]) -> None:
        """Queues events on the suite's bus, as another service would publish them; the bus
        file is the running suite's alone, so only while it is stopped. Its consumers take
        them when it starts."""
        if self.servers:
            raise RuntimeError("estuary up is running: its bus takes events only from itself")
        broker = EmbeddedBroker(self.data_dir / "bus.db")
        try:
            refused = [outcome for outcome in broker.publish(events) if outcome is not None]
        finally:
            broker.close()
        if refused:
            raise RuntimeError(f"{len(refused)} events refused by the bus: {refused[0]}")


class ProductionShape(Shape):
    """Every service and the gateway as their own processes on Postgres, RabbitMQ and Redis;
    `replicas` runs more than one process of some ("gateway": 2, "messaging": 2), each on
    its own ports, sharing its service's database, queues and the bus; `env` adds variables
    to some processes' environment ("messaging": where to send mail)."""

    name = "production"

    def __init__(
        self,
        run: BenchRun,
        database_urls: dict[str, str],
        logs: Path,
        replicas: Mapping[str, int] | None = None,
        env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.logs = logs
        self.database_urls = database_urls
        self.replicas = (
            {entry.name: 1 for entry in SERVICES} | {"gateway": 1} | dict(replicas or {})
        )
        unknown = set(self.replicas) - {entry.name for entry in SERVICES} - {"gateway"}
        if unknown or min(self.replicas.values()) < 1:
            raise ValueError(f"replicas: unknown processes or counts below 1: {replicas}")
        self.env = {name: dict(variables) for name, variables in (env or {}).items()}
        self.gateway_ports = [free_port() for _ in range(self.replicas["gateway"])]
        self.gateway_port = self.gateway_ports[0]
        self.exchange = run.exchange("suite")
        # Queue names are global on a broker: this run's carry its own prefix.
        self.queue_prefix = f"{self.exchange}."
        self.grpc_ports = {
            entry.name: [free_port() for _ in range(self.replicas[entry.name])]
            for entry in SERVICES
        }
        # Each service's secret for service tokens (booking calls catalog with one); identity
        # holds them all.
        self.service_secrets = {entry.name: secrets.token_urlsafe(24) for entry in SERVICES}
        self.common_env = {
            **os.environ,
            **BENCH_GATEWAY_ENV,
            "ESTUARY_BUS_URL": RABBITMQ_URL,
            "ESTUARY_BUS_EXCHANGE": self.exchange,
            "ESTUARY_BUS_QUEUE_PREFIX": self.queue_prefix,
            "ESTUARY_REDIS_URL": REDIS_URL,
            "ESTUARY_SERVICE_CREDENTIALS": json.dumps(self.service_secrets),
            # Media (attachments) in a folder beside the logs, which this run's gateway
            # serves: the services that keep media refuse to start without a store.
            "ESTUARY_MEDIA_BACKEND": "folder",
            "ESTUARY_MEDIA_FOLDER": str(logs / "media"),
            "ESTUARY_MEDIA_SIGNING_SECRET": secrets.token_urlsafe(24),
            "ESTUARY_MEDIA_PUBLIC_URL": f"http://{HOST}:{self.gateway_port}",
        }
        self.servers = []

    def gateway_url(self, replica: int) -> str:
        """The address of one gateway process (replica 0 is base_url)."""
        return f"http://{HOST}:{self.gateway_ports[replica]}"

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def service_env(self, service: str, replica: int = 0) -> dict[str, str]:
        return {
            **self.common_env,
            **replica_addresses(self.grpc_ports, replica),
            "ESTUARY_DATABASE_URL": self.database_urls[service],
            "ESTUARY_GRPC_PORT": str(self.grpc_ports[service][replica]),
            "ESTUARY_SERVICE_CLIENT_SECRET": self.service_secrets[service],
            # Each process its own scrape port: replicas of one service would share its default.
            "ESTUARY_METRICS_PORT": str(free_port()),
            **self.env.get(service, {}),
        }

    def gateway_env(self, replica: int) -> dict[str, str]:
        return {
            **self.common_env,
            **replica_addresses(self.grpc_ports, replica),
            "ESTUARY_HTTP_PORT": str(self.gateway_ports[replica]),
            **self.env.get("gateway", {}),
        }

    def operator_env(self) -> dict[str, str]:
        return self.service_env("identity")

    async def start(self) -> float:
        """Migrates every service, then starts them and the gateway; returns the seconds
        from the first process started until every gateway's /readyz answered 200."""
        for entry in SERVICES:
            migrate = await asyncio.create_subprocess_exec(
                *estuary_command("migrate", entry.name),
                cwd=REPOSITORY,
                env=self.service_env(entry.name),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await migrate.communicate()
            if migrate.returncode != 0:
                raise RuntimeError(f"estuary migrate {entry.name} failed:\n{output.decode()}")
        started = time.perf_counter()
        for entry in SERVICES:
            count = self.replicas[entry.name]
            for replica in range(count):
                self.servers.append(
                    await ServerProcess.start(
                        replica_name(entry.name, replica, count),
                        estuary_command("serve", entry.name),
                        self.service_env(entry.name, replica),
                        self.logs,
                    )
                )
        for replica, _ in enumerate(self.gateway_ports):
            self.servers.append(
                await ServerProcess.start(
                    replica_name("gateway", replica, len(self.gateway_ports)),
                    estuary_command("serve", "gateway"),
                    self.gateway_env(replica),
                    self.logs,
                )
            )
        for replica, _ in enumerate(self.gateway_ports):
            await wait_until_answering(f"{self.gateway_url(replica)}/readyz", self.servers)
        return time.perf_counter() - started

    async def publish(self, events: Sequence[OutgoingEvent]) -> None:
        """Publishes events on the suite's exchange as another service would (persistent,
        with confirms), in batches as a relay sends them."""
        transport = RabbitTransport(
            RABBITMQ_URL,
            self.exchange,
            delivery_limit=ServiceSettings.model_fields["bus_delivery_limit"].default,
        )
        await transport.start()
        try:
            for first in range(0, len(events), PUBLISH_BATCH):
                outcomes = await transport.publish(events[first : first + PUBLISH_BATCH])
                refused = [outcome for outcome in outcomes if outcome is not None]
                if refused:
                    raise RuntimeError(f"{len(refused)} events refused by the bus: {refused[0]}")
        finally:
            await transport.close()

    async def stop(self) -> None:
        # The gateways first, as a rolling deploy would drain them.
        for server in reversed(self.servers):
            await server.stop()
        self.servers = []
        for entry in SERVICES:
            for subscription in entry.subscriptions:
                await delete_queues(self.queue_prefix + subscription.queue)
        await delete_exchanges(self.exchange)


def postgres_url(name: str) -> str:
    """The SQLAlchemy URL of a database on the bench's PostgreSQL."""
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@contextlib.asynccontextmanager
async def postgres_databases(
    *names: str, templates: dict[str, str] | None = None
) -> AsyncIterator[list[str]]:
    """Fresh PostgreSQL databases (SQLAlchemy URLs), dropped afterwards.

    A database named in `templates` starts as a copy of that template (a seeded catalog).
    """
    templates = templates or {}

    def create() -> None:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            for name in names:
                template = f' TEMPLATE "{templates[name]}"' if name in templates else ""
                admin.execute(f'CREATE DATABASE "{name}"{template}')

    def drop() -> None:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    await asyncio.to_thread(create)
    try:
        yield [postgres_url(name) for name in names]
    finally:
        await asyncio.to_thread(drop)


async def delete_exchanges(exchange: str) -> None:
    """Deletes an exchange the bench declared, its dead-letter twin and its live twin (the
    suite's messaging replicas broadcast on it)."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
        await channel.exchange_delete(dead_letter_exchange(exchange))
        await channel.exchange_delete(live_exchange(exchange))


async def delete_queues(queue: str) -> None:
    """Deletes a consuming queue the bench declared, and its dead-letter queue."""
    connection = await aio_pika.connect(RABBITMQ_URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.queue_delete(queue + DEAD_SUFFIX)


async def delete_rate_limit_keys(client_address: str, user_ids: Sequence[str]) -> int:
    """Deletes the rate-limit counters this run created in Redis; returns how many."""
    redis = Redis.from_url(REDIS_URL)
    patterns = [f"{RATE_LIMIT_PREFIX}*{client_address}*"] + [
        f"{RATE_LIMIT_PREFIX}user:{user_id}:*" for user_id in user_ids
    ]
    deleted = 0
    try:
        for pattern in patterns:
            keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
            if keys:
                deleted += await redis.delete(*keys)
    finally:
        await redis.aclose()
    return deleted
