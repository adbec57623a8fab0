"""Catalog, as the suite, the gateway and the deploy files know it (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from chassis.service import Imported, ServiceDeclaration
from services.catalog.settings import CatalogSettings

SERVICE = ServiceDeclaration(
    name="catalog",
    grpc_port=50052,
    settings=CatalogSettings,
    bootstrap="services.catalog.bootstrap:build",
    migrations=Path(__file__).parent / "migrations",
    emits=Imported("services.catalog.events:EMITTED"),
    subscriptions=Imported("services.catalog.consumers:SUBSCRIPTIONS"),
    # It verifies access tokens with identity's public keys.
    calls=("identity",),
    stubs={"catalog": "estuary.catalog.v1.catalog_pb2_grpc:CatalogServiceStub"},
)
