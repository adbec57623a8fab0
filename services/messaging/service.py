"""Messaging, as the suite, the gateway and the deploy files know it (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from chassis.service import Imported, ServiceDeclaration
from services.messaging.settings import MessagingSettings

SERVICE = ServiceDeclaration(
    name="messaging",
    grpc_port=50055,
    settings=MessagingSettings,
    bootstrap="services.messaging.bootstrap:build",
    migrations=Path(__file__).parent / "migrations",
    emits=Imported("services.messaging.events:EMITTED"),
    subscriptions=Imported("services.messaging.consumers:SUBSCRIPTIONS"),
    # Identity's keys verify the tokens of the users reading their notifications.
    calls=("identity",),
    stubs={
        "notifications": "estuary.messaging.v1.messaging_pb2_grpc:NotificationServiceStub",
        "conversations": "estuary.messaging.v1.messaging_pb2_grpc:ConversationServiceStub",
    },
    commands="services.messaging.commands:add_commands",
    # The SMTP login's password; the host, port, user and sender are plain settings.
    operator_settings={"ESTUARY_SMTP_PASSWORD": False},
)
