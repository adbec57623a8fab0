"""Metrics: the OpenTelemetry instruments every process records, readable as Prometheus text
and, with an OTLP endpoint, exported over OTLP.

Instruments are made at import from the global meter provider. Until configure_metrics sets
one they are no-ops; afterwards each records for real, so code records unconditionally.
Gauges that need a query (the outbox lag) are measured by a periodic task and only read here
at collection time: a scrape never waits on a database.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

log = logging.getLogger(__name__)

SCOPE = "estuary"

# Buckets for durations that are mostly milliseconds with a tail into seconds.
RPC_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 10000)
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

_meter = metrics.get_meter(SCOPE)

rpc_server_duration = _meter.create_histogram(
    "rpc.server.duration",
    unit="ms",
    description="Duration of gRPC calls served, by method and status code.",
    explicit_bucket_boundaries_advisory=RPC_BUCKETS_MS,
)
http_server_request_duration = _meter.create_histogram(
    "http.server.request.duration",
    unit="s",
    description="Duration of HTTP requests served, by route template, method and status.",
    explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
)
relay_published = _meter.create_counter(
    "estuary.relay.published",
    unit="{event}",
    description="Events the outbox relay published (broker confirmed).",
)
relay_failed = _meter.create_counter(
    "estuary.relay.failed",
    unit="{event}",
    description="Publish attempts that failed for another reason than no queue bound; "
    "the event stays in the outbox for a retry.",
)
bus_unheard = _meter.create_counter(
    "estuary.bus.unheard",
    unit="{event}",
    description="Announced events published while no queue was bound for their type: done, "
    "as no consumer needs them.",
)
bus_unroutable = _meter.create_counter(
    "estuary.bus.unroutable",
    unit="{event}",
    description="Publish attempts refused because no queue is bound for the event type; "
    "the event stays in the outbox.",
)
consumer_applied = _meter.create_counter(
    "estuary.consumer.applied",
    unit="{event}",
    description="Events a consumer applied (effect and inbox row committed).",
)
consumer_duplicates = _meter.create_counter(
    "estuary.consumer.duplicates",
    unit="{event}",
    description="Deliveries of events already applied (absorbed by the inbox).",
)
consumer_failures = _meter.create_counter(
    "estuary.consumer.failures",
    unit="{event}",
    description="Deliveries whose handler failed; each is redelivered or dead-lettered.",
)
consumer_dead_lettered = _meter.create_counter(
    "estuary.consumer.dead_lettered",
    unit="{event}",
    description="Deliveries sent to the dead-letter queue: malformed, or failed on the "
    "last delivery the queue allows.",
)
consumer_duration = _meter.create_histogram(
    "estuary.consumer.duration",
    unit="s",
    description="Time to handle one delivery, from decoding to commit.",
    explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
)


class LagSource(Protocol):
    """Something that knows its outbox's backlog, as last measured."""

    service: str

    def outbox_backlog(self) -> Mapping[str, tuple[float, int]]:
        """Per event type: (age in seconds of the oldest unsent row, unsent rows)."""
        ...


class PoolSource(Protocol):
    """A SQLAlchemy pool: how many connections are checked out and how many are idle."""

    def checkedout(self) -> int: ...

    def checkedin(self) -> int: ...


@dataclass(frozen=True)
class _Pool:
    name: str
    pool: PoolSource
    limit: int


# Live sources observed at collection time. Weak, so a stopped service drops out by itself.
_lag_sources: weakref.WeakSet[Any] = weakref.WeakSet()
_pools: weakref.WeakKeyDictionary[Any, _Pool] = weakref.WeakKeyDictionary()
_sources_lock = threading.Lock()


def observe_outbox(source: LagSource) -> None:
    """Reports this relay's outbox lag and backlog at each collection."""
    with _sources_lock:
        _lag_sources.add(source)


def observe_pool(name: str, owner: Any, pool: PoolSource, limit: int) -> None:
    """Reports a connection pool's use (and its limit) at each collection, while `owner`
    lives."""
    with _sources_lock:
        _pools[owner] = _Pool(name, pool, limit)


