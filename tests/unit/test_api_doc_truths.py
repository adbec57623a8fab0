"""What docs/api.md says of the gateway that needs no backend, held to it in process."""

from __future__ import annotations

import httpx

from gateway.app import create_app
from gateway.settings import GatewaySettings


async def test_a_500_from_the_gateway_itself_carries_the_request_id():
    app = create_app(GatewaySettings())

    @app.get("/api/v1/broken")
    async def broken() -> None:
        raise RuntimeError("a bug in the gateway")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        answer = await client.get("/api/v1/broken", headers={"X-Request-ID": "trace-42"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["x-request-id"] == "trace-42"
    assert answer.json()["code"] == "INTERNAL"
    assert answer.json()["request_id"] == "trace-42"
