"""The `estuary` command: run the suite or one service, migrate, write the deploy files and the
published API documents, and the operator commands the services declare (identity's `admin`
and `keys`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker
from chassis.clock import FrozenClock
from chassis.errors import DomainError, InvalidArgument
from chassis.logging import configure_logging
from chassis.media import MediaSettings
from chassis.metrics import serve_metrics
from chassis.migrations import SchemaOutOfDate, require_current_schema, upgrade
from chassis.runtime import make_transport
from chassis.service import CommandLine, Offline, ServiceDeclaration
from chassis.settings import ServiceSettings
from chassis.telemetry import configure_telemetry
from gateway.app import create_app
from gateway.settings import GatewaySettings
from suite import contracts, manifests
from suite.demo import REVIEWS_FROM_MADE_UP_BOOKINGS, seed_demo
from suite.demo_bookings import PAST, LocalCatalog, seed_bookings
from suite.demo_messages import seed_conversations
from suite.demo_payments import WELCOME_CODE, WebhooksToHandler, seed_payments
from suite.demo_streams import seed_streams
from suite.embedded import EmbeddedSuite, PortInUse, env_sets, require_free_port, serve_http
from suite.registry import BY_NAME, SERVICES

log = logging.getLogger("estuary")

DEFAULT_DATA_DIR = "var/data"


class Refused(Exception):
    """A command that cannot go on, with one line saying why and what to do."""


def database_in(data_dir: Path, name: str) -> str:
    """A service's SQLite file in the data folder."""
    return f"sqlite+aiosqlite:///{(data_dir / f'{name}.db').resolve()}"


def service_settings(declaration: ServiceDeclaration, data_dir: Path) -> ServiceSettings:
    """A service's settings from the environment; unless the environment says otherwise,
    its database is its file in the data folder and its port the declared one."""
    defaults: dict[str, Any] = {"service_name": declaration.name}
    if not env_sets("database_url"):
        defaults["database_url"] = database_in(data_dir, declaration.name)
    if not env_sets("grpc_port"):
        defaults["grpc_port"] = declaration.grpc_port
    return declaration.settings(**defaults)


