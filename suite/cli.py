"""The `estuary` command: run the suite, run one service, migrate, manage admins and keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker
from chassis.errors import DomainError, InvalidArgument
from chassis.logging import configure_logging
from chassis.metrics import serve_metrics
from chassis.migrations import upgrade
from chassis.runtime import make_transport
from chassis.telemetry import configure_telemetry
from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.identity import bootstrap as identity_bootstrap
from services.identity.settings import IdentitySettings
from suite.demo import NO_RATINGS_YET, seed_demo
from suite.embedded import EmbeddedSuite, serve_http
from suite.registry import BY_NAME, SERVICES

log = logging.getLogger("estuary")


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
    suite = EmbeddedSuite(
        data_dir=data_dir,
        gateway_port=args.port,
        grpc_ports={entry.name: args.grpc_port_base + n for n, entry in enumerate(SERVICES)},
    )
    await suite.start()
    elapsed = time.perf_counter() - started
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

Make an admin:   .venv/bin/estuary admin create --email you@example.com
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
        server, task, port = await serve_http(
            app, gateway_settings.http_host, gateway_settings.http_port
        )
        log.info("gateway serving http on %s:%s", gateway_settings.http_host, port)
        await _until_signalled()
        server.should_exit = True
        await task
        return
    entry = BY_NAME[args.service]
    settings = entry.settings()
    configure_logging(entry.name, settings.log_level, settings.log_format)
    configure_telemetry(entry.name, settings.otel_exporter_otlp_endpoint)
    if settings.bus_url.startswith("memory://"):
        log.warning("ESTUARY_BUS_URL is memory://: this process's events reach no other process")
    # Alone, the embedded bus reaches only this process's consumers; it keeps nothing on disk.
    transport = make_transport(settings, EmbeddedBroker(IN_MEMORY, settings.bus_delivery_limit))
    if args.migrate:
        await asyncio.to_thread(upgrade, entry.migrations, settings.database_url)
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
    if args.service == "all" and "ESTUARY_DATABASE_URL" in os.environ:
        raise InvalidArgument.field(
            "service",
            "each service has its own database: with ESTUARY_DATABASE_URL set, migrate one "
            "service at a time",
        )
    names = [s.name for s in SERVICES] if args.service == "all" else [args.service]
    for name in names:
        entry = BY_NAME[name]
        settings = entry.settings()
        await asyncio.to_thread(upgrade, entry.migrations, settings.database_url)
        log.info("migrated %s", name)


def _identity_offline() -> Any:
    """Identity's handlers on its database, without a server (for operator commands)."""
    settings = IdentitySettings()
    # It publishes nothing: its events wait in the outbox for the running service's relay.
    broker = EmbeddedBroker(IN_MEMORY)
    return identity_bootstrap.build(settings, transport=make_transport(settings, broker))


async def _admin_create(args: argparse.Namespace) -> None:
    password = args.password or os.environ.get("ESTUARY_ADMIN_PASSWORD")
    generated = False
    if not password:
        if sys.stdin.isatty():
            password = getpass.getpass("Password for the new admin (empty to generate): ")
        if not password:
            password = secrets.token_urlsafe(18)
            generated = True
    service = _identity_offline()
    settings = service.runtime.settings
    await asyncio.to_thread(upgrade, identity_bootstrap.MIGRATIONS, settings.database_url)
    try:
        user = await service.accounts.create_admin(args.email, password, args.full_name)
    finally:
        await service.runtime.database.dispose()
    print(f"admin created: {user.email} (id {user.id})")
    if generated:
        print(f"generated password (shown once): {password}")


async def _keys(args: argparse.Namespace) -> None:
    service = _identity_offline()
    try:
        if args.action == "rotate":
            kid = await service.keyring.rotate(immediately=args.now)
            when = (
                "now" if args.now else "after the publish lead (ESTUARY_KEY_PUBLISH_LEAD_SECONDS)"
            )
            print(f"new signing key {kid}: in the JWKS now, signing {when}")
        elif args.action == "retire":
            await service.keyring.retire(args.kid)
            print(f"retired {args.kid}")
        else:
            async with service.runtime.unit_of_work(identity_bootstrap.IdentityUnitOfWork)(
                write=False
            ) as uow:
                for key in await uow.signing_keys.all():
                    print(f"{key.kid}  {key.status.value:<9}  {key.created_at:%Y-%m-%d %H:%M}")
    finally:
        await service.runtime.database.dispose()


