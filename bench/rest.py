"""The REST figures of one shape: the baseline, GET /users/me, token refresh and login.

Each runs on fixed connections for a fixed time after a warm-up, from the separate load
process. The baseline is started with the same process layout as the shape (one process
embedded, the gRPC server and the edge apart in production), so that the ratio of
/users/me to it is what the gateway, the identity service and its database cost. The
catalog's figures (bench.catalog) are read against the same baseline.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import wrk
from bench.baseline import ECHO_PATH
from bench.figures import Figure, say
from bench.loadgen import Endpoint, LoadPlan, LoadResult, drive
from bench.process import SeparateProcess, cpu_seconds
from bench.shapes import HOST, BenchRun, ServerProcess, Shape, free_port, wait_until_answering

PASSWORD = "bench-river-stone-42-lantern"
ME_TARGET_RATIO = 0.6


@dataclass(frozen=True)
class LoadOptions:
    """How hard and how long each REST measurement pushes."""

    concurrency: int
    login_concurrency: int
    warmup_seconds: float
    duration_seconds: float
    # Connections of the wrk pair (the baseline and GET /users/me), as the issue measured.
    wrk_concurrency: int = 64


@dataclass(frozen=True)
class Session:
    access_token: str
    refresh_token: str


@dataclass(frozen=True)
class Account:
    """The client account the load signs in as, with one session per connection."""

    user_id: str
    email: str
    sessions: list[Session]


async def open_account(shape: Shape, run: BenchRun, sessions: int) -> Account:
    """Registers a client and signs in `sessions` times, each login its own session."""
    email = f"bench.{run.token}.{secrets.token_hex(3)}@example.com"
    async with httpx.AsyncClient(
        base_url=shape.base_url, timeout=60.0, headers={"X-Forwarded-For": run.client_address}
    ) as client:
        registered = await client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "Bench Client"},
        )
        if registered.status_code != 201:
            raise RuntimeError(f"register answered {registered.status_code}: {registered.text}")
        logins = await asyncio.gather(
            *(
                client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
                for _ in range(sessions)
            )
        )
    for login in logins:
        if login.status_code != 200:
            raise RuntimeError(f"login answered {login.status_code}: {login.text}")
    return Account(
        user_id=registered.json()["id"],
        email=email,
        sessions=[
            Session(login.json()["access_token"], login.json()["refresh_token"]) for login in logins
        ],
    )


async def start_baseline(shape: Shape, logs: Path) -> tuple[list[ServerProcess], int]:
    """The bare edge and echo server, laid out in processes as the shape lays out its own."""
    edge_port = free_port()
    module = [sys.executable, "-m", "bench.baseline"]
    if shape.name == "embedded":
        commands = {"baseline": [*module, "--echo-port", "0", "--edge-port", str(edge_port)]}
    else:
        echo_port = free_port()
        commands = {
            "baseline-echo": [*module, "--echo-port", str(echo_port)],
            "baseline-edge": [
                *module,
                "--edge-port",
                str(edge_port),
                "--echo-address",
                f"{HOST}:{echo_port}",
            ],
        }
    servers = [
        await ServerProcess.start(name, command, dict(os.environ), logs)
        for name, command in commands.items()
    ]
    await wait_until_answering(f"http://{HOST}:{edge_port}{ECHO_PATH}", servers)
    return servers, edge_port


class RestBench:
    """Runs the REST measurements of one shape and turns them into figures."""

    def __init__(
        self, shape: Shape, run: BenchRun, load: SeparateProcess, options: LoadOptions, logs: Path
    ) -> None:
        self._shape = shape
        self._run = run
        self._load = load
        self.options = options
        self._logs = logs
        self.account: Account | None = None

    async def baseline(self, *, by_wrk: bool = False) -> LoadResult:
        """The bare FastAPI -> grpc.aio echo, in the shape's process layout."""
        say(f"{self._shape.name}: baseline GET /echo{' (wrk)' if by_wrk else ''}")
        servers, baseline_port = await start_baseline(self._shape, self._logs)
        try:
            connections = self.options.wrk_concurrency if by_wrk else self.options.concurrency
            echo = [Endpoint("GET", ECHO_PATH)] * connections
            return await self.measure(echo, port=baseline_port, servers=servers, by_wrk=by_wrk)
        finally:
            for server in servers:
                await server.stop()

    async def identity_figures(self, baseline: LoadResult) -> list[Figure]:
        """GET /users/me (against the baseline), token refresh and login."""
        options = self.options
        shape = self._shape.name
        self.account = account = await open_account(self._shape, self._run, options.concurrency)

        say(f"{shape}: GET /users/me")
        me = await self.measure(
            [
                Endpoint("GET", "/api/v1/users/me", bearer=session.access_token)
                for session in account.sessions
            ]
        )
        figures = self.summarise("GET /users/me", me)
        split = ""
        generator = "the Python load generator (wrk is not installed: apt install wrk)"
        if wrk.available():
            # The comparison the target is set by: wrk's C client beside both servers.
            generator = f"wrk -t2 -c{options.wrk_concurrency}"
            baseline = await self.baseline(by_wrk=True)
            figures += self.summarise("baseline GET /echo (wrk)", baseline)
            say(f"{shape}: GET /users/me (wrk)")
            token = account.sessions[0].access_token
            me, split = await self.measure_by_process(
                [Endpoint("GET", "/api/v1/users/me", bearer=token)] * options.wrk_concurrency,
                by_wrk=True,
            )
            figures += self.summarise("GET /users/me (wrk)", me)
        ratio = me.per_second / baseline.per_second if baseline.per_second else math.nan
        figures.append(
            Figure(
                "GET /users/me vs baseline",
                shape,
                ratio,
                "x",
                target=f">= {ME_TARGET_RATIO}x",
                met=ratio >= ME_TARGET_RATIO,
                detail=f"by {generator}; server CPU/request "
                f"{me.server_cpu_ms_per_request:.2f} ms against "
                f"{baseline.server_cpu_ms_per_request:.2f} ms{split}",
            )
        )

        say(f"{shape}: POST /auth/token/refresh")
        refresh = await self.measure(
            [
                Endpoint(
                    "POST",
                    "/api/v1/auth/token/refresh",
                    body={"refresh_token": session.refresh_token},
                    rotates_refresh_token=True,
                )
                for session in account.sessions
            ]
        )
        figures += self.summarise("POST /auth/token/refresh", refresh)

        say(f"{shape}: POST /auth/login")
        credentials = {"email": account.email, "password": PASSWORD}
        login = await self.measure(
            [Endpoint("POST", "/api/v1/auth/login", body=credentials)] * options.login_concurrency
        )
        figures += self.summarise(f"POST /auth/login ({options.login_concurrency} conns)", login)
        return figures

    async def measure(
        self,
        endpoints: list[Endpoint],
        *,
        port: int | None = None,
        servers: list[ServerProcess] | None = None,
        by_wrk: bool = False,
    ) -> LoadResult:
        """Drives the endpoints at the shape's gateway, or at the given port and servers,
        from the separate load process, or by wrk."""
        plan = LoadPlan(
            host=HOST,
            port=port or self._shape.gateway_port,
            endpoints=tuple(endpoints),
            warmup_seconds=self.options.warmup_seconds,
            duration_seconds=self.options.duration_seconds,
            forwarded_for=self._run.client_address,
            server_pids=tuple(s.pid for s in servers or self._shape.servers),
        )
        if by_wrk:
            return await wrk.drive(plan)
        return await self._load.run(drive, plan)

    async def measure_by_process(
        self, endpoints: list[Endpoint], *, by_wrk: bool = False
    ) -> tuple[LoadResult, str]:
        """A measurement at the shape's gateway, and its CPU per request divided between the
        shape's processes ("; by process: gateway 0.61, identity 0.52, ..." ms; the shares
        over the whole run, warm-up included; nothing to divide in the embedded shape)."""
        servers = self._shape.servers
        before = {server.name: cpu_seconds([server.pid]) for server in servers}
        result = await self.measure(endpoints, by_wrk=by_wrk)
        used = {server.name: cpu_seconds([server.pid]) - before[server.name] for server in servers}
        total = sum(used.values())
        if len(used) < 2 or not total:
            return result, ""
        per_request = result.server_cpu_ms_per_request
        shares = sorted(used.items(), key=lambda item: -item[1])
        return result, "; by process: " + ", ".join(
            f"{name} {per_request * seconds / total:.2f}" for name, seconds in shares
        )

    def summarise(self, label: str, result: LoadResult) -> list[Figure]:
        """requests/s, p50, p99 and server CPU/request of one measurement."""
        shape = self._shape.name
        detail = ""
        if result.failures:
            detail = f"{result.failures} failed requests; statuses {result.statuses}"
            say(f"  ! {label} on {shape}: {detail}")
        return [
            Figure(f"{label} req/s", shape, result.per_second, "/s", detail=detail),
            Figure(f"{label} p50", shape, result.latencies.p50_ms, "ms"),
            Figure(f"{label} p99", shape, result.latencies.p99_ms, "ms"),
            Figure(
                f"{label} server CPU/request",
                shape,
                result.server_cpu_ms_per_request,
                "ms",
                detail="CPU of the shape's Python processes (not Postgres, Redis or RabbitMQ)",
            ),
        ]
