"""The two shapes of the running suite, behind one interface for end-to-end tests.

Embedded: the whole suite in the test's process (SQLite files, embedded bus) with the
gateway on a real HTTP port. Production: `estuary serve identity` and `estuary serve gateway`
as separate processes on PostgreSQL, RabbitMQ and Redis, configured only by environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import grpc
import httpx
import psycopg
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from chassis.audit import EMITTED_BY_EVERY_SERVICE
from chassis.auth.tokens import SigningKey
from chassis.bus.embedded import EmbeddedBroker, EmbeddedTransport
from chassis.bus.envelope import OutgoingEvent, ReceivedEvent, decode_event
from chassis.bus.rabbitmq import (
    DEAD_SUFFIX,
    RabbitTransport,
    dead_letter_exchange,
    live_exchange,
)
from chassis.bus.transport import Delivery
from chassis.tables import inbox
from services.messaging.commands import mails_in
from suite.embedded import EmbeddedSuite
from suite.registry import SERVICES
from tests.fakes.livekit import LiveKitInThread
from tests.infrastructure import free_port
from tests.smtp import SmtpInbox

T = TypeVar("T")

# Every event the suite emits or consumes: a tap also reads what a test publishes in the
# place of another service (a subscription.tier_changed with a chosen effective time; a
# booking.completed that no real booking made).
REGISTRY = (
    {e.name: e for entry in SERVICES for e in entry.emits}
    | {e.name: e for entry in SERVICES for s in entry.subscriptions for e in s.events}
    | {e.name: e for e in EMITTED_BY_EVERY_SERVICE}
)
ISSUER = "https://estuary.local/identity"
AUDIENCE = "estuary"
TEST_CLIENT = "tests"
# Generous limits so journeys are not throttled; the rate-limit tests set their own.
RELAXED_LIMITS = {
    "rate_limit_anonymous_per_hour": 100_000,
    "rate_limit_client_per_hour": 100_000,
    "rate_limit_practitioner_per_hour": 100_000,
    "rate_limit_register_per_minute": 100_000,
    "rate_limit_login_per_minute": 100_000,
}


class EventTap(ABC):
    """Reads the events the suite publishes, as a consumer of its own queue would."""

    @abstractmethod
    async def _pull(self) -> ReceivedEvent[Any] | None: ...

    def __init__(self) -> None:
        self.seen: list[ReceivedEvent[Any]] = []

    async def next(
        self,
        event_type: str,
        timeout: float = 10.0,
        where: Callable[[Any], bool] = lambda message: True,
        **fields: str,
    ) -> Any:
        """The first event of this type whose message has these field values (and `where`)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen:
                if (
                    event.type == event_type
                    and all(getattr(event.message, k) == v for k, v in fields.items())
                    and where(event.message)
                ):
                    self.seen.remove(event)
                    return event
            event = await self._pull()
            if event is not None:
                self.seen.append(event)
                continue
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event_type} event with {fields} within {timeout} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        return None


class EmbeddedTap(EventTap):
    def __init__(self, broker: EmbeddedBroker, queue: str) -> None:
        super().__init__()
        self._broker = broker
        self._queue = queue
        self._transport = EmbeddedTransport(broker)
        self._received: deque[Delivery] = deque()

    async def open(self) -> EmbeddedTap:
        self._broker.declare_queue(self._queue, ["#"])
        await self._transport.consume(self._queue, self._receive, prefetch=100)
        return self

    async def _receive(self, delivery: Delivery) -> None:
        self._received.append(delivery)
        await delivery.ack()

    async def _pull(self) -> ReceivedEvent[Any] | None:
        if not self._received:
            return None
        delivery = self._received.popleft()
        return decode_event(delivery.headers, delivery.content_type, delivery.body, REGISTRY)

    async def close(self) -> None:
        await self._transport.close()


