"""Tracing: off by default; with an OTLP endpoint, gRPC calls make spans and logs carry the
trace id. Run in a child process, since instrumenting is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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


# One trace across the suite ------------------------------------------------------------------

SUITE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, pathlib, sys, time
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from chassis.telemetry import configure_telemetry

    # Nothing listens at the endpoint: spans are read from memory.
    assert configure_telemetry("suite", "http://127.0.0.1:9")
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))

    from tests.e2e.accounts import sign_in_admin, sign_up
    from tests.e2e.stacks import start_embedded

    def consumed():
        # Catalog's consumer (booking's consumes the event too, in the same trace).
        return [
            s
            for s in exporter.get_finished_spans()
            if s.name == "process user.suspended"
            and s.attributes.get("messaging.consumer.group.name") == "catalog.account-status"
        ]

    async def main():
        stack = await start_embedded(pathlib.Path(sys.argv[1]))
        try:
            async with stack.client() as client:
                admin = await sign_in_admin(stack, client)
                user = await sign_up(client)
                exporter.clear()
                answer = await client.post(
                    f"/api/v1/admin/users/{user.id}/suspend",
                    headers=admin.headers,
                    json={"reason": "tracing test"},
                )
                assert answer.status_code == 200, answer.text
                deadline = time.monotonic() + 20
                while not consumed() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                # Long enough for the background loops (relay sweep, account status
                # refresh, each every second) to run their queries at least once.
                await asyncio.sleep(1.2)
        finally:
            await stack.suite.stop()
        spans = [
            {
                "name": s.name,
                "kind": s.kind.name,
                "trace_id": format(s.context.trace_id, "032x"),
                "span_id": format(s.context.span_id, "016x"),
                "parent_id": format(s.parent.span_id, "016x") if s.parent else None,
                "db_system": s.attributes.get("db.system") or s.attributes.get("db.system.name"),
                "statement": s.attributes.get("db.statement")
                or s.attributes.get("db.query.text"),
                "queue": s.attributes.get("messaging.consumer.group.name"),
            }
            for s in exporter.get_finished_spans()
        ]
        print(json.dumps(spans))

    asyncio.run(main())
    """
)


@pytest.fixture(scope="module")
def suspension_spans(tmp_path_factory) -> list[dict]:
    """The spans of one admin suspension on the embedded suite, traced in a child process:
    the gateway's request, the gRPC calls, SQL, the relay's publish and catalog's consumer."""
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_METRICS_EXPORTER": "none",
        "ESTUARY_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", SUITE_SCRIPT, str(tmp_path_factory.mktemp("traced") / "data")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def ancestry(spans: list[dict], span: dict) -> list[str]:
    """The names from a span up to its trace's root, following parent ids."""
    by_id = {s["span_id"]: s for s in spans}
    names = [span["name"]]
    while span["parent_id"] is not None:
        span = by_id[span["parent_id"]]
        names.append(span["name"])
    return names


def test_one_trace_runs_from_the_gateway_through_grpc_and_the_bus_to_the_consumer(
    suspension_spans,
):
    [consumed] = [
        s
        for s in suspension_spans
        if s["name"] == "process user.suspended" and s["queue"] == "catalog.account-status"
    ]
    assert consumed["kind"] == "CONSUMER"
    chain = ancestry(suspension_spans, consumed)
    assert chain == [
        "process user.suspended",
        "publish user.suspended",
        "/estuary.identity.v1.IdentityService/SuspendUser",  # identity's server span
        "/estuary.identity.v1.IdentityService/SuspendUser",  # the gateway's client span
        "POST /api/v1/admin/users/{user_id}/suspend",
    ]
    kinds = {s["name"] + "/" + s["kind"] for s in suspension_spans if s["name"] in chain}
    assert {
        "POST /api/v1/admin/users/{user_id}/suspend/SERVER",
        "/estuary.identity.v1.IdentityService/SuspendUser/CLIENT",
        "/estuary.identity.v1.IdentityService/SuspendUser/SERVER",
        "publish user.suspended/PRODUCER",
    } <= kinds
    gateway = next(s for s in suspension_spans if s["name"] == chain[-1])
    assert consumed["trace_id"] == gateway["trace_id"]


def test_sql_statements_are_spans_of_the_call_and_of_the_consumer(suspension_spans):
    by_id = {s["span_id"]: s for s in suspension_spans}
    sql = [s for s in suspension_spans if s["db_system"] == "sqlite"]
    assert sql, "no SQL spans: the SQLAlchemy instrumentation traced nothing"
    # Every statement belongs to traced work: background polls start no trace of their own.
    assert all(s["parent_id"] in by_id for s in sql), [
        s["statement"] for s in sql if s["parent_id"] not in by_id
    ]
    parents = {by_id[s["parent_id"]]["name"] for s in sql}
    # The suspension's own writes, and the consumer's inbox row and status change.
    assert "/estuary.identity.v1.IdentityService/SuspendUser" in parents
    assert "process user.suspended" in parents
    consumer_sql = [
        s["statement"]
        for s in sql
        if s["parent_id"] in by_id and by_id[s["parent_id"]]["name"] == "process user.suspended"
    ]
    assert any("inbox" in (statement or "") for statement in consumer_sql)
