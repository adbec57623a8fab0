"""The test suite's own port helper: workers of one pytest-xdist run never share a port."""

from __future__ import annotations

import pytest

from tests import infrastructure
from tests.infrastructure import _worker_ports, free_port, free_port_block


def test_each_xdist_worker_has_a_share_of_its_own_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    shares = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(set(_worker_ports(32768)))
    assert all(len(share) > 4000 for share in shares)
    assert not shares[0] & shares[1] and not shares[1] & shares[2] and not shares[0] & shares[2]
    assert min(min(share) for share in shares) >= 20000
    assert max(max(share) for share in shares) < 32768


def test_one_process_takes_the_whole_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert _worker_ports(32768) == range(20000, 32768)


def test_handed_out_ports_are_free_in_the_workers_share_and_never_given_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    share = _worker_ports(infrastructure._ephemeral_ports_start())
    ports = [free_port() for _ in range(200)]
    first = free_port_block(7)
    assert len(set(ports)) == len(ports)
    assert all(port in share for port in ports)
    assert all(port in share for port in range(first, first + 7))
    assert not set(ports) & set(range(first, first + 7))
