"""`python -m bench` (`make bench`): measures the suite on both shapes and prints the figures.

    python -m bench                                   # everything, both shapes (~12 minutes)
    python -m bench --only http --shape embedded --duration 5
    python -m bench --only bus --shape production
    python -m bench --only live,notifications --shape production  # 2 gateways, 2 messaging
    python -m bench --only catalog --shape production  # seeds once (~3 minutes), then keeps it
    python -m bench --only feed --shape both          # a subscriber's feed of 50 streams
    python -m bench --only subscription_access        # a failed renewal to access removed

The table goes to stdout, progress and warnings to stderr, and every figure with the run's
settings to bench/results/<UTC time>.json (the servers' logs beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.booking import booking_figures
from bench.bus import BusOptions, bus_figures
from bench.catalog import (
    CATALOG,
    CatalogOptions,
    Seed,
    catalog_figures,
    install_sqlite_seed,
    prepare_seeds,
)
from bench.feed import feed_figures
from bench.figures import Figure, render_table, say
from bench.live import LIVE_REPLICAS, idle_socket_figures, live_figures
from bench.notifications import MailSink, notification_figures
from bench.payments import PaymentsOptions, checkout_figures, payments_figures
from bench.process import SeparateProcess
from bench.rest import LoadOptions, RestBench
from bench.shapes import (
    REPOSITORY,
    BenchRun,
    EmbeddedShape,
    ProductionShape,
    Shape,
    delete_rate_limit_keys,
    postgres_databases,
)
from bench.subscription_access import subscription_access_figures
from suite.registry import SERVICES

SHAPES = ("embedded", "production")
PARTS = (
    "start",
    "http",
    "catalog",
    "booking",
    "live",
    "notifications",
    "bus",
    "payments",
    "feed",
    "subscription_access",
)
# The parts that run against a started suite (the bus part brings its own services; the
# payments part's checkout needs the suite, its ledger and earnings figures do not).
SUITE_PARTS = {"start", "http", "catalog", "booking", "live", "notifications", "payments", "feed"}
# The parts measured through the gateway beside the baseline.
REST_PARTS = {"http", "catalog", "booking", "payments", "feed"}
WARM_START_TARGET_SECONDS = 5.0
RESIDENT_TARGET_MB = 400.0
RESULTS = REPOSITORY / "bench" / "results"


@dataclass(frozen=True)
class Options:
    shapes: tuple[str, ...]
    parts: tuple[str, ...]
    load: LoadOptions
    bus: BusOptions
    catalog: CatalogOptions
    payments: PaymentsOptions
    idle_sockets: int
    burst_events: int
    messages_per_second: int


async def suite_figures(
    shape_name: str,
    run: BenchRun,
    load: SeparateProcess,
    options: Options,
    logs: Path,
    seed: Seed | None,
) -> list[Figure]:
    """Start-up, memory and REST figures of one shape of the suite (its catalog seeded)."""
    async with AsyncExitStack() as stack:
        shape: Shape
        if shape_name == "embedded":
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="estuary-")))
            embedded = shape = EmbeddedShape(data_dir, logs)
            if seed is not None:
                install_sqlite_seed(seed, embedded.database_url(CATALOG))
            stack.push_async_callback(embedded.stop)
            if "start" in options.parts:
                say("embedded: first start (migrates a new data folder)")
                await embedded.start()
                await embedded.stop()
            say("embedded: estuary up")
            started_in = await embedded.start()
        else:
            names = [entry.name for entry in SERVICES]
            templates = {run.database(CATALOG): seed.location} if seed is not None else {}
            urls = await stack.enter_async_context(
                postgres_databases(*(run.database(name) for name in names), templates=templates)
            )
            # The live part's messages cross replicas; the other parts run one of each.
            replicas = LIVE_REPLICAS if "live" in options.parts else {}
            # Messaging sends its mail to an SMTP server the bench runs.
            sink = stack.enter_context(MailSink())
            shape = ProductionShape(
                run, dict(zip(names, urls, strict=True)), logs, replicas, {"messaging": sink.env()}
            )
            say(
                f"production: estuary migrate and serve {', '.join(names)}, serve gateway"
                + "".join(f"; {name} x{count}" for name, count in replicas.items())
            )
            stack.push_async_callback(shape.stop)
            started_in = await shape.start()
        figures = _start_figures(shape, started_in) if "start" in options.parts else []
        if "live" in options.parts:
            figures += await live_figures(
                shape, run, load, options.load.duration_seconds, options.messages_per_second
            )
            figures += await idle_socket_figures(shape, run, options.idle_sockets)
        if "notifications" in options.parts:
            figures += await notification_figures(shape, run, options.burst_events)
        if not REST_PARTS & set(options.parts):
            return figures
        rest = RestBench(shape, run, load, options.load, logs)
        if shape_name == "production":
            stack.push_async_callback(_forget_rate_limits, run, rest)
        baseline = await rest.baseline()
        figures += rest.summarise("baseline GET /echo", baseline)
        if "http" in options.parts:
            figures += await rest.identity_figures(baseline)
        if "catalog" in options.parts:
            figures += await catalog_figures(rest, shape, run, baseline)
        if "booking" in options.parts:
            figures += await booking_figures(rest, shape, run)
        if "payments" in options.parts:
            figures += await checkout_figures(rest, shape, run, options.payments)
        if "feed" in options.parts:
            figures += await feed_figures(rest, shape, run)
        if "start" in options.parts:
            figures.append(_resident("resident memory after the load", shape))
        return figures


async def _forget_rate_limits(run: BenchRun, rest: RestBench) -> None:
    user_ids = [rest.account.user_id] if rest.account else []
    await delete_rate_limit_keys(run.client_address, user_ids)


def _start_figures(shape: Shape, started_in: float) -> list[Figure]:
    embedded = shape.name == "embedded"
    return [
        Figure(
            "start until /readyz answers 200",
            shape.name,
            started_in,
            "s",
            target=f"< {WARM_START_TARGET_SECONDS:.0f} s (embedded, migrated)",
            met=started_in < WARM_START_TARGET_SECONDS if embedded else None,
            detail="estuary up, data already migrated"
            if embedded
            else "estuary serve <each service> + gateway, after estuary migrate",
        ),
        _resident("resident memory after start", shape),
    ]


def _resident(name: str, shape: Shape) -> Figure:
    resident = shape.resident_mb()
    embedded = shape.name == "embedded"
    return Figure(
        name,
        shape.name,
        resident,
        "MiB",
        target=f"< {RESIDENT_TARGET_MB:.0f} MiB (embedded)",
        met=resident < RESIDENT_TARGET_MB if embedded else None,
        detail=" + ".join(f"{s.name} {s.resident_mb:.0f}" for s in shape.servers),
    )


async def measure(options: Options, run: BenchRun, logs: Path) -> list[Figure]:
    load = SeparateProcess()
    figures: list[Figure] = []
    seeds: dict[str, Seed] = {}
    try:
        if "catalog" in options.parts:
            seeds = await prepare_seeds(options.shapes, options.catalog, run)
            figures += [seed.figure() for seed in seeds.values()]
        for shape in options.shapes:
            if SUITE_PARTS & set(options.parts):
                figures += await suite_figures(shape, run, load, options, logs, seeds.get(shape))
            if "bus" in options.parts:
                say(f"{shape}: outbox -> bus -> inbox")
                with tempfile.TemporaryDirectory(prefix="estuary-bus-") as workdir:
                    figures += await bus_figures(shape, run, load, options.bus, Path(workdir))
            if "subscription_access" in options.parts:
                say(f"{shape}: stream_subscription.changed -> a reader's access removed")
                with tempfile.TemporaryDirectory(prefix="estuary-subscriptions-") as workdir:
                    figures += await subscription_access_figures(shape, run, load, Path(workdir))
            if "payments" in options.parts:
                with tempfile.TemporaryDirectory(prefix="estuary-payments-") as workdir:
                    figures += await payments_figures(
                        shape, run, load, options.payments, Path(workdir)
                    )
    finally:
        load.close()
    return figures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--shape", choices=[*SHAPES, "both"], default="both")
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of: {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per REST figure")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each one")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (REST)")
    parser.add_argument(
        "--wrk-concurrency",
        type=int,
        default=64,
        help="connections of wrk's pair (baseline and GET /users/me), when wrk is installed",
    )
    parser.add_argument(
        "--login-concurrency",
        type=int,
        default=8,
        help="connections for login: argon2 is slow on purpose, so more only adds queueing",
    )
    parser.add_argument(
        "--idle-sockets", type=int, default=5000, help="idle WebSockets held open (live)"
    )
    parser.add_argument(
        "--messages-per-second",
        type=int,
        default=200,
        help="messages the live part's 100 senders post a second, together",
    )
    parser.add_argument(
        "--burst-events",
        type=int,
        default=10_000,
        help="refund.issued events in the notifications burst, each notifying one client",
    )
    parser.add_argument("--events-per-second", type=int, default=500)
    parser.add_argument("--bus-seconds", type=float, default=10.0)
    parser.add_argument("--drain-events", type=int, default=20_000)
    parser.add_argument(
        "--catalog-practitioners", type=int, default=2000, help="practitioners in the seed"
    )
    parser.add_argument(
        "--catalog-services-each", type=int, default=5, help="services per practitioner"
    )
    parser.add_argument(
        "--payments-bookings",
        type=int,
        default=2500,
        help="bookings made first, each checked out once (payments)",
    )
    parser.add_argument(
        "--payments-writers",
        type=int,
        default=16,
        help="concurrent ledger writers, and pgbench's clients beside them (payments)",
    )
    parser.add_argument(
        "--payments-seconds",
        type=float,
        default=10.0,
        help="seconds of ledger writes and of pgbench",
    )
    parser.add_argument(
        "--payments-events",
        type=int,
        default=10_000,
        help="booking.completed events whose earnings are recorded (payments)",
    )
    parser.add_argument(
        "--payments-postings",
        type=int,
        default=1_000_000,
        help="postings in the ledger `estuary ledger check` is timed on (PostgreSQL)",
    )
    parser.add_argument(
        "--payments-sqlite-postings",
        type=int,
        default=200_000,
        help="the same on SQLite (embedded; 0 to skip)",
    )
    parser.add_argument(
        "--reseed",
        action="store_true",
        help="make the catalog seeds again, even if the kept ones still fit the code",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown:
        _parser().error(f"unknown part(s) {', '.join(sorted(unknown))}; use {', '.join(PARTS)}")
    options = Options(
        shapes=SHAPES if args.shape == "both" else (args.shape,),
        parts=parts,
        load=LoadOptions(
            concurrency=args.concurrency,
            login_concurrency=args.login_concurrency,
            warmup_seconds=args.warmup,
            duration_seconds=args.duration,
            wrk_concurrency=args.wrk_concurrency,
        ),
        bus=BusOptions(args.events_per_second, args.bus_seconds, args.drain_events),
        catalog=CatalogOptions(args.catalog_practitioners, args.catalog_services_each, args.reseed),
        payments=PaymentsOptions(
            bookings=args.payments_bookings,
            writers=args.payments_writers,
            ledger_seconds=args.payments_seconds,
            events=args.payments_events,
            postings=args.payments_postings,
            sqlite_postings=args.payments_sqlite_postings,
        ),
        idle_sockets=args.idle_sockets,
        burst_events=args.burst_events,
        messages_per_second=args.messages_per_second,
    )
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS / f"{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    run = BenchRun()
    figures = asyncio.run(measure(options, run, logs))
    print(render_table(figures, options.shapes))
    report = {
        "started_at": started.isoformat(),
        # Names every database, exchange, queue and address this run made (and removed).
        "run": run.token,
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "machine": {
            "cpus": os.cpu_count(),
            # Other tenants of a shared machine move every figure: these say how busy it was.
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "options": {"shapes": options.shapes, "parts": options.parts} | vars(args),
        "figures": [figure.as_dict() for figure in figures],
    }
    output = RESULTS / f"{stamp}.json"
    output.write_text(json.dumps(report, indent=2, default=str))
    say(f"\nfigures: {output}\nserver logs: {logs}")
    missed = [f for f in figures if f.met is False]
    for figure in missed:
        say(f"missed: {figure.name} on {figure.shape}: {figure.value:.2f} {figure.unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
