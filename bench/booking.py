"""Booking under load, through the gateway.

**POST /bookings created/s**: 32 clients (one connection each) book 30-minute sessions of
four practitioners open around the clock, each connection walking its own run of times;
every tenth request asks for the time another connection asks for at that moment, so about
a tenth collide and one of each pair is told 409 SLOT_TAKEN. Each booking is a quote from
catalog over gRPC and one transaction in booking (idempotency claim, the practitioner's
account, hours and busy time read, the booking, its time and its outbox row written, the
exclusion constraint checked). Reported: bookings made per second, the share refused 409,
any 5xx (there must be none), and beside it, in the same run and on the same PostgreSQL,
pgbench's TPC-B (its default script) at the same 32 clients: the target is at least 0.12x
its transactions per second.

**overlapping active bookings**: when the load has stopped, how many pairs of bookings that
hold a practitioner's time overlap (buffers included), counted in booking's database: must
be 0.

**GET /services/{id}/slots, a month**: a practitioner open 08:00-20:00 every day with 300
one-hour bookings in the coming month; 8 connections ask for that month's slots (in the
viewer's zone). Target p99 < 30 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import secrets
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from bench.figures import Figure, say
from bench.loadgen import Endpoint, LoadResult
from bench.rest import PASSWORD, RestBench
from bench.shapes import POSTGRES_ADMIN_DSN, BenchRun, Shape, postgres_databases
from chassis.db import Database
from services.booking.repository import Occupancy

CREATE_PRACTITIONERS = 4
OVERLAP_EVERY = 10  # every tenth request asks for a time another asks for at once
BODIES_PER_CONNECTION = 800
TPCB_TARGET_RATIO = 0.12
SLOTS_CONNECTIONS = 8
MONTH_BOOKINGS = 300
SLOTS_P99_TARGET_MS = 30.0
PGBENCH_SCALE = 10
# Signing up hashes a password (argon2, slow on purpose): more at once only queue, and
# on a busy machine past the gateway's 5 s deadline.
SIGN_UPS_AT_ONCE = 4
SIGN_UP_ATTEMPTS = 5
ALL_DAY = [
    {"weekday": day, "start": "00:00", "end": "24:00"}
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
]
DAYTIME = [{**window, "start": "08:00", "end": "20:00"} for window in ALL_DAY]
PROFILE = {
    "display_name": "Bench Practitioner",
    "bio": "Booked by the benchmark.",
    "specializations": ["yoga"],
    "certifications": [],
    "years_experience": 5,
    "languages": ["en"],
    "timezone": "UTC",
    "locations": [{"kind": "virtual"}],
}


@dataclass(frozen=True)
class Seller:
    token: str
    practitioner_id: str
    service_id: str


class GatewayTimedOut(RuntimeError):
    """A 504: a backend did not answer within the gateway's deadline."""


class Setup:
    """Makes the bench's people and services through the gateway, as clients would."""

    def __init__(self, shape: Shape, run: BenchRun) -> None:
        self._shape = shape
        self._run = run
        self._client = httpx.AsyncClient(
            base_url=shape.base_url,
            timeout=60.0,
            headers={"X-Forwarded-For": run.client_address},
        )
        self._staff = ""
        self._category = ""

    async def close(self) -> None:
        await self._client.aclose()

    async def _ok(self, answer: Any, status: int = 200) -> dict[str, Any]:
        response = await answer
        if response.status_code != status:
            refused = GatewayTimedOut if response.status_code == 504 else RuntimeError
            raise refused(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text}"
            )
        return response.json() if response.content else {}

    async def account(self, kind: str) -> tuple[str, str]:
        """A new account signed in: its token and user id."""
        email = f"bench.{kind}.{self._run.token}.{secrets.token_hex(4)}@example.com"
        made = await self._ok(
            self._client.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "full_name": "Bench Person"},
            ),
            201,
        )
        tokens = await self._ok(
            self._client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        )
        return tokens["access_token"], made["id"]

    async def accounts(self, kind: str, count: int) -> list[tuple[str, str]]:
        """`count` new accounts signed in (token, user id), SIGN_UPS_AT_ONCE at a time; a
        sign-up the gateway timed out (a loaded machine) is made again, as a new account."""
        gate = asyncio.Semaphore(SIGN_UPS_AT_ONCE)

        async def one() -> tuple[str, str]:
            async with gate:
                for _ in range(SIGN_UP_ATTEMPTS - 1):
                    with contextlib.suppress(GatewayTimedOut):
                        return await self.account(kind)
                return await self.account(kind)

        return await asyncio.gather(*(one() for _ in range(count)))

    async def staff(self) -> str:
        if not self._staff:
            email = f"bench.staff.{self._run.token}@example.com"
            await self._shape.make_admin(email, PASSWORD)
            tokens = await self._ok(
                self._client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
            )
            self._staff = tokens["access_token"]
            made = await self._ok(
                self._client.post(
                    "/api/v1/services/categories",
                    json={"slug": f"bench-{self._run.token}", "name": "Bench"},
                    headers=_bearer(self._staff),
                ),
                201,
            )
            self._category = made["id"]
        return self._staff

    async def seller(self, hours: list[dict[str, str]], **service: Any) -> Seller:
        """An approved practitioner with these hours and one session on sale."""
        staff = await self.staff()
        token, _ = await self.account("practitioner")
        applied = await self._ok(
            self._client.post("/api/v1/practitioners/apply", json=PROFILE, headers=_bearer(token)),
            201,
        )
        await self._ok(
            self._client.post(
                f"/api/v1/practitioners/{applied['id']}/approve", headers=_bearer(staff)
            )
        )
        body = {
            "kind": "session",
            "title": "Bench session",
            "description": "",
            "category_id": self._category,
            "price": {"amount_minor": 3000, "currency": "EUR"},
            "duration_minutes": 30,
            "min_notice_minutes": 0,
            "booking_window_days": 730,
            **service,
        }
        made = await self._ok(
            self._client.post("/api/v1/services", json=body, headers=_bearer(token)), 201
        )
        await self._ok(
            self._client.put(
                f"/api/v1/practitioners/{applied['id']}/schedule",
                json={"weekly": hours},
                headers=_bearer(token),
            )
        )
        return Seller(token, applied["id"], made["id"])

    async def book(self, token: str, service_id: str, start: datetime) -> int:
        answer = await self._client.post(
            "/api/v1/bookings",
            json={"service_id": service_id, "start_time": start.isoformat()},
            headers=_bearer(token),
        )
        return answer.status_code


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tomorrow() -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


