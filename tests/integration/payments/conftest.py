"""Fixtures payments' integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.localstripe import running_localstripe
from tests.fakes.stripe_api import FakeStripe


@pytest.fixture(scope="session")
def localstripe_base() -> Iterator[str]:
    """localstripe for this session, on a free port, the machine's one instance (every test
    that needs it shares this one: a second would wait for the machine's lock)."""
    with running_localstripe() as base:
        yield base


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    """The fake of Stripe's HTTP API in a thread of its own, for the whole session (tests
    tell their objects apart by their own ids and idempotency keys)."""
    fake = FakeStripe()
    fake.start()
    yield fake
    fake.stop()