def forget_pool(owner: Any) -> None:
    """Stops reporting `owner`'s pool (it was disposed)."""
    with _sources_lock:
        _pools.pop(owner, None)


def forget_outbox(source: LagSource) -> None:
    """Stops reporting a relay's outbox (its service stopped)."""
    with _sources_lock:
        _lag_sources.discard(source)


def _live_pools() -> list[_Pool]:
    with _sources_lock:
        return list(_pools.values())


def _outbox_lag(_options: CallbackOptions) -> Iterable[Observation]:
    with _sources_lock:
        sources = list(_lag_sources)
    for source in sources:
        for event_type, (age, _count) in source.outbox_backlog().items():
            yield Observation(age, {"service": source.service, "event_type": event_type})


def _outbox_pending(_options: CallbackOptions) -> Iterable[Observation]:
    with _sources_lock:
        sources = list(_lag_sources)
    for source in sources:
        for event_type, (_age, count) in source.outbox_backlog().items():
            yield Observation(count, {"service": source.service, "event_type": event_type})


def _pool_usage(_options: CallbackOptions) -> Iterable[Observation]:
    for entry in _live_pools():
        used = entry.pool.checkedout()
        yield Observation(used, {"pool.name": entry.name, "state": "used"})
        yield Observation(entry.pool.checkedin(), {"pool.name": entry.name, "state": "idle"})


def _pool_max(_options: CallbackOptions) -> Iterable[Observation]:
    for entry in _live_pools():
        yield Observation(entry.limit, {"pool.name": entry.name})


_meter.create_observable_gauge(
    "estuary.outbox.lag",
    callbacks=[_outbox_lag],
    unit="s",
    description="Age of the oldest unsent outbox row, by event type (0 once all are sent).",
)
_meter.create_observable_gauge(
    "estuary.outbox.pending",
    callbacks=[_outbox_pending],
    unit="{event}",
    description="Unsent outbox rows, by event type.",
)
_meter.create_observable_up_down_counter(
    "db.client.connections.usage",
    callbacks=[_pool_usage],
    unit="{connection}",
    description="Connections in the pool, by state (used: checked out; idle: ready).",
)
_meter.create_observable_up_down_counter(
    "db.client.connections.max",
    callbacks=[_pool_max],
    unit="{connection}",
    description="The most connections the pool opens.",
)


# The process's readers: Prometheus text always, OTLP when configured.
_registry: Any = None
_configured = False


def configure_metrics(resource: Any, *, otlp: bool, otlp_endpoint: str | None = None) -> None:
    """Installs the process's meter provider: a Prometheus reader, plus an OTLP exporter.

    `otlp_endpoint` None lets the exporter read the standard OTEL_EXPORTER_OTLP_* variables;
    the export interval is OTEL_METRIC_EXPORT_INTERVAL's. Safe to call again (no-op).
    """
    global _registry, _configured
    if _configured:
        return
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    readers: list[MetricReader] = [PrometheusMetricReader(registry=registry)]
    if otlp:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=otlp_endpoint)))
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    _registry = registry
    _configured = True


def prometheus_text(accept: str = "") -> tuple[bytes, str]:
    """The process's metrics in the Prometheus text format (or OpenMetrics, if accepted),
    with its content type; empty when metrics were never configured."""
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder

    if _registry is None:
        return b"", CONTENT_TYPE_PLAIN_0_0_4
    encoder, content_type = choose_encoder(accept)
    return encoder(_registry), content_type


class MetricsServer:
    """Serves /metrics over HTTP from a thread of its own, so a scrape still answers while
    the event loop is busy (which is when it is most wanted)."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(host: str, port: int) -> MetricsServer | None:
    """Starts the Prometheus endpoint on host:port (any path answers); None if port is 0
    or metrics are off."""
    if port == 0 or _registry is None:
        return None
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=_registry)
    return MetricsServer(server, thread)


def attributes_cache(make: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """Attribute dicts built once per key, so the hot path allocates none."""
    cache: dict[str, dict[str, Any]] = {}

    def get(key: str) -> dict[str, Any]:
        found = cache.get(key)
        if found is None:
            found = cache[key] = make(key)
        return found

    return get
