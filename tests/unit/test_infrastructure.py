"""The test servers are found, and probed, where their test URLs point: not at a fixed
127.0.0.1 whatever ESTUARY_TEST_POSTGRES, ESTUARY_TEST_RABBITMQ or ESTUARY_TEST_REDIS say."""

from __future__ import annotations

import socket

import pytest

from tests import infrastructure
from tests.infrastructure import address, database_url, require


def test_a_test_database_lives_on_the_admin_dsns_server_as_its_user():
    admin = "postgresql://bob:s3cret@db.internal:6543/postgres"
    assert database_url("t1", admin) == "postgresql+psycopg://bob:s3cret@db.internal:6543/t1"
    assert (
        database_url("t2", "host=/run/postgresql user=postgres dbname=postgres")
        == "postgresql+psycopg://postgres@/t2?host=%2Frun%2Fpostgresql"
    )


def test_a_broker_or_cache_url_names_its_host_and_port():
    assert address("amqp://guest:guest@rabbit.internal:5673/") == ("rabbit.internal", 5673)
    assert address("amqps://mq/") == ("mq", 5671)
    assert address("redis://cache/0") == ("cache", 6379)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("in_ci", [False, True])
def test_a_server_missing_where_its_url_points_skips_or_fails_naming_that_place(monkeypatch, in_ci):
    monkeypatch.setattr(infrastructure, "IN_CI", in_ci)
    port = closed_port()
    outcome = pytest.fail.Exception if in_ci else pytest.skip.Exception
    with pytest.raises(outcome) as refused:
        require("RabbitMQ", f"amqp://guest:guest@127.0.0.1:{port}/")
    assert f"127.0.0.1:{port}" in str(refused.value)


def test_a_server_listening_where_its_url_points_is_used():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        assert require("Redis", url) == url
