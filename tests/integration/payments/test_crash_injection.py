"""Crash injection: payments killed (SIGKILL) between a provider call and recording its answer,
for a charge, a refund and a payout's transfer, on SQLite and PostgreSQL; afterwards exactly
one of each at the provider and in the ledger.

The killed process is crash_harness.py: payments on the test's database, on the Stripe
adapter pointed at the fake Stripe served by this (test) process, so what the provider made
survives the kill and answers a retry under the same idempotency key with the first answer.
What runs after the crash is what the system runs after one, here in the test process, whose
payments shares nothing with the killed one but the database and the provider: the client's
checkout again with its Idempotency-Key, Stripe's webhook delivered again (it had no 2xx),
the bus's booking.cancelled delivered again (never acknowledged: the same event id), the job
that sends pending payouts. The last two come after the fake has forgotten its idempotency
keys, as Stripe does after 24 hours: the refund's metadata and the transfer's group name
what was made.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain.ledger import PLATFORM, Account, AccountKind, TransactionKind
from services.payments.domain.orders import OrderStatus
from services.payments.domain.payouts import PayoutStatus
from services.payments.events import BOOKING_CANCELLED, PAYMENT_SUCCEEDED, REFUND_ISSUED
from services.payments.tables import ledger_transactions
from tests.fakes.stripe_api import FakeStripe
from tests.integration.payments.crash_harness import CRASH_AFTER
from tests.integration.payments.test_checkout import awaiting_payment
from tests.integration.payments.test_payouts import balances, earn, practitioner
from tests.integration.payments.world import World, world

ROOT = Path(__file__).resolve().parents[3]
WEBHOOK_SECRET = "whsec_crash_tests"
CHILD_SECONDS = 60

pytestmark = [
    # Each case starts a process of its own (about 2 s).
    pytest.mark.slow,
    # stripe's HTTPXClient hands httpx its form body as data=bytes, which httpx 0.28 deprecates.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


def stripe_settings(fake: FakeStripe, tmp_path: Path) -> dict[str, Any]:
    return {
        "stripe_secret_key": "sk_test_estuary",
        "stripe_webhook_secrets": WEBHOOK_SECRET,
        "stripe_api_base": fake.base_url,
        "sandbox_dir": str(tmp_path),
    }


async def killed_after(
    w: World, url: str, settings: dict[str, Any], method: str, operation: str, **arguments: Any
) -> None:
    """Runs one operation in payments in a process of its own, killed when the provider's
    method returns; fails unless the process died by that kill."""
    spec = {
        "database_url": url,
        "settings": settings,
        "now": w.clock.now().isoformat(),
        "operation": operation,
        "arguments": arguments,
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.integration.payments.crash_harness", json.dumps(spec)],
        env={**os.environ, CRASH_AFTER: method},
        cwd=ROOT,
        capture_output=True,
        timeout=CHILD_SECONDS,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


async def ledger_count(w: World, kind: TransactionKind) -> int:
    """How many transactions of a kind the ledger holds (the test's database is its own)."""
    async with w.uow(write=False) as uow:
        found = await uow.connection.execute(
            sa.select(sa.func.count())
            .select_from(ledger_transactions)
            .where(ledger_transactions.c.kind == kind.value)
        )
        return int(found.scalar_one())


async def clearing_checked(w: World) -> int:
    """What the platform holds of clients' payments (EUR), once `ledger check` finds nothing."""
    async with w.uow(write=False) as uow:
        assert await uow.audit.violations() == []
        return await uow.ledger.balance(Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR"))


async def confirm_at(fake: FakeStripe, intent_id: str) -> None:
    """The client's card step at Stripe (Stripe.js's confirm with a card); keyed, as the
    session's fake counts every unkeyed write as ours."""
    async with httpx.AsyncClient(base_url=fake.base_url, auth=("sk_test_estuary", "")) as js:
        confirmed = await js.post(
            f"/v1/payment_intents/{intent_id}/confirm",
            data={"payment_method": "pm_card_visa"},
            headers={"Idempotency-Key": f"stripe-js:{intent_id}"},
        )
        confirmed.raise_for_status()


def succeeded_webhook(w: World, fake: FakeStripe, intent_id: str) -> tuple[bytes, str]:
    return fake.signed_event(
        "payment_intent.succeeded", intent_id, WEBHOOK_SECRET, int(w.clock.now().timestamp())
    )


async def test_a_charge_killed_after_the_provider_answered_is_made_and_recorded_once(
    empty_database_url, fake_stripe, tmp_path
):
    settings = stripe_settings(fake_stripe, tmp_path)
    async with world(empty_database_url, **settings) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        request_id = new_id()
        await killed_after(
            w,
            empty_database_url,
            settings,
            "create_payment_intent",
            "checkout",
            client_id=client.user_id,
            booking_id=booking_id,
            request_id=request_id,
        )
        [made] = fake_stripe.objects_with("payment_intent", booking_id=booking_id)
        async with w.uow(write=False) as uow:
            order = await uow.orders.for_booking(booking_id)
        assert order is not None and order.payment_intent_id is None  # the answer was lost

        # The client's app retries with its Idempotency-Key: the intent made before the crash.
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", request_id)
        assert view.order.payment_intent_id == made["id"]
        assert view.order.client_secret == made["client_secret"]
        assert len(fake_stripe.objects_with("payment_intent", booking_id=booking_id)) == 1

        await confirm_at(fake_stripe, made["id"])
        payload, signature = succeeded_webhook(w, fake_stripe, made["id"])
        await killed_after(
            w,
            empty_database_url,
            settings,
            "retrieve_payment_intent",
            "webhook",
            payload=payload.decode(),
            signature=signature,
        )
        assert await ledger_count(w, TransactionKind.CHARGE) == 0

        # Stripe had no 2xx: it delivers the event again, which is applied once.
        assert (await w.treasury.receive_stripe_event(payload, signature))[1]
        assert not (await w.treasury.receive_stripe_event(payload, signature))[1]
        assert len(fake_stripe.objects_with("payment_intent", booking_id=booking_id)) == 1
        assert await ledger_count(w, TransactionKind.CHARGE) == 1
        [succeeded] = await w.events(PAYMENT_SUCCEEDED)
        assert (succeeded.payment_id, succeeded.amount.amount_minor) == (made["id"], 4_500)
        async with w.uow(write=False) as uow:
            order = await uow.orders.for_booking(booking_id)
        assert order is not None and order.status is OrderStatus.PAID
        assert await clearing_checked(w) == 4_500


async def test_a_refund_killed_after_the_provider_answered_is_made_and_recorded_once(
    empty_database_url, fake_stripe, tmp_path
):
    settings = stripe_settings(fake_stripe, tmp_path)
    async with world(empty_database_url, **settings) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", new_id())
        intent_id = view.order.payment_intent_id
        assert intent_id is not None
        await confirm_at(fake_stripe, intent_id)
        paid = succeeded_webhook(w, fake_stripe, intent_id)
        assert (await w.treasury.receive_stripe_event(*paid))[1]

        event_id = new_id()
        await killed_after(
            w,
            empty_database_url,
            settings,
            "create_refund",
            "cancellation",
            booking_id=booking_id,
            refund_percent=50,
            event_id=event_id,
        )
        [made] = fake_stripe.objects_with("refund", booking_id=booking_id)
        assert await ledger_count(w, TransactionKind.REFUND) == 0

        # The bus delivers the unacknowledged booking.cancelled again, a day later (a
        # consumer down that long): Stripe has forgotten the refund's idempotency key, the
        # booking id in the refund's metadata still names it.
        fake_stripe.forget_idempotency_keys()
        cancelled = booking_events.BookingCancelled(
            booking=booking_events.BookingSnapshot(booking_id=booking_id), refund_percent=50
        )
        assert await w.booking_event(BOOKING_CANCELLED, cancelled, event_id) == "ack"
        assert fake_stripe.objects_with("refund", booking_id=booking_id) == [made]
        assert made["amount"] == 2_250
        assert await ledger_count(w, TransactionKind.REFUND) == 1
        [issued] = await w.events(REFUND_ISSUED)
        assert (issued.refund_id, issued.amount.amount_minor) == (made["id"], 2_250)
        assert await clearing_checked(w) == 2_250


async def test_a_transfer_killed_after_the_provider_answered_is_made_and_recorded_once(
    empty_database_url, fake_stripe, tmp_path
):
    settings = stripe_settings(fake_stripe, tmp_path)
    async with world(empty_database_url, **settings) as w:
        await earn(w)
        me = practitioner(w)
        account, link = await w.treasury.create_payout_account(me)
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(link)).status_code == 302  # onboarding finished
        assert (await w.treasury.payout_account(me)).payouts_enabled
        await killed_after(
            w,
            empty_database_url,
            settings,
            "create_transfer",
            "payout",
            practitioner_user_id=w.practitioner_user_id,
            currency="EUR",
            request_id=new_id(),
        )
        async with w.uow(write=False) as uow:
            [payout] = await uow.payouts.pending(10)
        [made] = fake_stripe.objects_with("transfer", payout_id=payout.id)
        assert (made["destination"], made["amount"]) == (account.account_id, 8_000)
        assert not fake_stripe.objects_with("payout", payout_id=payout.id)
        # The payout's money left available when it was made, before the provider was asked.
        assert await ledger_count(w, TransactionKind.PAYOUT) == 1

        # The job sends the pending payout again, a day later: Stripe has forgotten the
        # transfer's idempotency key, the payout's transfer group still names it.
        fake_stripe.forget_idempotency_keys()
        assert await w.treasury.send_pending_payouts() == 1
        assert fake_stripe.objects_with("transfer", payout_id=payout.id) == [made]
        [sent] = fake_stripe.objects_with("payout", payout_id=payout.id)
        async with w.uow(write=False) as uow:
            now = await uow.payouts.get(payout.id)
            assert now is not None
            assert (now.status, now.transfer_id, now.provider_payout_id) == (
                PayoutStatus.SUBMITTED,
                made["id"],
                sent["id"],
            )
            assert await uow.payouts.pending(10) == []
        assert await ledger_count(w, TransactionKind.PAYOUT) == 1
        assert await balances(w) == (0, 8_000)
