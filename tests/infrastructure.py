"""The real servers the production-shape tests use: PostgreSQL, RabbitMQ and Redis.

Under CI=true a missing server fails the test loudly; elsewhere the test is skipped with
the reason shown. Each test gets its own database, exchange or key prefix, and drops it.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

POSTGRES_ADMIN_DSN = os.environ.get(
    "ESTUARY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ESTUARY_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("ESTUARY_TEST_REDIS", "redis://127.0.0.1:6379/0")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(server: str, host: str, port: int) -> None:
    """Fails (in CI) or skips (elsewhere) when a server is not listening."""
    if _reachable(host, port):
        return
    message = f"{server} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it (start it, see README)", pytrace=False)
    pytest.skip(f"{message}; set CI=true to make this a failure")


def unique(prefix: str) -> str:
    """A name no other test run uses."""
    return f"{prefix}_{secrets.token_hex(4)}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test; dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    name = unique("estuary_test")
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def require_rabbitmq() -> str:
    require("RabbitMQ", "127.0.0.1", 5672)
    return RABBITMQ_URL


def require_redis() -> str:
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL
