"""A client pays for a session through the gateway, on both shapes, with the sandbox provider
standing in for Stripe: book -> checkout -> the card step -> the sandbox's signed webhook to
the gateway's route -> payment.succeeded -> booking confirmed; a declined card confirms
nothing; a cancellation under a 50% policy refunds half to the card (refund.issued, and in
the client's payments) and leaves the ledger sound (`estuary ledger check` exits 0). A paid
session that took place goes on to its practitioner's bank: completed -> earning pending ->
available once its hold ends -> onboarded on Connect -> payout requested -> payout.paid,
the ledger sound at the end."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx

from chassis.ids import new_id
from estuary.payments.v1 import payments_pb2 as pb
from estuary.payments.v1.payments_pb2_grpc import PaymentsServiceStub
from tests.e2e.booking_steps import (
    Account,
    book,
    booking_becomes,
    first_slot,
    new_client,
    open_for_business,
    run_job,
)
from tests.e2e.payments_steps import finish_onboarding, release_earnings
from tests.e2e.stacks import EmbeddedStack, EventTap, ProductionStack, Stack
from tests.e2e.test_catalog_journey import eventually, session_body
from tests.e2e.test_payments_earnings import payments_address

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


async def booked_practice(client: httpx.AsyncClient, stack: Stack, **service: Any):
    """A practitioner open for business with one massage, and a client's booking of it
    awaiting payment."""
    practice = await open_for_business(
        client, stack, session_body("", "Deep tissue massage", **service)
    )
    [massage] = practice.services
    cleo = await new_client(client)
    slot = await first_slot(client, massage["id"])
    made = await book(client, cleo, massage["id"], slot["start_time"])
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "pending_payment"
    return practice, cleo, made.json()


async def held_booking(client: httpx.AsyncClient, stack: Stack, **service: Any):
    _, cleo, booking = await booked_practice(client, stack, **service)
    return cleo, booking


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
        mine = await client.get("/api/v1/me/payments", headers=cleo.headers)
        assert mine.status_code == 200, mine.text
        [payment] = mine.json()["results"]
        assert (payment["order_id"], payment["status"]) == (order["order_id"], "paid")
        [refund] = payment["refunds"]
        half = {"amount_minor": 2250, "currency": "EUR"}
        assert (refund["amount"], refund["to_card"]) == (half, half)
        assert refund["to_credit"]["amount_minor"] == 0
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


async def earnings_of(stack: Stack, who: Account) -> dict[str, tuple[int, int, int]]:
    """A practitioner's (pending, available, paid out) per currency, as they read them."""
    async with grpc.aio.insecure_channel(payments_address(stack)) as channel:
        summary = await PaymentsServiceStub(channel).GetEarningsSummary(
            pb.GetEarningsSummaryRequest(name=f"users/{who.id}/earnings"),
            metadata=[("authorization", f"Bearer {who.access_token}")],
            timeout=10,
        )
    return {
        c.currency: (c.pending.amount_minor, c.available.amount_minor, c.paid_out.amount_minor)
        for c in summary.currencies
    }


async def test_a_session_that_took_place_is_paid_out_to_its_practitioner(
    stack: Stack, tap: EventTap
):
    # 70.00 EUR: the practitioner's 80% (Free tier) clears the 50.00 payout minimum.
    price = {"amount_minor": 7000, "currency": "EUR"}
    async with stack.client() as client:
        practice, cleo, booking = await booked_practice(client, stack, price=price)
        ana = practice.owner
        order = (await checkout(client, cleo, booking["id"])).json()
        paid = await card_step(client, cleo, order["payment_intent_id"], "pm_card_visa")
        assert paid.json()["status"] == "succeeded", paid.text
        confirmed = await booking_becomes(client, cleo, booking["id"], "confirmed")

        # The session ends; booking's completion job completes it three hours later.
        ended = datetime.fromisoformat(confirmed["times"][0]["end_time"])
        assert await run_job(stack, "complete_ended", ended + timedelta(hours=3)) >= 1
        recorded = await tap.next("earning.recorded", EVENT_SECONDS, booking_id=booking["id"])
        assert recorded.message.practitioner_user_id == ana.id
        assert (
            recorded.message.earning.amount_minor,
            recorded.message.commission.amount_minor,
        ) == (
            5600,
            1400,
        )
        await booking_becomes(client, cleo, booking["id"], "completed")
        assert (await earnings_of(stack, ana))["EUR"] == (5600, 0, 0)

        # Its hold ends: payments' release job, as of then, makes it available.
        until = recorded.message.available_time.ToDatetime(tzinfo=UTC)
        assert until > ended
        assert await release_earnings(stack, until + timedelta(minutes=1)) >= 1
        available = await tap.next("earning.available", EVENT_SECONDS, booking_id=booking["id"])
        assert available.message.earning.amount_minor == 5600
        assert (await earnings_of(stack, ana))["EUR"] == (0, 5600, 0)

        # Onboarding on Connect: the account link, the provider's pages, payouts enabled.
        opened = await client.post("/api/v1/me/payout-account", headers=ana.headers)
        assert opened.status_code == 201, opened.text
        await finish_onboarding(stack, opened.json()["onboarding_url"])
        account = await client.get("/api/v1/me/payout-account", headers=ana.headers)
        assert account.json()["payouts_enabled"] is True, account.text

        asked = await client.post(
            "/api/v1/me/payouts",
            json={"currency": "EUR"},
            headers={**ana.headers, "Idempotency-Key": new_id()},
        )
        assert asked.status_code == 201, asked.text
        payout = asked.json()
        assert payout["amount"] == {"amount_minor": 5600, "currency": "EUR"}
        sent = await tap.next(
            "payout.paid", EVENT_SECONDS, where=lambda m: m.payout_id == payout["payout_id"]
        )
        assert sent.message.practitioner_user_id == ana.id
        assert sent.message.amount.amount_minor == 5600
        listed = await client.get("/api/v1/me/payouts", headers=ana.headers)
        assert [(p["payout_id"], p["status"]) for p in listed.json()["results"]] == [
            (payout["payout_id"], "paid")
        ]
        assert (await earnings_of(stack, ana))["EUR"] == (0, 0, 5600)
        assert "every invariant holds" in ledger_check(stack)