def _offline(declaration: ServiceDeclaration) -> Offline:
    async def build(args: argparse.Namespace, *, migrate: bool = False) -> Any:
        settings = service_settings(declaration, args.data_dir)
        media = getattr(settings, "media", None)
        if isinstance(media, MediaSettings) and media.backend == "folder":
            # An operator command hands out no upload form or URL: what it signs is never used.
            media.signing_secret = media.signing_secret or secrets.token_urlsafe(32)
        if migrate:
            await asyncio.to_thread(upgrade, declaration.migrations, settings.database_url)
        # It publishes nothing: its events wait in the outbox for the running service's relay.
        broker = EmbeddedBroker(IN_MEMORY)
        return declaration.build(settings, transport=make_transport(settings, broker))

    return build


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _up(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    configure_telemetry("estuary", GatewaySettings().otel_exporter_otlp_endpoint)
    data_dir = args.data_dir.resolve()
    grpc_ports = {}
    if args.grpc_port_base is not None:
        grpc_ports = {s.name: args.grpc_port_base + n for n, s in enumerate(SERVICES)}
    suite = EmbeddedSuite(data_dir=data_dir, gateway_port=args.port, grpc_ports=grpc_ports)
    try:
        await suite.start()
    except PortInUse as error:
        if error.purpose.startswith("the gateway"):
            how = f"choose another with `make run PORT={error.port + 100}` or `estuary up --port`"
        else:
            how = (
                "choose other gRPC ports with `make run GRPC_PORT_BASE=51051` or "
                "`estuary up --grpc-port-base 51051`"
            )
        raise Refused(f"{error}; {how}") from None
    elapsed = time.perf_counter() - started
    data_option = "" if args.data_dir == Path(DEFAULT_DATA_DIR) else f" --data-dir {data_dir}"
    grpc_lines = "\n".join(
        f"    {name:<10} 127.0.0.1:{port}  ({suite.database_url(name)})"
        for name, port in suite.ports.items()
    )
    print(
        f"""
Estuary is up (embedded: SQLite, in-process bus) in {elapsed:.1f} s.

  Gateway     {suite.gateway_url}
  API docs    {suite.gateway_url}/docs   (OpenAPI: {suite.gateway_url}/openapi.json)
  Health      {suite.gateway_url}/readyz
  Metrics     {suite.gateway_url}/metrics   (Prometheus text, the whole process)
  gRPC services (reflection on):
{grpc_lines}
  Data        {data_dir}

Make an admin:   .venv/bin/estuary admin create --email you@example.com{data_option}
Read the mail:   .venv/bin/estuary mail list{data_option}   (verification, password reset)
Stop with Ctrl-C.
""",
        flush=True,
    )
    await _until_signalled()
    print("stopping…", flush=True)
    await suite.stop()


async def _serve(args: argparse.Namespace) -> None:
    if args.service == "gateway":
        gateway_settings = GatewaySettings()
        configure_logging("gateway", gateway_settings.log_level, gateway_settings.log_format)
        configure_telemetry("gateway", gateway_settings.otel_exporter_otlp_endpoint)
        app = create_app(gateway_settings)
        try:
            server, task, port = await serve_http(
                app, gateway_settings.http_host, gateway_settings.http_port
            )
        except PortInUse as error:
            raise Refused(f"{error}; choose another with ESTUARY_HTTP_PORT") from None
        log.info("gateway serving http on %s:%s", gateway_settings.http_host, port)
        await _until_signalled()
        server.should_exit = True
        await task
        return
    entry = BY_NAME[args.service]
    settings = service_settings(entry, args.data_dir)
    configure_logging(entry.name, settings.log_level, settings.log_format)
    configure_telemetry(entry.name, settings.otel_exporter_otlp_endpoint)
    if settings.bus_url.startswith("memory://"):
        log.warning("ESTUARY_BUS_URL is memory://: this process's events reach no other process")
    # Alone, the embedded bus reaches only this process's consumers; it keeps nothing on disk.
    transport = make_transport(settings, EmbeddedBroker(IN_MEMORY, settings.bus_delivery_limit))
    try:
        require_free_port(settings.grpc_host, settings.grpc_port, f"{entry.name}'s gRPC port")
    except PortInUse as error:
        raise Refused(f"{error}; choose another with ESTUARY_GRPC_PORT") from None
    if args.migrate:
        await asyncio.to_thread(upgrade, entry.migrations, settings.database_url)
    # Never on a schema older than the code: the migration runs first (an init container,
    # the compose file's <service>-migrate, or --migrate).
    await asyncio.to_thread(
        require_current_schema, entry.migrations, settings.database_url, entry.name
    )
    service = entry.build(settings, transport=transport)
    await service.start()
    metrics_server = serve_metrics(settings.grpc_host, settings.metrics_port)
    if metrics_server is not None:
        log.info(
            "%s metrics on http://%s:%s/metrics",
            entry.name,
            settings.grpc_host,
            metrics_server.port,
        )
    await _until_signalled()
    log.info("%s stopping", entry.name)
    await service.stop()
    if metrics_server is not None:
        metrics_server.stop()


async def _migrate(args: argparse.Namespace) -> None:
    if args.service == "all" and env_sets("database_url"):
        raise InvalidArgument.field(
            "service",
            "each service has its own database: with ESTUARY_DATABASE_URL set, migrate one "
            "service at a time",
        )
    chosen = SERVICES if args.service == "all" else (BY_NAME[args.service],)
    for declaration in chosen:
        settings = service_settings(declaration, args.data_dir)
        await asyncio.to_thread(upgrade, declaration.migrations, settings.database_url)
        log.info("migrated %s", declaration.name)


async def _manifests(args: argparse.Namespace) -> None:
    stale = manifests.write(args.root, SERVICES, check=args.check)
    if args.check and stale:
        raise Refused(
            f"{', '.join(stale)} differ from what the declarations generate: run `estuary "
            "manifests`"
        )
    for path in stale:
        print(f"wrote {path}")


async def _schemas(args: argparse.Namespace) -> None:
    stale = contracts.write(args.root, check=args.check)
    if args.check and stale:
        raise Refused(
            f"{', '.join(map(str, stale))} differ from what the code generates: run `estuary "
            "schemas`"
        )
    for path in stale:
        print(f"wrote {path}")


async def _seed(args: argparse.Namespace) -> None:
    suite = EmbeddedSuite(data_dir=args.data_dir.resolve())
    await suite.migrate()
    # Nothing is relayed here: the events wait in the outboxes for the next `estuary up`.
    broker = EmbeddedBroker(IN_MEMORY)

    def build(name: str, **wiring: Any) -> Any:
        entry = BY_NAME[name]
        settings = suite.settings_for(entry)
        return entry.build(settings, transport=make_transport(settings, broker), **wiring)

    built = {name: build(name) for name in ("identity", "catalog")}
    # Booking asks catalog's handlers here (nothing runs while seeding); a second booking,
    # on a clock two weeks back, makes the demo client's past bookings.
    local = LocalCatalog(built["catalog"].catalog)
    built["booking"] = build("booking", catalog=local)
    built["booking-then"] = build(
        "booking", catalog=local, clock=FrozenClock(datetime.now(UTC) - PAST)
    )
    built["messaging"] = build("messaging")
    built["streams"] = build("streams")
    # No gateway runs while seeding: the sandbox's webhooks go to payments' handler itself.
    webhooks = WebhooksToHandler()
    built["payments"] = build("payments", deliver=webhooks)
    webhooks.treasury = built["payments"].treasury
    try:
        report = await seed_demo(
            built["identity"].accounts,
            built["catalog"].catalog,
            practitioners=args.practitioners,
            services_each=args.services_each,
        )
        booked = await seed_bookings(
            built["booking"],
            built["booking-then"],
            built["catalog"].catalog,
            practitioner_user_ids=report.practitioner_user_ids,
            client_id=report.client_id,
        )
        conversations = await seed_conversations(
            built["messaging"],
            built["catalog"].catalog,
            practitioner_user_ids=report.practitioner_user_ids,
            client_id=report.client_id,
        )
        money = await seed_payments(
            built["payments"],
            built["booking"],
            client_id=report.client_id,
            paid_out_user_id=booked.paid_out_user_id,
        )
        followed = await seed_streams(
            built["streams"],
            practitioner_user_ids=report.practitioner_user_ids,
            client_id=report.client_id,
        )
    finally:
        for service in built.values():
            await service.runtime.database.dispose()
        await built["payments"].provider.aclose()
        await built["streams"].rooms.video.close()
    print(
        f"seeded {report.categories} categories, {report.practitioners} practitioners, "
        f"{report.services} services into {args.data_dir}"
    )
    print(f"{report.featured} of them featured; prices in each city's currency")
    print(f"{report.reviews} reviews, which make the ratings discovery sorts and filters by;")
    print(REVIEWS_FROM_MADE_UP_BOOKINGS)
    print(
        f"{booked.hours} practitioners keep weekly hours, so their sessions have slots to book "
        f"at once; the demo client has {booked.past} past (completed) and {booked.upcoming} "
        "upcoming bookings"
    )
    print(
        f"the demo client has {conversations} conversations with practitioners they booked, "
        "each with an answer to read"
    )
    if money.credit is not None:
        print(f"the demo client holds {money.credit} of credit from the promo code {WELCOME_CODE}")
    if money.payout is not None:
        print(
            f"the demo client's {money.earnings} completed sessions earned their practitioners "
            f"money; practitioner1@estuary.demo was paid out {money.payout}"
        )
    print(
        f"the demo client follows {followed} practitioners' streams: posts to read, a poll, one "
        "post locked for a paid tier, and a draft each that publishes itself tomorrow"
    )
    print("sign in with (embedded demo only):")
    for email, password in report.accounts:
        print(f"  {email:<32} {password}")
    print("events (practitioner.approved, service.published, ...) go out when the suite runs.")


def _data_folder() -> argparse.ArgumentParser:
    """The one data-folder option, shared by every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ESTUARY_DATA_DIR", DEFAULT_DATA_DIR)),
        help="the embedded suite's folder: one SQLite file per service and bus.db; every "
        "command uses it unless ESTUARY_DATABASE_URL names a database (default: "
        f"ESTUARY_DATA_DIR, else {DEFAULT_DATA_DIR})",
    )
    return common


def _parser(declarations: Sequence[ServiceDeclaration] = SERVICES) -> argparse.ArgumentParser:
    names = [declaration.name for declaration in declarations]
    common = [_data_folder()]
    parser = argparse.ArgumentParser(prog="estuary", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="run the whole suite embedded (SQLite, in-process bus)", parents=common
    )
    up.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("ESTUARY_HTTP_PORT", "8000")),
        help="the gateway's HTTP port (default: ESTUARY_HTTP_PORT, else 8000)",
    )
    up.add_argument(
        "--grpc-port-base",
        type=int,
        help="gRPC ports from this one up, one per service in start order (default: each "
        "service's declared port: "
        + ", ".join(f"{d.name} {d.grpc_port}" for d in declarations)
        + ")",
    )
    up.set_defaults(run=_up)

    serve = commands.add_parser(
        "serve",
        help="run one service or the gateway, configured by ESTUARY_* variables",
        parents=common,
    )
    serve.add_argument("service", choices=[*names, "gateway"])
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser(
        "migrate", help="bring a service's database to the newest schema", parents=common
    )
    migrate.add_argument("service", choices=[*names, "all"])
    migrate.set_defaults(run=_migrate)

    seed = commands.add_parser(
        "seed", help="fill the embedded suite with demo data", parents=common
    )
    seed.add_argument(
        "--demo",
        action="store_true",
        required=True,
        help="believable practitioners, categories and services",
    )
    seed.add_argument("--practitioners", type=int, default=40)
    seed.add_argument("--services-each", type=int, default=4)
    seed.set_defaults(run=_seed)

    generate = commands.add_parser(
        "manifests",
        help="write docker-compose.yml, the Postgres init script and deploy/k8s/services/ "
        "from the services' declarations",
    )
    generate.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    generate.add_argument(
        "--check", action="store_true", help="write nothing; fail if any file is out of date"
    )
    generate.set_defaults(run=_manifests)

    schemas = commands.add_parser(
        "schemas",
        help="write docs/openapi.json (the REST API) and docs/asyncapi.json (the events) "
        "from the code",
    )
    schemas.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    schemas.add_argument(
        "--check", action="store_true", help="write nothing; fail if either is out of date"
    )
    schemas.set_defaults(run=_schemas)

    for declaration in declarations:
        declaration.add_commands(CommandLine(commands, common, _offline(declaration)))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `estuary` command."""
    args = _parser().parse_args(argv)
    service_name = getattr(args, "service", None) or "estuary"
    # A process run by an orchestrator logs JSON; a person at a terminal reads text.
    default_format = "json" if args.command in ("serve", "migrate") else "console"
    configure_logging(
        service_name,
        os.environ.get("ESTUARY_LOG_LEVEL", "INFO"),
        os.environ.get("ESTUARY_LOG_FORMAT", default_format),
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(args.run(args))
    except DomainError as error:
        print(f"estuary: {error.message}", file=sys.stderr)
        return 1
    except Refused as error:
        print(f"estuary: {error}", file=sys.stderr)
        return 1
    except SchemaOutOfDate as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