def booking_endpoints(sellers: list[Seller], tokens: list[str], start: datetime) -> list[Endpoint]:
    """One connection per client token, each booking its own run of half hours of one
    practitioner; one request in OVERLAP_EVERY asks for the time the next connection of that
    practitioner asks for in the same turn, so about a tenth collide."""
    per_seller = math.ceil(len(tokens) / len(sellers))
    endpoints = []
    for connection, token in enumerate(tokens):
        seller = sellers[connection % len(sellers)]
        lane = connection // len(sellers)
        bodies = []
        for turn in range(BODIES_PER_CONNECTION):
            # Each connection takes its turn to collide at a different turn, so its neighbour
            # asks for that time as its own at the same moment.
            collides = (turn + lane) % OVERLAP_EVERY == 0
            slot_lane = (lane + 1) % per_seller if collides else lane
            at = start + timedelta(minutes=30 * (turn * per_seller + slot_lane))
            bodies.append({"service_id": seller.service_id, "start_time": at.isoformat()})
        endpoints.append(
            Endpoint(
                "POST",
                "/api/v1/bookings",
                bearer=token,
                body=bodies[0],
                further_bodies=tuple(bodies[1:]),
            )
        )
    return endpoints


async def overlapping_bookings(shape: Shape) -> int:
    """Pairs of active bookings of one practitioner that overlap, in booking's database."""
    database = Database(shape.database_url("booking"), pool_size=1)
    try:
        connection = await database.connect(write=False)
        try:
            return await Occupancy(connection).overlapping_active()
        finally:
            await connection.close()
    finally:
        await database.dispose()


async def pgbench_tps(run: BenchRun, clients: int, seconds: float) -> float:
    """pgbench's TPC-B-like transactions per second at `clients`, on its own database."""
    name = run.database("pgbench")
    async with postgres_databases(name):
        dsn = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"

        def bench() -> str:
            subprocess.run(
                ["pgbench", "-i", "-q", "-s", str(PGBENCH_SCALE), dsn],
                check=True,
                capture_output=True,
            )
            done = subprocess.run(
                ["pgbench", "-c", str(clients), "-j", "2", "-T", str(max(int(seconds), 1)), dsn],
                check=True,
                capture_output=True,
                text=True,
            )
            return done.stdout

        output = await asyncio.to_thread(bench)
    return pgbench_tps_of(output)


def pgbench_tps_of(output: str) -> float:
    """The transactions per second pgbench's report gives, connection time left out."""
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if not found:
        raise RuntimeError(f"pgbench printed no tps:\n{output}")
    return float(found.group(1))


def _last_line(output: str | bytes | None) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"