async def _seed(args: argparse.Namespace) -> None:
    suite = EmbeddedSuite(data_dir=args.data_dir.resolve())
    await suite.migrate()
    # Nothing is relayed here: the events wait in the outboxes for the next `estuary up`.
    broker = EmbeddedBroker(IN_MEMORY)
    built = {
        entry.name: entry.build(
            suite.settings_for(entry), transport=make_transport(suite.settings_for(entry), broker)
        )
        for entry in SERVICES
    }
    try:
        report = await seed_demo(
            built["identity"].accounts,
            built["catalog"].catalog,
            practitioners=args.practitioners,
            services_each=args.services_each,
        )
    finally:
        for service in built.values():
            await service.runtime.database.dispose()
    print(
        f"seeded {report.categories} categories, {report.practitioners} practitioners, "
        f"{report.services} services into {args.data_dir}"
    )
    print(f"{report.featured} of them featured; prices in each city's currency")
    print(NO_RATINGS_YET)
    print("sign in with (embedded demo only):")
    for email, password in report.accounts:
        print(f"  {email:<32} {password}")
    print("events (practitioner.approved, service.published, ...) go out when the suite runs.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="estuary", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole suite embedded (SQLite, in-process bus)")
    up.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("ESTUARY_DATA_DIR", "var/data"))
    )
    up.add_argument("--port", type=int, default=8000, help="the gateway's HTTP port")
    up.add_argument(
        "--grpc-port-base",
        type=int,
        default=50051,
        help="the first service's gRPC port; the others follow (identity 50051, catalog 50052)",
    )
    up.set_defaults(run=_up)

    serve = commands.add_parser(
        "serve", help="run one service or the gateway, configured by ESTUARY_* variables"
    )
    serve.add_argument("service", choices=[*BY_NAME, "gateway"])
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="bring a service's database to the newest schema")
    migrate.add_argument("service", choices=[*BY_NAME, "all"])
    migrate.set_defaults(run=_migrate)

    admin = commands.add_parser("admin", help="operator commands")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser("create", help="create an admin user")
    create.add_argument("--email", required=True)
    create.add_argument("--full-name", default="Estuary Admin")
    create.add_argument(
        "--password", help="else ESTUARY_ADMIN_PASSWORD, a prompt, or a generated one"
    )
    create.set_defaults(run=_admin_create)

    seed = commands.add_parser("seed", help="fill the embedded suite with demo data")
    seed.add_argument(
        "--demo",
        action="store_true",
        required=True,
        help="believable practitioners, categories and services",
    )
    seed.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("ESTUARY_DATA_DIR", "var/data"))
    )
    seed.add_argument("--practitioners", type=int, default=40)
    seed.add_argument("--services-each", type=int, default=4)
    seed.set_defaults(run=_seed)

    keys = commands.add_parser("keys", help="list, rotate or retire token signing keys")
    keys.add_argument("action", choices=["list", "rotate", "retire"])
    keys.add_argument("--kid", help="the key to retire")
    keys.add_argument(
        "--now", action="store_true", help="rotate: sign with the new key at once (a leaked key)"
    )
    keys.set_defaults(run=_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `estuary` command."""
    args = _parser().parse_args(argv)
    service_name = getattr(args, "service", None) or "estuary"
    default_format = "console" if args.command in ("up", "admin", "keys", "seed") else "json"
    configure_logging(
        service_name,
        os.environ.get("ESTUARY_LOG_LEVEL", "INFO"),
        os.environ.get("ESTUARY_LOG_FORMAT", default_format),
    )
    if args.command == "keys" and args.action == "retire" and not args.kid:
        print("estuary keys retire needs --kid", file=sys.stderr)
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(args.run(args))
    except DomainError as error:
        print(f"estuary: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
