"""A kill -9 of `estuary up` loses no event: the embedded bus keeps its queues on disk.

Each trial holds identity's consumer up (a connection of the test's own holds identity.db's
write lock) while staff approve a practitioner, and kills the suite 0.3 s after the 200: by
then catalog's outbox row is marked published, so practitioner.approved lives only in the
bus. Restarted on the same data folder, identity must still grant the practitioner role;
nothing else would (approving again answers 409).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from suite.registry import SERVICES
from tests.e2e.stacks import RELAXED_LIMITS
from tests.infrastructure import free_port_block

pytestmark = pytest.mark.slow

TRIALS = 20
KILL_AFTER_APPROVAL_SECONDS = 0.3
# From a restart's /readyz until the role must show; a redelivery takes milliseconds.
ROLE_GRANTED_WITHIN_SECONDS = 10.0
READY_WITHIN_SECONDS = 60.0
ADMIN_EMAIL = "crash.admin@example.com"
PASSWORD = "river-stone-42-lantern"
APPLICATION = {
    "display_name": "Pat Rivers",
    "bio": "Hatha yoga and breathwork for busy people.",
    "specializations": ["hatha yoga"],
    "languages": ["en"],
    "timezone": "Europe/Lisbon",
    "locations": [{"kind": "virtual"}],
}


class EmbeddedProcess:
    """`estuary up` as its own process on one data folder, started again after each kill."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        # The gateway's port and one gRPC port a service, the same at every restart.
        self.port = free_port_block(1 + len(SERVICES))
        self.grpc_port_base = self.port + 1
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        self.env.update(
            {
                "ESTUARY_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
                "ESTUARY_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
                # Cheap hashes: each trial signs a new user up and in.
                "ESTUARY_ARGON2_MEMORY_KIB": "64",
                "ESTUARY_ARGON2_TIME_COST": "1",
                "ESTUARY_LOG_LEVEL": "WARNING",
                **{f"ESTUARY_{k.upper()}": str(v) for k, v in RELAXED_LIMITS.items()},
            }
        )
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        log = (self.data_dir.parent / f"estuary-up-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "suite.cli",
                "up",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--grpc-port-base",
                str(self.grpc_port_base),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log.close()
                said = Path(log.name).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"estuary up exited; the end of {log.name}:\n{said}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"estuary up was not ready within {READY_WITHIN_SECONDS} s")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextmanager
def identity_write_lock(data_dir: Path) -> Iterator[None]:
    """Holds identity.db's write lock, as a long transaction would: its consumer waits."""
    connection = sqlite3.connect(data_dir / "identity.db", isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def _token(client: httpx.Client, email: str) -> str:
    login = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return str(login.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _roles(client: httpx.Client, email: str) -> list[str]:
    me = client.get("/api/v1/users/me", headers=_bearer(_token(client, email)))
    assert me.status_code == 200, me.text
    return list(me.json()["roles"])


def _applied_practitioner(client: httpx.Client) -> tuple[str, str]:
    """A new user who has applied as a practitioner: their email and application id."""
    email = f"pat.{secrets.token_hex(4)}@example.com"
    created = client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Pat Rivers"},
    )
    assert created.status_code == 201, created.text
    applied = client.post(
        "/api/v1/practitioners/apply", json=APPLICATION, headers=_bearer(_token(client, email))
    )
    assert applied.status_code == 201, applied.text
    return email, str(applied.json()["id"])


def _approval_marked_published(data_dir: Path) -> bool:
    """Whether catalog's newest practitioner.approved outbox row is marked published."""
    with sqlite3.connect(data_dir / "catalog.db") as connection:
        row = connection.execute(
            "SELECT published_at FROM outbox WHERE event_type = 'practitioner.approved' "
            "ORDER BY position DESC LIMIT 1"
        ).fetchone()
    return row is not None and row[0] is not None


def _granted_within(client: httpx.Client, email: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "practitioner" in _roles(client, email):
            return True
        time.sleep(0.1)
    return False


def test_a_kill_after_an_approval_loses_no_role_grant(tmp_path):
    data_dir = tmp_path / "data"
    suite = EmbeddedProcess(data_dir)
    lost: list[int] = []
    try:
        suite.start()
        with httpx.Client(base_url=suite.base_url, timeout=15.0) as client:
            admin = _token(client, ADMIN_EMAIL)
            for trial in range(TRIALS):
                email, application = _applied_practitioner(client)
                with identity_write_lock(data_dir):
                    approved = client.post(
                        f"/api/v1/practitioners/{application}/approve", headers=_bearer(admin)
                    )
                    assert approved.status_code == 200, approved.text
                    time.sleep(KILL_AFTER_APPROVAL_SECONDS)
                    suite.kill()
                # The event left catalog's outbox: only the bus still holds it.
                assert _approval_marked_published(data_dir), f"trial {trial}"
                suite.start()
                if not _granted_within(client, email, ROLE_GRANTED_WITHIN_SECONDS):
                    lost.append(trial)
                    again = client.post(
                        f"/api/v1/practitioners/{application}/approve", headers=_bearer(admin)
                    )
                    assert again.status_code == 409, again.text
    finally:
        suite.stop()
    assert not lost, f"practitioner.approved lost in {len(lost)} of {TRIALS} trials: {lost}"