class RabbitTap(EventTap):
    def __init__(self, url: str, exchange: str) -> None:
        super().__init__()
        self._url = url
        self._exchange = exchange
        self._buffer: deque[ReceivedEvent[Any]] = deque()

    async def open(self) -> RabbitTap:
        self._connection = await aio_pika.connect(self._url)
        try:
            channel = await self._connection.channel()
            exchange = await channel.declare_exchange(
                self._exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            self._queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await self._queue.bind(exchange, "#")
        except BaseException:
            await self._connection.close()
            raise
        return self

    async def _pull(self) -> ReceivedEvent[Any] | None:
        message = await self._queue.get(fail=False, no_ack=True)
        if message is None:
            return None
        return decode_event(
            dict(message.headers or {}), message.content_type, message.body, REGISTRY
        )

    async def close(self) -> None:
        await self._connection.close()


class Stack(ABC):
    """A running suite reachable over HTTP and gRPC."""

    name: str
    base_url: str
    identity_address: str

    @abstractmethod
    async def tap(self) -> EventTap:
        """Starts reading events; only events published after this call are seen."""

    @abstractmethod
    async def make_admin(self, email: str, password: str) -> None: ...

    @abstractmethod
    async def publish(self, event: OutgoingEvent) -> None:
        """Publishes an event as another service would (e.g. a late, stale tier change)."""

    @abstractmethod
    async def signing_key(self) -> SigningKey: ...

    @abstractmethod
    def mail_to(self, address: str) -> list[EmailMessage]:
        """The mail messaging sent to an address so far: the embedded mode's files, or what
        the production shape's SMTP server received."""

    @abstractmethod
    async def consumed(self, service: str, event_id: str) -> bool:
        """Whether a service's consumer has taken an event in (its inbox row committed, with
        the effect, or with nothing when the handler judged the event stale)."""

    service_secret: str = ""

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=15.0)

    def identity_channel(self) -> grpc.aio.Channel:
        """A bare gRPC channel to identity, as another service (or an intruder) would open."""
        return grpc.aio.insecure_channel(self.identity_address)

    _standing_admin = ""

    async def standing_admin(self, password: str) -> str:
        """The email of an admin made on first use and kept for the stack's life: in the
        production shape each admin costs a run of the CLI."""
        if not self._standing_admin:
            self._standing_admin = f"admin.{secrets.token_hex(4)}@example.com"
            await self.make_admin(self._standing_admin, password)
        return self._standing_admin


@dataclass
class EmbeddedStack(Stack):
    suite: EmbeddedSuite
    name: str = "embedded"

    @property
    def base_url(self) -> str:  # type: ignore[override]
        return self.suite.gateway_url

    @property
    def identity_address(self) -> str:  # type: ignore[override]
        return f"127.0.0.1:{self.suite.ports['identity']}"

    @property
    def service_secret(self) -> str:  # type: ignore[override]
        return self.suite.service_secrets["identity"]

    @property
    def service_client(self) -> str:
        return "identity"

    async def tap(self) -> EventTap:
        return await EmbeddedTap(self.suite.broker, f"tests.tap.{secrets.token_hex(4)}").open()

    async def make_admin(self, email: str, password: str) -> None:
        await self.suite.services["identity"].accounts.create_admin(email, password, "Admin")

    async def publish(self, event: OutgoingEvent) -> None:
        [outcome] = self.suite.broker.publish([event])
        if outcome is not None:
            raise outcome

    async def signing_key(self) -> SigningKey:
        return await self.suite.services["identity"].keyring.signing_key()

    def mail_to(self, address: str) -> list[EmailMessage]:
        # Read as `estuary mail list` reads them.
        found = mails_in(self.suite.data_dir / "mail")
        return [message for _, message in found if message["To"] == address]

    async def consumed(self, service: str, event_id: str) -> bool:
        database = self.suite.services[service].runtime.database
        async with database.engine.connect() as connection:
            found = await connection.execute(
                sa.select(inbox.c.event_id).where(inbox.c.event_id == event_id)
            )
            return found.first() is not None


