"""OpenTelemetry: no-op unless an OTLP endpoint is configured, then traces for gRPC, HTTP,
SQL and the bus."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)

_configured = False


def configure_telemetry(service_name: str, endpoint: str | None) -> bool:
    """Installs a tracer provider and the instrumentations; returns whether tracing is on."""
    global _configured
    if not endpoint:
        return False
    if _configured:
        return True
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    GrpcAioInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
    AioPikaInstrumentor().instrument()
    _configured = True
    log.info("tracing to %s", endpoint)
    return True


def instrument_engine(engine: Any) -> None:
    """Traces a SQLAlchemy engine's statements, when tracing is on."""
    if not _configured:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)


def instrument_fastapi(app: Any) -> None:
    """Traces a FastAPI app's requests, when tracing is on."""
    if not _configured:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app)
