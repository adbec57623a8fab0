"""Fixtures payments' integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.localstripe import running_localstripe


@pytest.fixture(scope="session")
def localstripe_base() -> Iterator[str]:
    """localstripe for this session, on a free port, the machine's one instance (every test
    that needs it shares this one: a second would wait for the machine's lock)."""
    with running_localstripe() as base:
        yield base
