"""Identity, as the suite, the gateway and the deploy files know it (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from chassis.service import Imported, ServiceDeclaration
from services.identity.settings import IdentitySettings

SERVICE = ServiceDeclaration(
    name="identity",
    grpc_port=50051,
    settings=IdentitySettings,
    bootstrap="services.identity.bootstrap:build",
    migrations=Path(__file__).parent / "migrations",
    emits=Imported("services.identity.events:EMITTED"),
    subscriptions=Imported("services.identity.consumers:SUBSCRIPTIONS"),
    stubs={
        "identity": "estuary.identity.v1.identity_pb2_grpc:IdentityServiceStub",
        "auth": "estuary.identity.v1.identity_pb2_grpc:AuthServiceStub",
    },
    commands="services.identity.commands:add_commands",
    issues_service_tokens=True,
    operator_settings={
        "ESTUARY_SERVICE_CREDENTIALS": True,
        "ESTUARY_BOOTSTRAP_ADMIN_EMAIL": False,
        "ESTUARY_BOOTSTRAP_ADMIN_PASSWORD": False,
    },
)
