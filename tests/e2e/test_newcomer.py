"""A newcomer's first hour with the embedded suite: one data folder for every command, a
gateway port of their choosing, one line when a port is taken, and room to explore."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.settings import GatewaySettings
from suite.cli import _parser
from suite.embedded import EXPLORING_LIMITS, EmbeddedSuite
from suite.registry import SERVICES
from tests.e2e.accounts import PASSWORD, new_email

ROOT = Path(__file__).resolve().parents[2]


def estuary(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `estuary` command as a person runs it, from `cwd`, with none of the test's
    ESTUARY_* variables."""
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("ESTUARY_")}
    return subprocess.run(
        [sys.executable, "-m", "suite.cli", *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def embedded(data_dir: Path) -> EmbeddedSuite:
    """`estuary up` on a data folder, on free ports and with its own rate limits."""
    return EmbeddedSuite(
        data_dir=data_dir, gateway_port=0, grpc_ports={entry.name: 0 for entry in SERVICES}
    )


@pytest.fixture
def no_rate_limit_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ESTUARY_RATE_LIMIT_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def running(tmp_path: Path, no_rate_limit_variables: None) -> AsyncIterator[EmbeddedSuite]:
    suite = embedded(tmp_path / "data")
    await suite.start()
    try:
        yield suite
    finally:
        await suite.stop()


# One data folder ------------------------------------------------------------------------------


@pytest.mark.parametrize("given_as", ["option", "environment"])
async def test_the_admin_that_admin_create_reports_logs_in_to_the_suite_on_that_folder(
    tmp_path: Path, given_as: str
) -> None:
    data = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    email = new_email("admin")
    argv = ["admin", "create", "--email", email, "--password", PASSWORD]
    env = {}
    if given_as == "option":
        argv += ["--data-dir", str(data)]
    else:
        env["ESTUARY_DATA_DIR"] = str(data)
    made = await asyncio.to_thread(estuary, *argv, cwd=elsewhere, env=env)
    assert made.returncode == 0, made.stderr
    assert f"admin created: {email}" in made.stdout
    assert str(data / "identity.db") in made.stdout, "it names the file it wrote to"
    assert not (elsewhere / "var").exists(), "nothing went to ./var/data"

    suite = embedded(data)
    await suite.start()
    try:
        async with httpx.AsyncClient(base_url=suite.gateway_url) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            me = await client.get(
                "/api/v1/users/me",
                headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            )
        assert "admin" in me.json()["roles"]
    finally:
        await suite.stop()


def test_identity_keys_commands_work_on_the_data_folder(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    made = estuary(
        "admin",
        "create",
        "--email",
        new_email(),
        "--password",
        PASSWORD,
        "--data-dir",
        data,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    rotated = estuary("keys", "rotate", "--data-dir", data, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split()[3].rstrip(":")
    listed = estuary("keys", "list", "--data-dir", data, cwd=tmp_path)
    statuses = dict(line.split()[:2] for line in listed.stdout.splitlines())
    assert statuses == {new_kid: "next"}
    retired = estuary("keys", "retire", "--data-dir", data, cwd=tmp_path)
    assert retired.returncode == 2
    assert "needs --kid" in retired.stderr


def test_every_command_reads_the_same_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESTUARY_DATA_DIR", "/srv/estuary")
    parser = _parser()
    for argv in (
        ["up"],
        ["serve", "identity"],
        ["migrate", "all"],
        ["seed", "--demo"],
        ["admin", "create", "--email", "a@example.com"],
        ["keys", "list"],
    ):
        assert parser.parse_args(argv).data_dir == Path("/srv/estuary"), argv
        assert parser.parse_args([*argv, "--data-dir", "here"]).data_dir == Path("here"), argv


# Ports ----------------------------------------------------------------------------------------


def test_make_run_takes_the_gateway_port_and_so_does_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planned = subprocess.run(
        ["make", "-n", "run", "PORT=8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "estuary up --port 8123" in planned.stdout
    monkeypatch.setenv("ESTUARY_HTTP_PORT", "8124")
    assert _parser().parse_args(["up"]).port == 8124
    monkeypatch.delenv("ESTUARY_HTTP_PORT")
    assert _parser().parse_args(["up"]).port == 8000


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


@pytest.mark.parametrize(
    ("option", "advice"),
    [("--port", "make run PORT="), ("--grpc-port-base", "--grpc-port-base")],
    ids=["gateway", "grpc"],
)
def test_a_port_in_use_is_one_line_naming_it_and_how_to_choose_another(
    tmp_path: Path, taken_port: int, option: str, advice: str
) -> None:
    started = estuary(
        "up", "--data-dir", str(tmp_path / "data"), option, str(taken_port), cwd=tmp_path
    )
    assert started.returncode == 1
    lines = (started.stdout + started.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert f"port {taken_port}" in lines[0]
    assert advice in lines[0]
    assert not (tmp_path / "data").exists(), "it stopped before touching anything"


# Room to explore ------------------------------------------------------------------------------


async def test_exploring_the_embedded_suite_does_not_lock_a_newcomer_out(
    running: EmbeddedSuite,
) -> None:
    email = new_email("newcomer")
    async with httpx.AsyncClient(base_url=running.gateway_url) as client:
        # The production budget is 100 anonymous requests an hour.
        for _ in range(150):
            listed = await client.get("/api/v1/services")
            assert listed.status_code == 200, listed.text
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "New Comer"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text


def test_production_defaults_stay_strict_and_a_set_variable_wins_in_the_embedded_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_rate_limit_variables: None
) -> None:
    strict = GatewaySettings()
    assert strict.rate_limit_anonymous_per_hour == 100
    assert strict.rate_limit_client_per_hour == 1000
    exploring = embedded(tmp_path).gateway_settings()
    for name, value in EXPLORING_LIMITS.items():
        assert getattr(exploring, name) == value > getattr(strict, name)
    assert exploring.rate_limit_login_per_minute == strict.rate_limit_login_per_minute
    monkeypatch.setenv("ESTUARY_RATE_LIMIT_ANONYMOUS_PER_HOUR", "100")
    assert embedded(tmp_path).gateway_settings().rate_limit_anonymous_per_hour == 100
