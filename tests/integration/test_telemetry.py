"""Tracing: off by default; with an OTLP endpoint, gRPC calls make spans and logs carry the
trace id. Run in a child process, since instrumenting is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, io, json, logging, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from chassis.logging import JsonFormatter
    from chassis.telemetry import configure_telemetry

    enabled = configure_telemetry("probe", sys.argv[1] or None)
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if enabled:
        provider.add_span_processor(SimpleSpanProcessor(exporter))

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    async def main():
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(JsonFormatter("probe"))
        log = logging.getLogger("probe")
        log.addHandler(handler)
        with trace.get_tracer("probe").start_as_current_span("work"):
            log.warning("inside a span")
        await server.stop(0)
        print(json.dumps({
            "enabled": enabled,
            "spans": sorted(s.name for s in exporter.get_finished_spans()),
            "log": json.loads(buffer.getvalue()),
        }))

    asyncio.run(main())
    """
)


def run(endpoint: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, endpoint],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_without_an_endpoint_nothing_is_traced():
    result = run("")
    assert result["enabled"] is False
    assert result["spans"] == []
    assert "trace_id" not in result["log"]


def test_with_an_endpoint_grpc_calls_are_traced_and_logs_carry_the_trace_id():
    # Nothing listens there: spans are also kept in memory by the probe, and the exporter's
    # failures to deliver them do not disturb the service.
    result = run("http://127.0.0.1:9")
    assert result["enabled"] is True
    assert "/grpc.health.v1.Health/Check" in result["spans"]
    assert "work" in result["spans"]
    assert len(result["log"]["trace_id"]) == 32
