"""Checkout, the webhook and a refund with payments on the Stripe adapter against localstripe
(a real local server speaking Stripe's API, which signs and sends its own webhooks): the
order's intent is made at Stripe for booking's price, Stripe's signed payment_intent.succeeded
is applied once, and a cancellation's refund is made at Stripe. (localstripe ignores
Idempotency-Key, so retries are the sandbox's tests.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain.ledger import PLATFORM, Account, AccountKind
from services.payments.events import BOOKING_CANCELLED, PAYMENT_SUCCEEDED, REFUND_ISSUED
from services.payments.provider.port import PaymentStatus
from tests.fakes.stripe_api import free_port
from tests.integration.payments.test_checkout import awaiting_payment
from tests.integration.payments.world import world

SECRET = "whsec_checkout_tests"
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def card(base: str, number: str) -> str:
    """A payment method localstripe makes from a test card's number."""
    async with httpx.AsyncClient(base_url=base, auth=("sk_test_estuary", "")) as client:
        made = await client.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        )
        made.raise_for_status()
        return str(made.json()["id"])


async def pay(base: str, intent_id: str) -> None:
    """The client's card step, done as Stripe.js would in localstripe's words: a payment
    method from a card's number set on the intent, then the intent confirmed."""
    method = await card(base, "4242424242424242")
    async with httpx.AsyncClient(base_url=base, auth=("sk_test_estuary", "")) as stripe_js:
        chosen = await stripe_js.post(
            f"/v1/payment_intents/{intent_id}", data={"payment_method": method}
        )
        chosen.raise_for_status()
        confirmed = await stripe_js.post(f"/v1/payment_intents/{intent_id}/confirm")
        confirmed.raise_for_status()


async def webhook_about(received: list[tuple[bytes, str]], intent_id: str) -> tuple[bytes, str]:
    """The one webhook localstripe sent about an intent (it waits a second before it sends)."""
    ours: list[tuple[bytes, str]] = []
    for _ in range(100):
        ours = [(b, h) for b, h in received if intent_id.encode() in b]
        if ours:
            break
        await asyncio.sleep(0.1)
    assert len(ours) == 1
    return ours[0]


@pytest.fixture
async def stripe_webhooks(localstripe_base: str) -> AsyncIterator[list[tuple[bytes, str]]]:
    """What localstripe sends to a webhook endpoint registered for this test."""
    received: list[tuple[bytes, str]] = []

    async def route(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["Stripe-Signature"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/webhooks/stripe", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    endpoint = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=localstripe_base) as client:
        registered = await client.post(
            f"/_config/webhooks/{endpoint}",
            data={
                "url": f"http://127.0.0.1:{port}/webhooks/stripe",
                "secret": SECRET,
                "events[]": "payment_intent.succeeded",
            },
        )
        registered.raise_for_status()
    try:
        yield received
    finally:
        async with httpx.AsyncClient(base_url=localstripe_base) as client:
            # localstripe cannot forget an endpoint: point it where nothing listens.
            await client.post(
                f"/_config/webhooks/{endpoint}",
                data={"url": f"http://127.0.0.1:{free_port()}/", "secret": SECRET},
            )
        await runner.cleanup()


async def test_a_checkout_paid_at_stripe_confirms_and_a_cancellation_refunds_there(
    tmp_path, localstripe_base, stripe_webhooks
):
    url = f"sqlite+aiosqlite:///{tmp_path}/payments.db"
    settings = {
        "stripe_secret_key": "sk_test_estuary",
        "stripe_webhook_secrets": SECRET,
        "stripe_api_base": localstripe_base,
    }
    async with world(url, **settings) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        intent_id = view.order.payment_intent_id
        assert intent_id is not None and view.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        await pay(localstripe_base, intent_id)
        paid = await w.service.provider.retrieve_payment_intent(intent_id)
        assert paid.status is PaymentStatus.SUCCEEDED and paid.amount == 4_500
        body, header = await webhook_about(stripe_webhooks, intent_id)
        event_id, applied = await w.treasury.receive_stripe_event(body, header)
        assert applied
        assert await w.treasury.receive_stripe_event(body, header) == (event_id, False)
        [succeeded] = await w.events(PAYMENT_SUCCEEDED)
        assert (succeeded.payment_id, succeeded.amount.amount_minor) == (intent_id, 4_500)

        cancelled = booking_events.BookingCancelled(
            booking=booking_events.BookingSnapshot(booking_id=booking_id), refund_percent=50
        )
        assert await w.booking_event(BOOKING_CANCELLED, cancelled) == "ack"
        [issued] = await w.events(REFUND_ISSUED)
        refund = await w.service.provider.retrieve_refund(issued.refund_id)
        assert (refund.amount, refund.payment_intent_id) == (2_250, intent_id)
        async with w.uow(write=False) as uow:
            clearing = Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR")
            assert await uow.ledger.balance(clearing) == 2_250
            assert await uow.audit.violations() == []
