"""A client pays for a session through the gateway, on both shapes, with the sandbox provider
standing in for Stripe: book -> checkout -> the card step -> the sandbox's signed webhook to
the gateway's route -> payment.succeeded -> booking confirmed; a declined card confirms
nothing; a cancellation under a 50% policy refunds half to the card (refund.issued) and
leaves the ledger sound (`estuary ledger check` exits 0)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx

from chassis.ids import new_id
from tests.e2e.booking_steps import (
    Account,
    book,
    booking_becomes,
    first_slot,
    new_client,
    open_for_business,
)
from tests.e2e.stacks import EmbeddedStack, EventTap, ProductionStack, Stack
from tests.e2e.test_catalog_journey import eventually, session_body

EVENT_SECONDS = 20.0
HALF_BACK = [{"hours_before": 0, "refund_percent": 50}]


async def checkout(
    client: httpx.AsyncClient, who: Account, booking_id: str, key: str | None = None
) -> httpx.Response:
    """POST /api/v1/checkout, retried while payments has not yet heard of the booking."""

    async def attempt() -> httpx.Response | None:
        answer = await client.post(
            "/api/v1/checkout",
            json={"booking_id": booking_id},
            headers={**who.headers, "Idempotency-Key": key or new_id()},
        )
        return None if answer.status_code == 404 else answer

    return await eventually(attempt, timeout=EVENT_SECONDS)


async def card_step(
    client: httpx.AsyncClient, who: Account, intent_id: str, payment_method: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/sandbox/payment-intents/{intent_id}/confirm",
        json={"payment_method": payment_method},
        headers=who.headers,
    )


def ledger_check(stack: Stack) -> str:
    """`estuary ledger check` on the stack's payments database, as an operator runs it."""
    if isinstance(stack, ProductionStack):
        return stack.estuary("ledger", "check", service="payments").stdout
    assert isinstance(stack, EmbeddedStack)
    data_dir = str(stack.suite.data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "suite.cli", "ledger", "check", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def held_booking(client: httpx.AsyncClient, stack: Stack, **service: Any):
    practice = await open_for_business(
        client, stack, session_body("", "Deep tissue massage", **service)
    )
    [massage] = practice.services
    cleo = await new_client(client)
    slot = await first_slot(client, massage["id"])
    made = await book(client, cleo, massage["id"], slot["start_time"])
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending_payment"
    return cleo, made.json()


async def test_book_checkout_pay_and_the_webhook_confirms_the_booking(stack: Stack, tap: EventTap):
    async with stack.client() as client:
        cleo, booking = await held_booking(client, stack, cancellation_policy=HALF_BACK)
        key = new_id()
        answer = await checkout(client, cleo, booking["id"], key)
        assert answer.status_code == 201, answer.text
        order = answer.json()
        assert order["booking_id"] == booking["id"]
        assert order["status"] == "requires_payment_method"
        assert order["amount"] == order["amount_due"] == {"amount_minor": 4500, "currency": "EUR"}
        assert order["payment_intent_id"].startswith("pi_") and order["client_secret"]
        # A retry with the key answers the same order; so does another checkout of it.
        again = await checkout(client, cleo, booking["id"], key)
        assert again.json()["order_id"] == order["order_id"]
        other = await checkout(client, cleo, booking["id"])
        assert other.json()["payment_intent_id"] == order["payment_intent_id"]
        # Nobody else checks it out, or pays its intent.
        stranger = await new_client(client)
        refused = await client.post(
            "/api/v1/checkout", json={"booking_id": booking["id"]}, headers=stranger.headers
        )
        assert refused.status_code == 404, refused.text
        theirs = await card_step(client, stranger, order["payment_intent_id"], "pm_card_visa")
        assert theirs.status_code == 404, theirs.text

        paid = await card_step(client, cleo, order["payment_intent_id"], "pm_card_visa")
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "succeeded"
        succeeded = await tap.next(
            "payment.succeeded", EVENT_SECONDS, where=lambda m: m.booking_id == booking["id"]
        )
        assert succeeded.message.payment_id == order["payment_intent_id"]
        assert succeeded.message.user_id == cleo.id
        confirmed = await booking_becomes(client, cleo, booking["id"], "confirmed")
        assert confirmed["payment_id"] == order["payment_intent_id"]
        assert confirmed["amount_paid"] == {"amount_minor": 4500, "currency": "EUR"}
        late = await checkout(client, cleo, booking["id"])
        assert late.json()["status"] == "succeeded"

        # The client cancels: the policy gives half back, to the card.
        cancelled = await client.post(
            f"/api/v1/bookings/{booking['id']}/cancel", json={}, headers=cleo.headers
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["refund_percent"] == 50
        issued = await tap.next(
            "refund.issued", EVENT_SECONDS, where=lambda m: m.booking_id == booking["id"]
        )
        assert issued.message.amount.amount_minor == 2250
        assert issued.message.payment_id == order["payment_intent_id"]
        assert "every invariant holds" in ledger_check(stack)


async def test_a_declined_card_confirms_nothing(stack: Stack, tap: EventTap):
    async with stack.client() as client:
        cleo, booking = await held_booking(client, stack)
        order = (await checkout(client, cleo, booking["id"])).json()
        declined = await card_step(
            client, cleo, order["payment_intent_id"], "pm_card_chargeDeclined"
        )
        assert declined.status_code == 200, declined.text
        assert declined.json()["status"] == "requires_payment_method"
        failed = await tap.next(
            "payment.failed", EVENT_SECONDS, where=lambda m: m.booking_id == booking["id"]
        )
        assert failed.message.reason == "card_declined"
        # Booking lets the time go (payment.failed); nothing was charged or confirmed.
        expired = await booking_becomes(client, cleo, booking["id"], "expired")
        assert expired["payment_id"] is None and expired["amount_paid"] is None
        assert not [
            e
            for e in tap.seen
            if e.type == "payment.succeeded" and e.message.booking_id == booking["id"]
        ]


async def test_forged_and_replayed_webhooks_are_refused_at_the_gateway(stack: Stack):
    async with stack.client() as client:
        body = b'{"id": "evt_forged", "object": "event", "type": "payment_intent.succeeded"}'
        forged = await client.post(
            "/api/v1/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": "t=1700000000,v1=" + "0" * 64},
        )
        unsigned = await client.post("/api/v1/webhooks/stripe", content=body)
        assert (forged.status_code, unsigned.status_code) == (400, 400)
        assert forged.headers["content-type"].startswith("application/problem+json")
        assert forged.json()["code"].startswith("WEBHOOK_")