async def wait_ready(client: httpx.AsyncClient, within: float = 10.0) -> httpx.Response:
    """GET /readyz, asked again as a readiness probe would be until every backend answers
    SERVING or `within` seconds pass: a backend's first health check opens its channel, which
    on a loaded machine can take longer than the check's half-second deadline."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get("/readyz")
        if response.json().get("status") == "ready" or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def start_embedded(
    data_dir: Path,
    *,
    service_overrides: dict[str, dict[str, Any]] | None = None,
    **gateway_overrides: Any,
) -> EmbeddedStack:
    suite = EmbeddedSuite(
        data_dir=data_dir,
        gateway_port=0,
        grpc_ports={entry.name: 0 for entry in SERVICES},
        overrides=service_overrides or {},
        gateway_overrides={**RELAXED_LIMITS, **gateway_overrides},
    )
    await suite.start()
    return EmbeddedStack(suite)


class BackgroundEmbedded:
    """An embedded stack on an event loop of its own thread, for synchronous callers such as
    schemathesis and hypothesis, which cannot await."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        self._data_dir = data_dir
        self._overrides = overrides
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine on the stack's loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    def __enter__(self) -> BackgroundEmbedded:
        self._thread.start()
        self.stack = self.run(start_embedded(self._data_dir, **self._overrides))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run(self.stack.suite.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class ProductionStack(Stack):
    """Every service and the gateway as their own processes on Postgres, RabbitMQ and Redis."""

    database_urls: dict[str, str]
    rabbit_url: str
    redis_url: str
    workdir: Path
    name: str = "production"
    exchange: str = field(default_factory=lambda: f"estuary.e2e.{secrets.token_hex(4)}")
    service_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    service_client: str = TEST_CLIENT
    # Each service's own secret for service tokens (booking calls catalog with one).
    service_secrets: dict[str, str] = field(
        default_factory=lambda: {entry.name: secrets.token_urlsafe(16) for entry in SERVICES}
    )
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # The mail provider: messaging sends to it over SMTP, as in production.
    smtp: SmtpInbox = field(default_factory=SmtpInbox)
    # LiveKit: streams makes and closes rooms on it, and its webhooks are signed as its own.
    video: LiveKitInThread = field(default_factory=LiveKitInThread)
    # The media store's signing secret, shared by the services and the gateway.
    media_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __post_init__(self) -> None:
        self.grpc_ports = {entry.name: free_port() for entry in SERVICES}
        self.metrics_ports = {entry.name: free_port() for entry in SERVICES}
        self.http_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.identity_address = f"127.0.0.1:{self.grpc_ports['identity']}"
        # Queues are global on a broker: this stack's carry its own prefix.
        self.queue_prefix = f"{self.exchange}."

    @property
    def queues(self) -> list[str]:
        return [self.queue_prefix + s.queue for entry in SERVICES for s in entry.subscriptions]

    def env(self, service: str = "identity") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "ESTUARY_DATABASE_URL": self.database_urls[service],
                "ESTUARY_BUS_URL": self.rabbit_url,
                "ESTUARY_BUS_EXCHANGE": self.exchange,
                "ESTUARY_BUS_QUEUE_PREFIX": self.queue_prefix,
                "ESTUARY_GRPC_PORT": str(self.grpc_ports[service]),
                "ESTUARY_METRICS_PORT": str(self.metrics_ports[service]),
                "ESTUARY_HTTP_PORT": str(self.http_port),
                "ESTUARY_REDIS_URL": self.redis_url,
                "ESTUARY_SERVICE_CREDENTIALS": json.dumps(
                    {**self.service_secrets, TEST_CLIENT: self.service_secret}
                ),
                "ESTUARY_SERVICE_CLIENT_SECRET": self.service_secrets.get(service, ""),
                "ESTUARY_LOG_LEVEL": "WARNING",
                "ESTUARY_SMTP_HOST": "127.0.0.1",
                "ESTUARY_SMTP_PORT": str(self.smtp.port),
                "ESTUARY_SMTP_STARTTLS": "false",
                **{f"ESTUARY_{k.upper()}": v for k, v in self.video.settings().items()},
                # Payments runs on its sandbox, in this stack's folder, and delivers its
                # signed webhooks to this stack's gateway, as Stripe would.
                "ESTUARY_SANDBOX_DIR": str(self.workdir),
                "ESTUARY_SANDBOX_WEBHOOK_URL": f"{self.base_url}/api/v1/webhooks/stripe",
                "ESTUARY_SANDBOX_ONBOARDING_URL": f"{self.base_url}/sandbox/payout-onboarding",
                # Partners' test endpoints listen on this machine, over plain http.
                "ESTUARY_PARTNER_WEBHOOKS_ALLOW_LOOPBACK": "true",
                # Media in one folder of this machine, whose forms and URLs this stack's
                # gateway serves: S3 itself is tested against SeaweedFS by the handler tests,
                # without starting it for every end-to-end run.
                "ESTUARY_MEDIA_BACKEND": "folder",
                "ESTUARY_MEDIA_FOLDER": str(self.workdir / "media"),
                "ESTUARY_MEDIA_SIGNING_SECRET": self.media_secret,
                "ESTUARY_MEDIA_PUBLIC_URL": self.base_url,
            }
        )
        env.update(
            {
                f"ESTUARY_{name.upper()}_ADDRESS": f"127.0.0.1:{port}"
                for name, port in self.grpc_ports.items()
            }
        )
        env.update({f"ESTUARY_{k.upper()}": str(v) for k, v in RELAXED_LIMITS.items()})
        return env

    def estuary(self, *args: str, service: str = "identity") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "suite.cli", *args],
            env=self.env(service),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )

    def _spawn(self, name: str, service: str) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "suite.cli", "serve", name],
                env=self.env(service),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def start(self) -> None:
        self.smtp.start()
        self.video.start()
        for entry in SERVICES:
            self.estuary("migrate", entry.name, service=entry.name)
            self._spawn(entry.name, entry.name)
        self._spawn("gateway", "identity")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a process exited early; see {self.workdir}")
            try:
                # 200 once the gateway is up; "ready" once every backend serves too.
                ready = httpx.get(f"{self.base_url}/readyz", timeout=1.0)
                if ready.status_code == 200 and ready.json()["status"] == "ready":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the production stack did not become ready; see {self.workdir}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.smtp.stop()
        self.video.stop()

    async def tap(self) -> EventTap:
        return await RabbitTap(self.rabbit_url, self.exchange).open()

    async def publish(self, event: OutgoingEvent) -> None:
        transport = RabbitTransport(self.rabbit_url, self.exchange, delivery_limit=5)
        await transport.start()
        try:
            [outcome] = await transport.publish([event])
            if outcome is not None:
                raise outcome
        finally:
            await transport.close()

    async def make_admin(self, email: str, password: str) -> None:
        await asyncio.to_thread(
            self.estuary, "admin", "create", "--email", email, "--password", password
        )

    def mail_to(self, address: str) -> list[EmailMessage]:
        return self.smtp.to(address)

    async def signing_key(self) -> SigningKey:
        dsn = self.database_urls["identity"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as connection:
            kid, pem = connection.execute(
                "SELECT kid, private_key_pem FROM signing_keys WHERE status = 'active'"
            ).fetchone()
        private = load_pem_private_key(pem.encode(), password=None)
        assert isinstance(private, Ed25519PrivateKey)
        return SigningKey(kid, private)

    async def consumed(self, service: str, event_id: str) -> bool:
        dsn = self.database_urls[service].replace("postgresql+psycopg://", "postgresql://")
        async with await psycopg.AsyncConnection.connect(dsn) as connection:
            found = await connection.execute("SELECT 1 FROM inbox WHERE event_id = %s", (event_id,))
            return await found.fetchone() is not None


async def drop_topology(url: str, exchange: str, queues: list[str]) -> None:
    """Deletes what a production stack declared on the shared broker: its queues and their
    dead letters, its exchange, and the exchange's dead-letter and live twins (messaging's
    replicas broadcast on the live one)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
            await channel.queue_delete(queue + DEAD_SUFFIX)
        for name in (exchange, dead_letter_exchange(exchange), live_exchange(exchange)):
            await channel.exchange_delete(name)
