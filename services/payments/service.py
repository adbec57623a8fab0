"""Payments, as the suite, the gateway and the deploy files know it (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from chassis.service import Imported, ServiceDeclaration
from services.payments.settings import PaymentsSettings

SERVICE = ServiceDeclaration(
    name="payments",
    grpc_port=50054,
    settings=PaymentsSettings,
    bootstrap="services.payments.bootstrap:build",
    migrations=Path(__file__).parent / "migrations",
    emits=Imported("services.payments.events:EMITTED"),
    subscriptions=Imported("services.payments.consumers:SUBSCRIPTIONS"),
    # Identity's keys verify the tokens of those who read their earnings and ledger, and
    # issue payments' service token, with which it asks streams what a tip or an unlock is
    # sold for and to whom the money goes.
    calls=("identity", "streams"),
    stubs={"payments": "estuary.payments.v1.payments_pb2_grpc:PaymentsServiceStub"},
    commands="services.payments.commands:add_commands",
    # Stripe's key and webhook secrets, from the operator's secret store, never a manifest;
    # with neither, payments runs on its sandbox.
    operator_settings={
        "ESTUARY_STRIPE_SECRET_KEY": False,
        "ESTUARY_STRIPE_WEBHOOK_SECRETS": False,
        # Identity's ESTUARY_SERVICE_CREDENTIALS must hold it under "payments".
        "ESTUARY_SERVICE_CLIENT_SECRET": True,
    },
)
