"""The load generator: a lean HTTP/1.1 keep-alive client on raw asyncio streams.

It runs in its own process (bench.process.SeparateProcess), so the client's parsing never
runs on the server's event loop. Each connection is a closed loop: it sends a
request, reads the whole response, and sends the next one; a sample is the time from the
first byte written to the last byte read. Samples of requests sent during the warm-up are
dropped, so the figures describe the warm steady state. The servers' CPU time is read at the
start and the end of the measured window: on a shared machine, CPU per request is the figure
that other tenants disturb least.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.figures import Latencies
from bench.process import cpu_seconds

HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True)
class Endpoint:
    """What one connection asks for, again and again."""

    method: str
    path: str
    bearer: str = ""
    body: dict[str, Any] | None = None
    # For POST /auth/token/refresh: each answer carries the token the next request must send.
    rotates_refresh_token: bool = False
    # Asked for in turn after path, then path again (service ids, say): a read that touches
    # many rows is not served from one hot row.
    further_paths: tuple[str, ...] = ()
    # Sent in turn after body (bookings of one time after another, say): a write that must
    # not repeat itself.
    further_bodies: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class LoadPlan:
    """One measurement: where, how many connections, for how long, and what each sends."""

    host: str
    port: int
    endpoints: tuple[Endpoint, ...]  # one per connection
    warmup_seconds: float
    duration_seconds: float
    forwarded_for: str
    server_pids: tuple[int, ...]


@dataclass
class LoadResult:
    """Completed requests in the measured window, failures, and the latency samples."""

    requests: int
    failures: int
    seconds: float
    latencies: Latencies
    server_cpu_seconds: float
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu_seconds * 1000 / self.requests if self.requests else math.nan


class Connection:
    """One keep-alive connection and the endpoint it drives."""

    def __init__(self, plan: LoadPlan, endpoint: Endpoint) -> None:
        self._plan = plan
        self.endpoint = endpoint
        self._body = endpoint.body
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        # Encoded once each, so the client spends no time on them while measuring.
        self._requests = [self._encode(path) for path in (endpoint.path, *endpoint.further_paths)]
        self._requests += [self._encode(endpoint.path, body) for body in endpoint.further_bodies]
        self._turn = 0

    def _encode(self, path: str, body: dict[str, Any] | None = None) -> bytes:
        endpoint = self.endpoint
        body = body if body is not None else self._body
        lines = [
            f"{endpoint.method} {path} HTTP/1.1",
            f"Host: {self._plan.host}:{self._plan.port}",
            "User-Agent: estuary-bench",
            f"X-Forwarded-For: {self._plan.forwarded_for}",
        ]
        if endpoint.bearer:
            lines.append(f"Authorization: Bearer {endpoint.bearer}")
        payload = orjson.dumps(body) if body is not None else b""
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    async def exchange(self) -> tuple[int, bytes]:
        """Sends the request once and reads the whole response."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self._plan.host, self._plan.port
            )
        assert self._reader is not None
        self._writer.write(self._requests[self._turn])
        self._turn = (self._turn + 1) % len(self._requests)
        head = await self._reader.readuntil(HEADER_END)
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                raise RuntimeError("the bench client reads only Content-Length bodies")
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self._reader.readexactly(length) if length else b""
        if close:
            await self.close()
        if self.endpoint.rotates_refresh_token and status == 200:
            self._body = {"refresh_token": orjson.loads(body)["refresh_token"]}
            self._requests = [self._encode(self.endpoint.path)]
        return status, body

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()
        self._reader = self._writer = None


async def drive(plan: LoadPlan) -> LoadResult:
    """Runs the plan's connections for warm-up plus duration; returns the measured window."""
    started = time.perf_counter()
    measure_from = started + plan.warmup_seconds
    stop_at = measure_from + plan.duration_seconds
    samples: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0

    async def run(connection: Connection) -> None:
        nonlocal failures
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            try:
                status, _ = await connection.exchange()
            except (OSError, asyncio.IncompleteReadError, ValueError):
                failures += 1
                await connection.close()
                await asyncio.sleep(0.05)
                continue
            done = time.perf_counter()
            succeeded = 200 <= status < 300
            if measure_from <= sent and done <= stop_at:
                statuses[status] = statuses.get(status, 0) + 1
                if succeeded:
                    samples.append(done - sent)
                else:
                    failures += 1
            if not succeeded and connection.endpoint.rotates_refresh_token:
                # A refused refresh leaves this connection without a valid token.
                break
        await connection.close()

    async def server_cpu_at(instant: float) -> float:
        await asyncio.sleep(instant - time.perf_counter())
        return cpu_seconds(plan.server_pids)

    cpu_before = asyncio.create_task(server_cpu_at(measure_from))
    cpu_after = asyncio.create_task(server_cpu_at(stop_at))
    connections = [Connection(plan, endpoint) for endpoint in plan.endpoints]
    await asyncio.gather(*(run(c) for c in connections))
    return LoadResult(
        requests=len(samples),
        failures=failures,
        seconds=plan.duration_seconds,
        latencies=Latencies.of(samples),
        server_cpu_seconds=await cpu_after - await cpu_before,
        statuses=statuses,
    )
