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
    # Identity's keys verify the tokens of the users reading their notifications and issue
    # messaging's service token, with which it asks streams who follows a stream.
    calls=("identity", "streams"),
    stubs={
        "notifications": "estuary.messaging.v1.messaging_pb2_grpc:NotificationServiceStub",
        "conversations": "estuary.messaging.v1.messaging_pb2_grpc:ConversationServiceStub",
        "partner_webhooks": "estuary.messaging.v1.messaging_pb2_grpc:PartnerWebhookServiceStub",
    },
    commands="services.messaging.commands:add_commands",
    # Where mail goes, and the login: unset, mail is written to files in the container
    # (fine for a trial, lost with the pod). Port, STARTTLS and sender keep their defaults
    # unless set beside them (ESTUARY_SMTP_PORT, ESTUARY_SMTP_STARTTLS, ESTUARY_MAIL_FROM).
    # A newcomer tries partner webhooks against a receiver on their own machine.
    embedded_settings={"partner_webhooks_allow_loopback": True},
    operator_settings={
        # Identity's ESTUARY_SERVICE_CREDENTIALS must hold it under "messaging".
        "ESTUARY_SERVICE_CLIENT_SECRET": True,
        "ESTUARY_SMTP_HOST": False,
        "ESTUARY_SMTP_USERNAME": False,
        "ESTUARY_SMTP_PASSWORD": False,
    },
)
