"""The bus's small rules, pure: AMQP topic matching (the embedded broker's, which must
agree with RabbitMQ's) and the outbox's retry back-off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.bus.outbox import MAX_RETRY_DELAY, retry_delay
from chassis.bus.transport import topic_matches

MATCHES = [
    ("user.registered", "user.registered", True),
    ("user.registered", "user.deleted", False),
    ("user.registered", "user.registered.late", False),
    ("user.*", "user.registered", True),
    ("user.*", "user", False),
    ("user.*", "user.a.b", False),
    ("*.registered", "user.registered", True),
    ("*.registered", "registered", False),
    ("*", "user", True),
    ("*", "user.deleted", False),
    ("#", "user.registered", True),
    ("#", "user", True),
    ("user.#", "user", True),
    ("user.#", "user.a.b.c", True),
    ("user.#", "users.a", False),
    ("#.deleted", "deleted", True),
    ("#.deleted", "user.account.deleted", True),
    ("#.deleted", "user.deleted.not", False),
    ("a.#.z", "a.z", True),
    ("a.#.z", "a.b.c.z", True),
    ("a.#.z", "a.b.c", False),
    ("a.*.#", "a", False),
    ("a.*.#", "a.b", True),
    ("a.*.#", "a.b.c.d", True),
]


@pytest.mark.parametrize(("binding", "routing_key", "expected"), MATCHES)
def test_topic_bindings_match_as_amqp_does(binding, routing_key, expected):
    topic_matches.cache_clear()
    assert topic_matches(binding, routing_key) is expected


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (0, timedelta(milliseconds=250)),
        (1, timedelta(milliseconds=500)),
        (2, timedelta(seconds=1)),
        (5, timedelta(seconds=8)),
        (10, timedelta(seconds=256)),
        (11, MAX_RETRY_DELAY),
        (10_000, MAX_RETRY_DELAY),
    ],
)
def test_a_failed_publish_waits_twice_as_long_each_time_up_to_five_minutes(attempts, delay):
    assert timedelta(minutes=5) == MAX_RETRY_DELAY
    assert retry_delay(attempts) == delay
