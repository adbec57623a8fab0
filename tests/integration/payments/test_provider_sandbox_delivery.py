"""The sandbox's webhooks POSTed to a webhook route over HTTP, as Stripe sends them: the
route verifies them with the sandbox's secret; a route that fails gets them again, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from services.payments.provider.sandbox import SandboxProvider, posting_to
from tests.fakes.stripe_api import free_port


class WebhookRoute:
    """An HTTP webhook route that verifies what it is sent; it can be made to fail."""

    def __init__(self) -> None:
        self.sandbox: SandboxProvider | None = None
        self.types: list[str] = []
        self.failing = False
        self.url = ""

    async def receive(self, request: web.Request) -> web.Response:
        if self.failing:
            return web.Response(status=503)
        assert self.sandbox is not None
        assert request.content_type == "application/json"
        event = self.sandbox.parse_webhook(
            await request.read(), request.headers.get("Stripe-Signature")
        )
        self.types.append(event.type)
        return web.Response()


@pytest.fixture
async def route() -> AsyncIterator[WebhookRoute]:
    route = WebhookRoute()
    app = web.Application()
    app.router.add_post("/api/v1/webhooks/stripe", route.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    route.url = f"http://127.0.0.1:{port}/api/v1/webhooks/stripe"
    yield route
    await runner.cleanup()


async def test_the_sandbox_posts_signed_webhooks_that_the_route_verifies(
    tmp_path: Path, route: WebhookRoute
):
    sandbox = SandboxProvider(tmp_path / "sandbox.db", deliver=posting_to(route.url))
    route.sandbox = sandbox
    try:
        intent = await sandbox.create_payment_intent(
            amount=2500,
            currency="EUR",
            order_id="order-1",
            idempotency_key="checkout:order-1",
            payment_method="pm_card_visa",
        )
        route.failing = True
        await sandbox.confirm_payment_intent(intent.id, idempotency_key="pay:order-1")
        with pytest.raises(httpx.HTTPStatusError, match="503"):
            await sandbox.deliver_webhooks()
        assert route.types == []
        route.failing = False
        assert await sandbox.deliver_webhooks() == 2
        assert route.types == ["payment_intent.created", "payment_intent.succeeded"]
    finally:
        await sandbox.aclose()


async def test_a_route_that_is_not_there_leaves_the_webhooks_waiting(tmp_path: Path):
    sandbox = SandboxProvider(
        tmp_path / "sandbox.db", deliver=posting_to(f"http://127.0.0.1:{free_port()}/")
    )
    try:
        await sandbox.create_customer(
            user_id="u1", email=None, name=None, idempotency_key="customer:u1"
        )
        with pytest.raises(httpx.ConnectError):
            await sandbox.deliver_webhooks()
    finally:
        await sandbox.aclose()
    kept: list[bytes] = []

    async def keep(payload: bytes, signature: str) -> None:
        kept.append(payload)

    reopened = SandboxProvider(tmp_path / "sandbox.db", deliver=keep)
    try:
        assert await reopened.deliver_webhooks() == 1
        assert b"customer.created" in kept[0]
    finally:
        await reopened.aclose()
