"""The catalog at marketplace size: one service by id, and a typical search, through the gateway.

The catalog is filled as the marketplace fills it: suite.demo.seed_catalog drives the catalog's
own handlers (apply, approve, create service), so every row is validated and indexed (tsvector
on PostgreSQL, FTS5 on SQLite). That costs minutes of Python for 10,000 services, so each
shape's seed is made once and kept: a SQLite file under bench/results/seeds/ and a template
database on PostgreSQL, both named by a fingerprint of the code that shapes the rows (catalog,
the chassis's storage, the demo generator) and of the seed's size. A run copies the seed into
its own data folder or database; a change to that code, or --reseed, makes a new seed.

The seeding's events (practitioner.approved, service.published) go to a sink queue of an
in-process broker, as if consumed long ago: the suite under load starts with an empty outbox,
not with a backlog of one announcement per practitioner and per service to publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import random
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from bench.figures import Figure, say
from bench.loadgen import Endpoint, LoadResult
from bench.process import SeparateProcess
from bench.rest import RestBench
from bench.shapes import (
    POSTGRES_ADMIN_DSN,
    REPOSITORY,
    BenchRun,
    Shape,
    postgres_url,
)
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.db import Database
from chassis.migrations import upgrade
from chassis.tables import outbox
from services.catalog import bootstrap as catalog_bootstrap
from services.catalog.domain.services import ServiceStatus
from services.catalog.settings import CatalogSettings
from services.catalog.tables import services
from suite.demo import CITIES, seed_catalog

CATALOG = catalog_bootstrap.NAME
SEEDS = REPOSITORY / "bench" / "results" / "seeds"
# The code that decides what rows a seed holds: change any of it and the kept seeds no longer
# apply. The rest of the chassis (relay, gRPC server, reads) serves rows without shaping them.
SEED_SOURCES = (
    "services/catalog",
    "suite/demo.py",
    "chassis/db.py",
    "chassis/ids.py",
    "chassis/migrations.py",
    "chassis/tables.py",
)
SEED_TEMPLATE_PREFIX = "estuary_bench_seed_catalog_"
# Seeds of other fingerprints kept for a while (another branch's, say), newest first.
SEEDS_KEPT = 2
# A seed still being made after this long belongs to a run that died: removed.
ABANDONED_AFTER_SECONDS = 3600.0
DEMO_SEED = 7
# Overlaps PostgreSQL round trips with Python work; SQLite has one writer whatever we ask.
SEED_CONCURRENCY = {"embedded": 1, "production": 8}
OUTBOX_DRAIN_TIMEOUT_SECONDS = 60.0

GET_TARGET_RATIO = 0.6
SEARCH_TARGET_RATIO = 0.4
SEARCH_P99_TARGET_MS = 50.0
# What clients type, with the top-level category they browse it under.
SEARCH_WORDS = (("yoga", "yoga"), ("massage", "massage"), ("breathwork", "meditation"))
# Minor units (EUR cents): a session budget, and a wider one that takes in packages.
PRICE_BRACKETS = ((3000, 8000), (5000, 15000))
SEARCH_PAGE_SIZE = 20


@dataclass(frozen=True)
class CatalogOptions:
    """How big the seeded catalog is, and whether to make its seed again."""

    practitioners: int
    services_each: int
    reseed: bool

    @property
    def services(self) -> int:
        return self.practitioners * self.services_each


@dataclass(frozen=True)
class Seed:
    """A seeded catalog kept for runs to copy: a SQLite file or a PostgreSQL template."""

    shape: str
    location: str
    seconds: float
    made_at: str
    services: int
    made_now: bool

    def figure(self) -> Figure:
        when = "in this run" if self.made_now else f"at {self.made_at}, kept; --reseed remakes it"
        return Figure(
            "catalog seeding through the handlers (once, then kept)",
            self.shape,
            self.seconds,
            "s",
            detail=f"{self.services:,} services made {when} ({self.location})",
        )

    def metadata(self) -> dict[str, Any]:
        """What a kept seed records about itself (beside the file, or on the database)."""
        return {"seconds": self.seconds, "made_at": self.made_at, "services": self.services}

    @classmethod
    def kept(cls, shape: str, location: str, metadata: dict[str, Any]) -> Seed:
        return cls(
            shape, location, metadata["seconds"], metadata["made_at"], metadata["services"], False
        )


def seed_fingerprint(options: CatalogOptions) -> str:
    """Names a seed by the code that shapes its rows and by its size."""
    digest = hashlib.sha256(f"{options.practitioners}x{options.services_each}@{DEMO_SEED}".encode())
    for source in SEED_SOURCES:
        root = REPOSITORY / source
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            digest.update(str(path.relative_to(REPOSITORY)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def fill_catalog(url: str, practitioners: int, services_each: int, concurrency: int) -> int:
    """Migrates an empty catalog database and seeds it through the handlers; returns services.

    Runs in a process of its own (bench.process.SeparateProcess).
    """
    await asyncio.to_thread(upgrade, catalog_bootstrap.MIGRATIONS, url)
    broker = EmbeddedBroker(IN_MEMORY)
    broker.declare_queue("bench.seed.sink", ["#"])
    service = catalog_bootstrap.build(
        CatalogSettings(database_url=url, grpc_port=0), transport=EmbeddedTransport(broker)
    )
    relay = asyncio.create_task(service.runtime.relay.run())
    try:
        report = await seed_catalog(
            service.catalog,
            practitioners=practitioners,
            services_each=services_each,
            seed=DEMO_SEED,
            concurrency=concurrency,
        )
        await _until_outbox_empty(service.runtime.database)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await service.stop()
    return report.services


async def _until_outbox_empty(database: Database) -> None:
    """Waits for the relay to publish what the seeding left (its sweep takes the stragglers)."""
    deadline = time.monotonic() + OUTBOX_DRAIN_TIMEOUT_SECONDS
    unsent = sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    while True:
        async with database.engine.connect() as connection:
            if not (await connection.execute(unsent)).scalar_one():
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the seeding's events were not all relayed")
        await asyncio.sleep(0.5)


async def prepare_seeds(
    shapes: tuple[str, ...], options: CatalogOptions, run: BenchRun
) -> dict[str, Seed]:
    """Each shape's seed: the kept one, or one made now (the shapes' seeds side by side)."""
    fingerprint = seed_fingerprint(options)
    makers = {"embedded": _sqlite_seed, "production": _postgres_seed}
    seeds = await asyncio.gather(*(makers[shape](fingerprint, options, run) for shape in shapes))
    return dict(zip(shapes, seeds, strict=True))


async def _make(shape: str, url: str, options: CatalogOptions) -> tuple[int, float]:
    """Seeds the database at url in a process of its own; returns services and seconds."""
    say(f"{shape}: seeding {options.services:,} services through the catalog handlers")
    process = SeparateProcess()
    started = time.perf_counter()
    try:
        made = await process.run(
            fill_catalog,
            url,
            options.practitioners,
            options.services_each,
            SEED_CONCURRENCY[shape],
        )
    finally:
        process.close()
    seconds = time.perf_counter() - started
    say(f"{shape}: seeded {made:,} services in {seconds:.0f} s")
    return made, seconds


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _sqlite_seed(fingerprint: str, options: CatalogOptions, run: BenchRun) -> Seed:
    SEEDS.mkdir(parents=True, exist_ok=True)
    final = SEEDS / f"catalog-{fingerprint}.db"
    about = final.with_suffix(".json")
    _forget_sqlite_seeds(keep=final)
    if final.exists() and about.exists() and not options.reseed:
        return Seed.kept("embedded", str(final), json.loads(about.read_text()))
    making = SEEDS / f"catalog-{fingerprint}.{run.token}.making"
    try:
        made, seconds = await _make("embedded", f"sqlite+aiosqlite:///{making}", options)
        # One self-contained file (no -wal beside it), so a copy is the whole database.
        with contextlib.closing(sqlite3.connect(making)) as database:
            database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            database.execute("PRAGMA journal_mode=DELETE")
        os.replace(making, final)
    finally:
        for leftover in SEEDS.glob(f"{making.name}*"):
            leftover.unlink()
    seed = Seed("embedded", str(final), seconds, _now(), made, made_now=True)
    about.write_text(json.dumps(seed.metadata()))
    return seed


def _forget_sqlite_seeds(keep: Path) -> None:
    """Removes seeds a dead run left half made, and all but the newest few others."""
    for making in SEEDS.glob("catalog-*.making*"):
        if time.time() - making.stat().st_mtime > ABANDONED_AFTER_SECONDS:
            making.unlink()
    others = sorted(
        (p for p in SEEDS.glob("catalog-*.db") if p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for stale in others[SEEDS_KEPT:]:
        stale.unlink()
        stale.with_suffix(".json").unlink(missing_ok=True)


def install_sqlite_seed(seed: Seed, database_url: str) -> None:
    """Copies a kept SQLite seed to where a service's database URL points."""
    target = make_url(database_url).database
    assert target, database_url
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(seed.location, target)


