"""Catalog's composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from chassis.auth.remote import identity_jwks
from chassis.auth.tokens import KeySet, TokenVerifier
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.grpc_client import open_channel
from chassis.grpc_server import ServicerBinding
from chassis.runtime import ServiceRuntime
from estuary.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.catalog.consumers import SUBSCRIPTIONS as CATALOG_SUBSCRIPTIONS
from services.catalog.events import EMITTED
from services.catalog.grpc_api import CatalogServicer
from services.catalog.service_layer import Catalog
from services.catalog.settings import CatalogSettings
from services.catalog.uow import CatalogUnitOfWork

NAME = "catalog"
MIGRATIONS = Path(__file__).parent / "migrations"
EVENTS_EMITTED = EMITTED
SUBSCRIPTIONS = CATALOG_SUBSCRIPTIONS


@dataclass
class CatalogService:
    """A built catalog service: its runtime and its handlers."""

    runtime: ServiceRuntime
    catalog: Catalog
    verifier: TokenVerifier
    identity_channel: object
    port: int = 0

    async def start(self) -> int:
        await _require_sql_math(self.runtime)
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    CatalogServicer(self.catalog),
                    catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
                    catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
                )
            ],
            verifier=self.verifier,
            subscriptions=SUBSCRIPTIONS,
            unit_of_work=self.runtime.unit_of_work(CatalogUnitOfWork),
        )
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.identity_channel.close()  # type: ignore[attr-defined]


async def _require_sql_math(runtime: ServiceRuntime) -> None:
    # Distance search computes haversine in SQL; SQLite has sin/asin only when built with
    # its math functions, so say so at start rather than on the first search.
    async with runtime.database.engine.connect() as connection:
        try:
            await connection.execute(sa.text("SELECT asin(sin(0.5))"))
        except sa.exc.OperationalError as error:
            raise RuntimeError(
                "this SQLite lacks math functions (SQLITE_ENABLE_MATH_FUNCTIONS); "
                "catalog's distance search needs them"
            ) from error


def build(
    settings: CatalogSettings, *, transport: Transport, clock: Clock | None = None
) -> CatalogService:
    """Wires catalog's handlers and servicer onto a runtime (nothing starts yet)."""
    runtime = ServiceRuntime(settings, transport=transport, clock=clock, emits=EMITTED)
    identity_channel = open_channel(settings.identity_address)
    verifier = TokenVerifier(
        KeySet(identity_jwks(identity_channel)),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=runtime.clock,
    )
    catalog = Catalog(
        unit_of_work=runtime.unit_of_work(CatalogUnitOfWork),
        settings=settings,
        clock=runtime.clock,
    )
    return CatalogService(runtime, catalog, verifier, identity_channel)
