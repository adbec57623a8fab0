"""The production shape as an operator scrapes it: each `estuary serve` process answers
Prometheus text on its metrics port, and the gateway on /metrics."""

from __future__ import annotations

import httpx

from tests.e2e.accounts import sign_up
from tests.e2e.stacks import ProductionStack
from tests.scrape import value


async def test_every_process_serves_its_metrics(production_stack: ProductionStack):
    async with production_stack.client() as client:
        account = await sign_up(client)
        assert (await client.get("/api/v1/users/me", headers=account.headers)).is_success
        assert (await client.get("/api/v1/services")).is_success
        gateway = (await client.get("/metrics")).text
    assert value(
        gateway, "http_server_request_duration_seconds_count", http_route="/api/v1/users/me"
    )

    async with httpx.AsyncClient(timeout=5.0) as scraper:
        scraped = {
            name: (await scraper.get(f"http://127.0.0.1:{port}/metrics")).text
            for name, port in production_stack.metrics_ports.items()
        }
    identity, catalog = scraped["identity"], scraped["catalog"]
    assert value(identity, "rpc_server_duration_milliseconds_count", rpc_method="GetUser") >= 1
    assert value(catalog, "rpc_server_duration_milliseconds_count", rpc_method="ListServices")
    # Each process reports its own work only.
    assert not value(identity, "rpc_server_duration_milliseconds_count", rpc_method="ListServices")
    assert value(identity, "db_client_connections_max", pool_name="identity") == 10
    assert not value(identity, "http_server_request_duration_seconds_count")
