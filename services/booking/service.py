"""Booking, as the suite, the gateway and the deploy files know it (cheap to import)."""

from __future__ import annotations

from pathlib import Path

from chassis.service import Imported, ServiceDeclaration
from services.booking.settings import BookingSettings

SERVICE = ServiceDeclaration(
    name="booking",
    grpc_port=50053,
    settings=BookingSettings,
    bootstrap="services.booking.bootstrap:build",
    migrations=Path(__file__).parent / "migrations",
    emits=Imported("services.booking.events:EMITTED"),
    subscriptions=Imported("services.booking.consumers:SUBSCRIPTIONS"),
    # Identity's keys verify tokens and issue booking's service token; catalog quotes prices
    # and answers for services and practitioners booking has not heard of yet.
    calls=("identity", "catalog"),
    stubs={"booking": "estuary.booking.v1.booking_pb2_grpc:BookingServiceStub"},
    # Booking calls catalog's service-only methods with a token identity issues for this
    # secret (identity's ESTUARY_SERVICE_CREDENTIALS must hold it under "booking").
    operator_settings={"ESTUARY_SERVICE_CLIENT_SECRET": True},
)
