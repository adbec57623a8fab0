"""What the gateway tells an operator: readiness that reports each backend without gating
on it, and access logs as JSON lines."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from chassis.logging import JsonFormatter
from gateway.app import create_app
from gateway.settings import GatewaySettings
from suite.registry import SERVICES
from tests.e2e.accounts import sign_up
from tests.e2e.stacks import free_port, start_embedded, wait_ready

# Readiness ----------------------------------------------------------------------------------


async def test_ready_with_one_backend_down_and_its_status_reported(tmp_path):
    stack = await start_embedded(tmp_path / "data")
    try:
        async with stack.client() as client:
            ready = await wait_ready(client)
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "ready",
                "backends": {entry.name: "SERVING" for entry in SERVICES},
            }
            catalog = stack.suite.services.pop("catalog")
            await catalog.stop()
            degraded = await client.get("/readyz")
            # Still in rotation: identity's routes keep working behind this gateway.
            assert degraded.status_code == 200
            assert degraded.json() == {
                "status": "degraded",
                "backends": {
                    entry.name: "UNAVAILABLE" if entry.name == "catalog" else "SERVING"
                    for entry in SERVICES
                },
            }
            assert (await sign_up(client)).id
            services = await client.get("/api/v1/services")
            assert services.status_code == 503
    finally:
        await stack.suite.stop()


def _unreachable_backends() -> GatewaySettings:
    return GatewaySettings(
        **{f"{entry.name}_address": f"127.0.0.1:{free_port()}" for entry in SERVICES}
    )


async def test_not_ready_until_started_and_once_stopping():
    app = create_app(_unreachable_backends())
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        starting = await client.get("/readyz")
        assert starting.status_code == 503
        assert starting.json() == {"status": "not ready", "backends": {}}
        async with app.router.lifespan_context(app):
            # Started: ready even with every backend down (each is reported).
            running = await client.get("/readyz")
            assert running.status_code == 200
            assert running.json() == {
                "status": "degraded",
                "backends": {entry.name: "UNAVAILABLE" for entry in SERVICES},
            }
        stopped = await client.get("/readyz")
        assert stopped.status_code == 503
        assert stopped.json()["status"] == "not ready"
        # Liveness does not care.
        assert (await client.get("/healthz")).status_code == 200


# Access logs ---------------------------------------------------------------------------------


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the gateway's access log and the services' call log write, as JSON lines."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("suite"))
    loggers = [logging.getLogger("estuary.access"), logging.getLogger("estuary.grpc")]
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield buffer
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_access_log_lines_are_json_at_info_with_request_id_route_status_duration(
    tmp_path, json_lines
):
    stack = await start_embedded(tmp_path / "data")
    try:
        async with stack.client() as client:
            account = await sign_up(client)
            json_lines.truncate(0)
            json_lines.seek(0)
            headers = {**account.headers, "X-Request-ID": "trace-me-42"}
            assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
            missing = f"/api/v1/services/{uuid.uuid4()}"
            assert (await client.get(missing)).status_code == 404
            assert (await client.get("/api/v1/no/such/route")).status_code == 404
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await stack.suite.stop()
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "estuary.access"]
    assert [(a["path"], a["status"]) for a in access] == [
        ("/api/v1/users/me", 200),
        (missing, 404),
        ("/api/v1/no/such/route", 404),
    ], "one INFO line per request; probes only at DEBUG"
    me, service, unknown = access
    assert me["level"] == "info"
    assert me["request_id"] == "trace-me-42"
    assert me["route"] == "/api/v1/users/me"
    assert me["http_method"] == "GET"
    # The route is the template, so lines group by route whatever the ids in the path.
    assert service["route"] == "/api/v1/services/{service_id}"
    assert isinstance(me["duration_ms"], float) and me["duration_ms"] > 0
    assert unknown["route"] is None and len(unknown["request_id"]) > 0
    # The service's line for the call the request made carries the same request id.
    [call] = [
        line
        for line in lines
        if line["logger"] == "estuary.grpc" and line.get("request_id") == "trace-me-42"
    ]
    assert call["level"] == "info"
    assert call["request_id"] == "trace-me-42"
    assert call["rpc_method"] == "/estuary.identity.v1.IdentityService/GetUser"
    assert call["grpc_status"] == "OK"
    assert call["duration_ms"] > 0
