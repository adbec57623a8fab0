"""Money coming in under concurrency, on both databases (PostgreSQL is where the races are
real): ten deliveries of one payment_intent.succeeded make one charge and one
payment.succeeded; ten checkouts of one booking make one order and one payment intent; ten
deliveries of one cancellation make one refund."""

from __future__ import annotations

import json
import sqlite3

from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain.ledger import PLATFORM, Account, AccountKind, TransactionKind
from services.payments.events import BOOKING_CANCELLED, PAYMENT_SUCCEEDED, REFUND_ISSUED
from services.payments.provider.config import SANDBOX_FILE
from services.payments.settings import PaymentsSettings
from tests.integration.payments.test_checkout import awaiting_payment, paid_booking
from tests.integration.payments.world import World, world
from tests.races import race

CONCURRENT = 10
CLEARING = Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR")


def sandbox_objects(w: World, kind: str) -> list[dict]:
    """The objects of a kind the sandbox holds, read from its file."""
    settings = w.service.runtime.settings
    assert isinstance(settings, PaymentsSettings)
    path = settings.sandbox_folder() / SANDBOX_FILE
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT body FROM sandbox_objects WHERE kind = ?", (kind,)).fetchall()
    return [json.loads(body) for (body,) in rows]


async def transactions_of(w: World, kind: TransactionKind, booking_id: str) -> int:
    async with w.uow(write=False) as uow:
        page, _ = await uow.ledger.page_of_owner(PLATFORM, after=None, limit=100, all_postings=True)
    return sum(1 for t in page if t.kind is kind and t.booking_id == booking_id)


async def test_ten_deliveries_of_one_success_make_one_charge(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.order.payment_intent_id is not None
        await w.treasury.confirm_sandbox_payment(
            client, view.order.payment_intent_id, "pm_card_visa"
        )
        sent = await w.sent_webhooks()
        payload, signature = next((p, s) for p, s in sent if b'"payment_intent.succeeded"' in p)
        outcome = await race(
            [lambda: w.treasury.receive_stripe_event(payload, signature)] * CONCURRENT
        )
        assert outcome.losses == []
        assert sorted(applied for _, applied in outcome.wins) == [False] * 9 + [True]
        assert len(await w.events(PAYMENT_SUCCEEDED)) == 1
        assert await transactions_of(w, TransactionKind.CHARGE, booking_id) == 1
        async with w.uow(write=False) as uow:
            assert await uow.ledger.balance(CLEARING) == 4_500
            assert await uow.audit.violations() == []


async def test_ten_checkouts_of_one_booking_make_one_intent(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        outcome = await race(
            [
                lambda n=n: w.treasury.create_checkout(
                    client, f"bookings/{booking_id}", f"key-{n % 3}"
                )
                for n in range(CONCURRENT)
            ]
        )
        assert outcome.losses == []
        assert len({view.order.id for view in outcome.wins}) == 1
        assert len({view.order.payment_intent_id for view in outcome.wins}) == 1
        intents = sandbox_objects(w, "payment_intent")
        assert len(intents) == 1 and intents[0]["amount"] == 4_500


async def test_ten_deliveries_of_a_cancellation_make_one_refund(empty_database_url):
    async with world(empty_database_url) as w:
        _, booking_id, _ = await paid_booking(w)
        cancelled = booking_events.BookingCancelled(
            booking=booking_events.BookingSnapshot(booking_id=booking_id), refund_percent=50
        )
        outcome = await race([lambda: w.booking_event(BOOKING_CANCELLED, cancelled)] * CONCURRENT)
        assert outcome.losses == []
        # A delivery that lost a race is retried by the bus; retrying changes nothing.
        assert set(outcome.wins) <= {"ack", "retry"}
        assert await w.booking_event(BOOKING_CANCELLED, cancelled) == "ack"
        assert len(await w.events(REFUND_ISSUED)) == 1
        assert await transactions_of(w, TransactionKind.REFUND, booking_id) == 1
        refunds = sandbox_objects(w, "refund")
        assert [r["amount"] for r in refunds] == [2_250]