async def _postgres_seed(fingerprint: str, options: CatalogOptions, run: BenchRun) -> Seed:
    final = SEED_TEMPLATE_PREFIX + fingerprint
    kept = await asyncio.to_thread(_forget_postgres_seeds, keep=final)
    if kept is not None and not options.reseed:
        return Seed.kept("production", final, kept)
    making = f"{final}_{run.token}"
    await asyncio.to_thread(
        _admin,
        _sql("CREATE DATABASE {}", making),
        _sql("COMMENT ON DATABASE {} IS {}", making, comment={"making_since": time.time()}),
    )
    try:
        made, seconds = await _make("production", postgres_url(making), options)
        seed = Seed("production", final, seconds, _now(), made, made_now=True)
        await asyncio.to_thread(_finish_postgres_seed, making, final, seed)
    except BaseException:
        await asyncio.to_thread(_admin, _sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", making))
        raise
    return seed


def _sql(statement: str, *databases: str, comment: dict[str, Any] | None = None) -> sql.Composed:
    """A statement about databases, their names (and a comment) quoted by psycopg."""
    parts: list[sql.Composable] = [sql.Identifier(name) for name in databases]
    if comment is not None:
        parts.append(sql.Literal(json.dumps(comment)))
    return sql.SQL(statement).format(*parts)


def _admin(*statements: sql.Composed) -> None:
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def _finish_postgres_seed(making: str, final: str, seed: Seed) -> None:
    # Statistics as autovacuum would have gathered them on a live database; the copies
    # inherit them, so each run plans its queries on the same footing.
    with psycopg.connect(make_conninfo(POSTGRES_ADMIN_DSN, dbname=making), autocommit=True) as db:
        db.execute("VACUUM ANALYZE")
    _admin(
        _sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", final),
        _sql("ALTER DATABASE {} RENAME TO {}", making, final),
        _sql("COMMENT ON DATABASE {} IS {}", final, comment=seed.metadata()),
        # A stray session on a template makes every copy of it fail.
        _sql("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", final),
    )


def _forget_postgres_seeds(keep: str) -> dict[str, Any] | None:
    """Drops seeds a dead run left half made and all but the newest few others; returns the
    metadata of the seed named keep, if it is there."""
    pattern = re.compile(re.escape(SEED_TEMPLATE_PREFIX) + r"[0-9a-f]{12}")
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE starts_with(datname, %s)",
            (SEED_TEMPLATE_PREFIX,),
        ).fetchall()
        described = {name: json.loads(comment or "{}") for name, comment in rows}
        finished = sorted(
            (name for name in described if pattern.fullmatch(name) and name != keep),
            key=lambda name: described[name].get("made_at", ""),
            reverse=True,
        )
        abandoned = [
            name
            for name, about in described.items()
            if not pattern.fullmatch(name)
            and time.time() - about.get("making_since", 0) > ABANDONED_AFTER_SECONDS
        ]
        for name in [*finished[SEEDS_KEPT:], *abandoned]:
            admin.execute(_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", name))
    return described.get(keep)


async def seeded_service_ids(database_url: str) -> list[str]:
    """The ids of the services on sale in a running shape's catalog database."""
    database = Database(database_url, pool_size=1)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(services.c.id)
                .where(services.c.status == ServiceStatus.ACTIVE.value)
                .order_by(services.c.id)
            )
            return [row.id for row in rows]
    finally:
        await database.dispose()