async def booking_figures(rest: RestBench, shape: Shape, run: BenchRun) -> list[Figure]:
    """Bookings made per second under contention (beside TPC-B on PostgreSQL), what overlaps
    afterwards, and a month of slots."""
    figures: list[Figure] = []
    setup = Setup(shape, run)
    try:
        say(
            f"{shape.name}: booking: {CREATE_PRACTITIONERS} practitioners, "
            f"{rest.options.concurrency} clients"
        )
        sellers = [await setup.seller(ALL_DAY) for _ in range(CREATE_PRACTITIONERS)]
        tokens = [(await setup.account("client"))[0] for _ in range(rest.options.concurrency)]
        say(f"{shape.name}: POST /bookings (a tenth asking for times others ask for)")
        made, split = await rest.measure_by_process(booking_endpoints(sellers, tokens, _tomorrow()))
        figures += _creation_figures(shape, made, split)
        overlapping = await overlapping_bookings(shape)
        figures.append(
            Figure(
                "overlapping active bookings after the load",
                shape.name,
                overlapping,
                "",
                target="0",
                met=overlapping == 0,
            )
        )
        if shape.name == "production":
            say("production: pgbench TPC-B, same clients, same PostgreSQL")
            detail = f"scale {PGBENCH_SCALE}"
            try:
                tps = await pgbench_tps(
                    run, rest.options.concurrency, rest.options.duration_seconds
                )
            except subprocess.CalledProcessError as error:
                # The PostgreSQL is shared (its connections can run out under others' tests):
                # the run keeps the figures it has, and says why this one is missing.
                tps, detail = math.nan, f"pgbench failed: {_last_line(error.stderr)}"
            ratio = made.per_second / tps if tps else math.nan
            figures.append(Figure("pgbench TPC-B", shape.name, tps, "tps", detail=detail))
            figures.append(
                Figure(
                    "POST /bookings vs TPC-B",
                    shape.name,
                    ratio,
                    "x",
                    target=f">= {TPCB_TARGET_RATIO}x (production)",
                    met=ratio >= TPCB_TARGET_RATIO,
                )
            )
        figures += await _month_of_slots(rest, shape, setup)
    finally:
        await setup.close()
    return figures


def _creation_figures(shape: Shape, made: LoadResult, split: str) -> list[Figure]:
    answered = sum(made.statuses.values())
    refused = made.statuses.get(409, 0)
    server_errors = sum(n for status, n in made.statuses.items() if status >= 500)
    return [
        Figure(
            "POST /bookings created/s",
            shape.name,
            made.per_second,
            "/s",
            detail=f"{made.requests} made, {refused} of {answered} answers 409 SLOT_TAKEN",
        ),
        Figure("POST /bookings p50", shape.name, made.latencies.p50_ms, "ms"),
        Figure("POST /bookings p99", shape.name, made.latencies.p99_ms, "ms"),
        Figure(
            "POST /bookings refused 409",
            shape.name,
            100 * refused / answered if answered else math.nan,
            "%",
            detail="about a tenth ask for a time another asks for at once",
        ),
        Figure(
            "POST /bookings 5xx",
            shape.name,
            server_errors,
            "",
            target="0",
            met=server_errors == 0,
            detail=f"statuses {made.statuses}",
        ),
        Figure(
            "POST /bookings server CPU/request",
            shape.name,
            made.server_cpu_ms_per_request,
            "ms",
            detail="CPU of the shape's Python processes (not Postgres, Redis or RabbitMQ)" + split,
        ),
    ]


async def _month_of_slots(rest: RestBench, shape: Shape, setup: Setup) -> list[Figure]:
    free = {"amount_minor": 0, "currency": "EUR"}
    seller = await setup.seller(DAYTIME, duration_minutes=60, price=free)
    client, _ = await setup.account("client")
    start = _tomorrow()
    hours = [start + timedelta(days=d, hours=h) for d in range(30) for h in range(8, 20)]
    chosen = random.Random(7).sample(hours, MONTH_BOOKINGS)
    say(f"{shape.name}: {MONTH_BOOKINGS} bookings in a month of one practitioner")
    gate = asyncio.Semaphore(8)

    async def one(at: datetime) -> int:
        async with gate:
            return await setup.book(client, seller.service_id, at)

    statuses = await asyncio.gather(*(one(at) for at in chosen))
    if statuses.count(201) != MONTH_BOOKINGS:
        raise RuntimeError(f"the month's bookings answered {sorted(set(statuses))}")
    query = urlencode(
        {
            "from": start.isoformat(),
            "to": (start + timedelta(days=30)).isoformat(),
            "tz": "America/New_York",
        }
    )
    path = f"/api/v1/services/{seller.service_id}/slots?{query}"
    say(f"{shape.name}: GET /services/{{id}}/slots, a month, {SLOTS_CONNECTIONS} connections")
    found, split = await rest.measure_by_process([Endpoint("GET", path)] * SLOTS_CONNECTIONS)
    label = f"GET slots, a month of 300 bookings ({SLOTS_CONNECTIONS} conns)"
    figures = rest.summarise(label, found)
    p99 = found.latencies.p99_ms
    return [
        replace(f, target=f"< {SLOTS_P99_TARGET_MS:.0f} ms", met=p99 < SLOTS_P99_TARGET_MS)
        if f.name == f"{label} p99"
        else replace(f, detail=f.detail + split)
        if f.name == f"{label} server CPU/request"
        else f
        for f in figures
    ]
