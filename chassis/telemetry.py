"""OpenTelemetry for a process: metrics always, traces when an OTLP endpoint is configured.

Metrics are readable as Prometheus text (chassis.metrics) and exported over OTLP/gRPC when an
endpoint is known. Traces cover gRPC server and client calls, SQL statements, the gateway's
HTTP requests (FastAPI's own telemetry, on once a tracer provider is set), the relay's
publishes and the consumers' handling, which continue the trace an event carries.

The standard variables apply: OTEL_SDK_DISABLED turns everything off; OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES name the resource; OTEL_EXPORTER_OTLP_ENDPOINT (or the per-signal
..._TRACES_/..._METRICS_ENDPOINT) turns export on like ESTUARY_OTEL_EXPORTER_OTLP_ENDPOINT,
which wins when both are set; OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER=none turn one
signal's export off; OTEL_TRACES_SAMPLER(_ARG), OTEL_BSP_*, OTEL_METRIC_EXPORT_INTERVAL,
OTEL_EXPORTER_OTLP_HEADERS/_TIMEOUT/_CERTIFICATE/_COMPRESSION and OTEL_PROPAGATORS are read
by the SDK itself.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace

from chassis import metrics

log = logging.getLogger(__name__)

_configured = False


def _otlp_wanted(signal: str, endpoint: str | None) -> bool:
    """Whether a signal ("TRACES" or "METRICS") is to be exported over OTLP."""
    exporters = {e.strip() for e in os.environ.get(f"OTEL_{signal}_EXPORTER", "otlp").split(",")}
    if "otlp" not in exporters:
        return False
    return bool(
        endpoint
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def sdk_disabled() -> bool:
    """OTEL_SDK_DISABLED=true: no telemetry at all."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def resource_for(service_name: str) -> Any:
    """The process's resource: service.name is OTEL_SERVICE_NAME's (or the one given in
    OTEL_RESOURCE_ATTRIBUTES) if set, else `service_name`."""
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    named_by_environment = SERVICE_NAME in OTELResourceDetector().detect().attributes
    attributes = {"service.namespace": "estuary"}
    if not named_by_environment:
        attributes[SERVICE_NAME] = service_name
    return Resource.create(attributes)


def configure_telemetry(service_name: str, endpoint: str | None) -> bool:
    """Installs the meter provider and, with an OTLP endpoint, the tracer provider and the
    instrumentations; returns whether tracing is on. Only the first call counts."""
    global _configured
    if sdk_disabled():
        return False
    if _configured:
        return trace_on()
    _configured = True
    resource = resource_for(service_name)
    metrics.configure_metrics(
        resource, otlp=_otlp_wanted("METRICS", endpoint), otlp_endpoint=endpoint
    )
    if not _otlp_wanted("TRACES", endpoint):
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    GrpcAioInstrumentorServer().instrument()
    GrpcAioInstrumentorClient().instrument()
    AioPikaInstrumentor().instrument()
    log.info("tracing to %s", endpoint or "the OTEL_EXPORTER_OTLP_* endpoint")
    return True


def trace_on() -> bool:
    """Whether this process records spans."""
    return _configured and not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )


class _WithinTracedWork(trace.Tracer):
    """A tracer that starts a span only inside another: SQL run by background loops (relay
    sweeps, account status refreshes, job leases, every second or so) starts no trace of
    its own, while the statements of a traced call or event are its children."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, name: str, context: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(name, context, *args, **kwargs)

    def start_as_current_span(
        self, name: str, context: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if not trace.get_current_span(context).get_span_context().is_valid:
            return trace.use_span(trace.INVALID_SPAN)
        return self._tracer.start_as_current_span(name, context, *args, **kwargs)


def instrument_engine(engine: Any) -> None:
    """Traces a SQLAlchemy engine's statements (sync or async) within traced work, when
    tracing is on.

    SQLAlchemyInstrumentor().instrument() does nothing on SQLAlchemy 2.1 (its declared range
    stops below 2.1) unless its dependency check is skipped, and ignores every call after the
    first (so a process with several engines, like the embedded suite, got one traced at
    most). Each engine gets its own EngineTracer instead, the object instrument() attaches.
    Pool use is reported by chassis.metrics, so the tracer's own counter is a no-op here.
    """
    if not trace_on():
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__
    from opentelemetry.metrics import NoOpUpDownCounter

    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    EngineTracer(
        _WithinTracedWork(tracer),
        getattr(engine, "sync_engine", engine),
        NoOpUpDownCounter("db.client.connections.usage"),
    )