def typical_searches() -> list[str]:
    """Discovery as a client near one of the seeded cities asks for it, page by page."""
    return [
        "/api/v1/services?"
        + urlencode(
            {
                "q": words,
                "category": category,
                "price_min": low,
                "price_max": high,
                "lat": lat,
                "lng": lng,
                "sort": "distance",
                "limit": SEARCH_PAGE_SIZE,
            }
        )
        for words, category in SEARCH_WORDS
        for low, high in PRICE_BRACKETS
        for _city, _country, lat, lng, *_ in CITIES
    ]


async def _matches(shape: Shape, run: BenchRun, paths: list[str]) -> list[int]:
    """How many services each search matches, asked once each (and each must answer 200)."""
    async with httpx.AsyncClient(
        base_url=shape.base_url, timeout=30.0, headers={"X-Forwarded-For": run.client_address}
    ) as client:
        totals = []
        for path in paths:
            answer = await client.get(path)
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text}")
            page = answer.json()
            if len(page["results"]) != min(SEARCH_PAGE_SIZE, page["total"]):
                raise RuntimeError(f"{path} served {len(page['results'])} of {page['total']}")
            totals.append(page["total"])
        return totals


def _spread(paths: list[str], connections: int, seed: int) -> list[Endpoint]:
    """Each connection asks for its own shuffled turn of the paths."""
    endpoints = []
    for number in range(connections):
        own = paths[number::connections] if len(paths) >= connections else list(paths)
        random.Random(seed + number).shuffle(own)
        endpoints.append(Endpoint("GET", own[0], further_paths=tuple(own[1:])))
    return endpoints


