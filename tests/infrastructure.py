"""The real servers the production-shape tests use: PostgreSQL, RabbitMQ and Redis.

Each is found where its test URL says (ESTUARY_TEST_POSTGRES, ESTUARY_TEST_RABBITMQ,
ESTUARY_TEST_REDIS; the local servers by default), and probed there. Under CI=true a
missing server fails the test loudly; elsewhere the test is skipped with the reason shown.
Each test gets its own database, exchange or key prefix, and drops it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict

POSTGRES_ADMIN_DSN = os.environ.get(
    "ESTUARY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ESTUARY_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("ESTUARY_TEST_REDIS", "redis://127.0.0.1:6379/0")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "redis": 6379, "rediss": 6379}


def unavailable(message: str) -> NoReturn:
    """Fails (in CI) or skips (elsewhere) a test whose server is missing."""
    if IN_CI:
        pytest.fail(f"{message}; CI requires it (start it, see README)", pytrace=False)
    pytest.skip(f"{message}; set CI=true to make this a failure")


def address(url: str) -> tuple[str, int]:
    """The host and port a server URL (amqp://, redis://) points at."""
    parts = urlsplit(url)
    return parts.hostname or "localhost", parts.port or DEFAULT_PORTS.get(parts.scheme, 0)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(server: str, url: str) -> str:
    """The server's URL, once something listens where it points; else fail or skip."""
    if url.startswith("unix://"):
        if Path(urlsplit(url).path).exists():
            return url
        unavailable(f"{server} has no socket at {urlsplit(url).path}")
    host, port = address(url)
    if not _reachable(host, port):
        unavailable(f"{server} is not reachable on {host}:{port} (from its test URL)")
    return url


# Ports handed out in this process: a port stays free until its server binds it, and two
# servers of one stack given the same port would have one answer for the other (a gateway's
# readiness once read a service's metrics).
_handed_out: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that is free now and that no test process has handed out before
    (for servers that cannot bind port 0 and say)."""
    return free_port_block(1)


def _ephemeral_ports_start() -> int:
    """Where the kernel's ephemeral ports begin: it gives those to port-0 binds and to
    outgoing connections, so a port below it is taken only by a server that asks for it."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default, and above what servers are usually configured on


def _worker_ports(below: int) -> range:
    """The ports this test process may hand out: all of those under `below` from 20000 up,
    or, under pytest-xdist, its worker's share of them, so two workers (each with only its
    own record of what it handed out) never give the same port to two servers."""
    lowest = 20000 if below > 20000 + 1000 else 1024
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    share = (below - lowest) // max(workers, 1)
    start = lowest + share * (index % max(workers, 1))
    return range(start, start + share)


def free_port_block(count: int) -> int:
    """The first of `count` consecutive ports, all free now, none handed out before, all
    below the ephemeral range and in this worker's share of it: a suite restarted on the same
    ports keeps finding them free, where a port the kernel once chose for a bind may
    meanwhile be another connection's."""
    ports = _worker_ports(_ephemeral_ports_start())
    while True:
        first = ports.start + secrets.randbelow(len(ports) - count)
        block = range(first, first + count)
        if _handed_out.intersection(block) or not all(_bindable(port) for port in block):
            continue
        _handed_out.update(block)
        return first


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def unique(prefix: str) -> str:
    """A name no other test run uses."""
    return f"{prefix}_{secrets.token_hex(4)}"


def database_url(name: str, admin_dsn: str = POSTGRES_ADMIN_DSN) -> str:
    """The SQLAlchemy URL of database `name` on the server (and as the user) of the admin
    DSN, which may be a URL or key=value pairs."""
    params = conninfo_to_dict(admin_dsn)
    host = str(params.get("host") or "") or None
    query = {}
    if host and host.startswith("/"):  # a Unix socket's folder
        host, query = None, {"host": str(params["host"])}
    port = params.get("port")
    return sa.engine.URL.create(
        "postgresql+psycopg",
        username=str(params["user"]) if params.get("user") else None,
        password=str(params["password"]) if params.get("password") else None,
        host=host,
        port=int(port) if port else None,
        database=name,
        query=query,
    ).render_as_string(hide_password=False)


def _admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=2)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        unavailable(f"PostgreSQL is not reachable at its test DSN ({reason})")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, on the server of ESTUARY_TEST_POSTGRES;
    dropped afterwards."""
    name = unique("estuary_test")
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_rabbitmq() -> str:
    return require("RabbitMQ", RABBITMQ_URL)


def require_redis() -> str:
    return require("Redis", REDIS_URL)