def _versus_baseline(
    label: str, shape: str, result: LoadResult, baseline: LoadResult, target: float, detail: str
) -> Figure:
    ratio = result.per_second / baseline.per_second if baseline.per_second else math.nan
    return Figure(
        f"{label} vs baseline",
        shape,
        ratio,
        "x",
        target=f">= {target}x (production)",
        met=ratio >= target if shape == "production" else None,
        detail=f"{detail}; server CPU/request {result.server_cpu_ms_per_request:.2f} ms "
        f"against {baseline.server_cpu_ms_per_request:.2f} ms",
    )


async def catalog_figures(
    rest: RestBench, shape: Shape, run: BenchRun, baseline: LoadResult
) -> list[Figure]:
    """GET /services/{id} over the seeded ids, and a typical search, against the baseline."""
    connections = rest.options.concurrency
    ids = await seeded_service_ids(shape.database_url(CATALOG))
    if not ids:
        raise RuntimeError(f"{shape.name}: the catalog database holds no services")

    say(f"{shape.name}: GET /services/{{id}} over {len(ids):,} seeded services")
    by_id = await rest.measure(
        _spread([f"/api/v1/services/{i}" for i in ids], connections, DEMO_SEED)
    )
    figures = rest.summarise("GET /services/{id}", by_id)
    figures.append(
        _versus_baseline(
            "GET /services/{id}",
            shape.name,
            by_id,
            baseline,
            GET_TARGET_RATIO,
            f"random ids of {len(ids):,}",
        )
    )

    searches = typical_searches()
    totals = await _matches(shape, run, searches)
    say(f"{shape.name}: GET /services search (text, category, price, by distance)")
    found = await rest.measure(_spread(searches, connections, DEMO_SEED))
    label = "GET /services search"
    summary = rest.summarise(label, found)
    p99 = found.latencies.p99_ms
    figures += [
        replace(
            figure,
            target=f"< {SEARCH_P99_TARGET_MS:.0f} ms (production)",
            met=p99 < SEARCH_P99_TARGET_MS if shape.name == "production" else None,
        )
        if figure.name == f"{label} p99"
        else figure
        for figure in summary
    ]
    figures.append(
        _versus_baseline(
            label,
            shape.name,
            found,
            baseline,
            SEARCH_TARGET_RATIO,
            f"{len(searches)} searches, {SEARCH_PAGE_SIZE} a page, each matching "
            f"{min(totals):,} to {max(totals):,} services",
        )
    )
    return figures
