"""Money coming in, on the real unit of work, consumers and sandbox, on both databases:
checkout of a booking awaiting payment (its price booking's, credits first, one intent per
booking), the sandbox's signed webhooks applied once and only forward, forged, altered and
stale ones refused, and refunds of cancelled or unpayable bookings, each once."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)
from services.payments.events import (
    BOOKING_CANCELLED,
    BOOKING_CREATED,
    BOOKING_EXPIRED,
    BOOKING_REFUND_REQUESTED,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    REFUND_ISSUED,
)
from services.payments.provider.port import PaymentStatus
from services.payments.service_layer.checkout import WebhookRefused
from tests.builders import person
from tests.integration.payments.world import World, world


async def awaiting_payment(w: World, amount_minor: int = 4_500):
    """A client and their booking awaiting payment, as booking announced it."""
    client = person()
    created = w.created(client.user_id, amount_minor)
    assert await w.booking_event(BOOKING_CREATED, created) == "ack"
    return client, created.booking.booking_id


async def give_credit(w: World, user_id: str, amount_minor: int) -> None:
    async with w.uow() as uow:
        await uow.ledger.post(
            Transaction.balanced(
                new_id(),
                TransactionKind.CREDIT_PURCHASE,
                f"gifts/{new_id()}",
                transfer(
                    Account(EXTERNAL, AccountKind.EXTERNAL, "EUR"),
                    Account(user_id, AccountKind.CLIENT_CREDIT, "EUR"),
                    amount_minor,
                ),
                w.clock.now(),
            )
        )
        await uow.commit()


async def ledger(w: World):
    async with w.uow(write=False) as uow:
        return (
            await uow.ledger.balances_of(PLATFORM),
            await uow.ledger.balances_of(EXTERNAL),
            await uow.audit.violations(),
        )


CLEARING = Account(PLATFORM, AccountKind.PLATFORM_CLEARING, "EUR")
WORLD = Account(EXTERNAL, AccountKind.EXTERNAL, "EUR")


async def test_a_checkout_asks_the_card_for_bookings_price_once(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        first = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "k1")
        assert first.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        assert (first.order.amount.amount_minor, first.order.card_minor) == (4_500, 4_500)
        assert first.order.payment_intent_id and first.order.client_secret
        intent = await w.sandbox.retrieve_payment_intent(first.order.payment_intent_id)
        assert (intent.amount, intent.currency, intent.order_id) == (4_500, "EUR", first.order.id)
        # A retry with the key, and another checkout of the booking, answer the same order.
        again = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "k1")
        other = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "k2")
        assert again.order == other.order == first.order


async def test_an_intent_whose_answer_was_lost_is_the_one_the_retry_gets(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        with w.intent_answers_lost() as made, pytest.raises(Unavailable):
            await w.treasury.create_checkout(client, f"bookings/{booking_id}", "k")
        # Paid before any checkout recorded it (the client had its secret from the provider
        # some other way): the webhook still finds the order by the id in its metadata.
        await w.sandbox.confirm_payment_intent(
            made[0].id, idempotency_key="test-confirm", payment_method="pm_card_visa"
        )
        assert await w.apply_webhooks() >= 1
        [paid] = await w.events(PAYMENT_SUCCEEDED)
        assert (paid.booking_id, paid.payment_id) == (booking_id, made[0].id)
        retried = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "k")
        assert retried.order.payment_intent_id == made[0].id
        assert retried.status is PaymentStatus.SUCCEEDED


async def test_a_payment_the_provider_refuses_is_a_conflict_not_an_outage(empty_database_url):
    async with world(empty_database_url) as w:
        # Above the eight digits of minor units Stripe takes in one payment.
        client, booking_id = await awaiting_payment(w, 100_000_000)
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert refused.value.reason == "PAYMENT_PROVIDER_REFUSED"
        async with w.uow(write=False) as uow:
            order = await uow.orders.for_booking(booking_id)
        assert order is not None and order.payment_intent_id is None


async def test_only_the_bookings_client_checks_it_out(empty_database_url):
    async with world(empty_database_url) as w:
        _, booking_id = await awaiting_payment(w)
        with pytest.raises(NotFound):
            await w.treasury.create_checkout(person(), f"bookings/{booking_id}", "")
        with pytest.raises(NotFound):
            await w.treasury.create_checkout(person(), f"bookings/{new_id()}", "")
        with pytest.raises(InvalidArgument) as bad:
            await w.treasury.create_checkout(person(), booking_id, "")
        assert bad.value.violations[0].field == "booking"
        async with w.uow(write=False) as uow:
            assert await uow.orders.for_booking(booking_id) is None


async def test_a_booking_not_awaiting_payment_is_refused(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        cancelled = booking_events.BookingCancelled(
            booking=booking_events.BookingSnapshot(booking_id=booking_id), refund_percent=100
        )
        assert await w.booking_event(BOOKING_CANCELLED, cancelled) == "ack"
        with pytest.raises(FailedPrecondition) as refused:
            await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert refused.value.reason == "BOOKING_NOT_PENDING_PAYMENT"


async def test_credits_pay_first_and_the_card_the_rest(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        await give_credit(w, client.user_id, 1_000)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert (view.order.credit_minor, view.order.card_minor) == (1_000, 3_500)
        assert view.order.payment_intent_id is not None
        intent = await w.sandbox.retrieve_payment_intent(view.order.payment_intent_id)
        assert intent.amount == 3_500
        async with w.uow(write=False) as uow:
            credit = Account(client.user_id, AccountKind.CLIENT_CREDIT, "EUR")
            assert await uow.ledger.balance(credit) == 0
            assert await uow.ledger.balance(CLEARING) == 1_000


async def test_a_booking_that_lapses_unpaid_gives_its_credits_back_once(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        await give_credit(w, client.user_id, 1_000)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.order.payment_intent_id is not None
        expired = booking_events.BookingExpired(
            booking=booking_events.BookingSnapshot(booking_id=booking_id)
        )
        assert await w.booking_event(BOOKING_EXPIRED, expired) == "ack"
        assert await w.booking_event(BOOKING_EXPIRED, expired) == "ack"
        intent = await w.sandbox.retrieve_payment_intent(view.order.payment_intent_id)
        assert intent.status is PaymentStatus.CANCELED
        [issued] = await w.events(REFUND_ISSUED)
        assert (issued.amount.amount_minor, issued.booking_id) == (1_000, booking_id)
        async with w.uow(write=False) as uow:
            credit = Account(client.user_id, AccountKind.CLIENT_CREDIT, "EUR")
            assert await uow.ledger.balance(credit) == 1_000
            assert await uow.ledger.balance(CLEARING) == 0
            assert await uow.audit.violations() == []
        with pytest.raises(FailedPrecondition):
            await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        # Its intent can no longer be paid.
        with pytest.raises(FailedPrecondition):
            await w.treasury.confirm_sandbox_payment(
                client, view.order.payment_intent_id, "pm_card_visa"
            )


async def test_an_intent_paid_before_the_booking_lapsed_is_not_released(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.order.payment_intent_id is not None
        await w.treasury.confirm_sandbox_payment(
            client, view.order.payment_intent_id, "pm_card_visa"
        )
        expired = booking_events.BookingExpired(
            booking=booking_events.BookingSnapshot(booking_id=booking_id)
        )
        assert await w.booking_event(BOOKING_EXPIRED, expired) == "ack"
        await w.apply_webhooks()
        # Paid, and booking is told so (it confirms the booking if its time is still free,
        # or asks for the payment back).
        [paid] = await w.events(PAYMENT_SUCCEEDED)
        assert paid.booking_id == booking_id
        assert await w.events(REFUND_ISSUED) == []


async def test_an_order_credits_cover_succeeds_at_once(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        await give_credit(w, client.user_id, 5_000)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.status is PaymentStatus.SUCCEEDED
        assert view.order.payment_intent_id is None and view.order.card_minor == 0
        [paid] = await w.events(PAYMENT_SUCCEEDED)
        assert (paid.booking_id, paid.user_id, paid.amount.amount_minor) == (
            booking_id,
            client.user_id,
            4_500,
        )
        assert paid.order_id == view.order.id
        _, _, violations = await ledger(w)
        assert violations == []


async def test_a_paid_intent_posts_the_charge_and_tells_booking_once(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w, 4_500)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        intent_id = view.order.payment_intent_id
        assert intent_id is not None
        paid = await w.treasury.confirm_sandbox_payment(client, intent_id, "pm_card_visa")
        assert paid.status is PaymentStatus.SUCCEEDED
        sent = await w.sent_webhooks()
        results = [await w.treasury.receive_stripe_event(p, s) for p, s in sent]
        # Redeliveries of every event (the same ids) are answered and change nothing.
        replays = [await w.treasury.receive_stripe_event(p, s) for p, s in sent]
        assert any(applied for _, applied in results)
        assert not any(applied for _, applied in replays)
        [succeeded] = await w.events(PAYMENT_SUCCEEDED)
        assert (succeeded.payment_id, succeeded.order_id, succeeded.booking_id) == (
            intent_id,
            view.order.id,
            booking_id,
        )
        assert succeeded.user_id == client.user_id and succeeded.amount.amount_minor == 4_500
        platform, outside, violations = await ledger(w)
        assert platform[CLEARING] == 4_500 and outside[WORLD] == -4_500
        assert violations == []
        again = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert again.status is PaymentStatus.SUCCEEDED


async def test_forged_altered_and_stale_webhooks_are_refused(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.order.payment_intent_id is not None
        await w.treasury.confirm_sandbox_payment(
            client, view.order.payment_intent_id, "pm_card_visa"
        )
        sent = await w.sent_webhooks()
        succeeded = next(p for p, _ in sent if b'"payment_intent.succeeded"' in p)
        signature = dict(sent)[succeeded]
        body = json.loads(succeeded)
        body["data"]["object"]["amount_received"] = 1
        altered = json.dumps(body).encode()
        forged = f"t={int(w.clock.now().timestamp())},v1={'0' * 64}"
        attempts = [(altered, signature), (succeeded, forged), (succeeded, ""), (b"{}", signature)]
        accepted = 0
        reasons = []
        for payload, header in attempts:
            try:
                await w.treasury.receive_stripe_event(payload, header)
                accepted += 1
            except WebhookRefused as refused:
                reasons.append(refused.reason)
        w.clock.advance(timedelta(seconds=301))
        try:
            await w.treasury.receive_stripe_event(succeeded, signature)
            accepted += 1
        except WebhookRefused as refused:
            reasons.append(refused.reason)
        assert accepted == 0
        assert reasons == ["WEBHOOK_BAD_SIGNATURE"] * 2 + ["WEBHOOK_MALFORMED"] + [
            "WEBHOOK_BAD_SIGNATURE",
            "WEBHOOK_STALE",
        ]
        assert await w.events(PAYMENT_SUCCEEDED) == []
        platform, _, _ = await ledger(w)
        assert platform.get(CLEARING, 0) == 0


async def test_a_decline_tells_booking_and_charges_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.order.payment_intent_id is not None
        declined = await w.treasury.confirm_sandbox_payment(
            client, view.order.payment_intent_id, "pm_card_chargeDeclined"
        )
        assert declined.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        assert await w.apply_webhooks() >= 1
        [failed] = await w.events(PAYMENT_FAILED)
        assert (failed.booking_id, failed.reason, failed.user_id) == (
            booking_id,
            "card_declined",
            client.user_id,
        )
        assert await w.events(PAYMENT_SUCCEEDED) == []
        platform, _, _ = await ledger(w)
        assert platform.get(CLEARING, 0) == 0


async def test_events_out_of_order_only_move_the_payment_forward(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        intent_id = view.order.payment_intent_id
        assert intent_id is not None
        await w.treasury.confirm_sandbox_payment(client, intent_id, "pm_card_chargeDeclined")
        await w.treasury.confirm_sandbox_payment(client, intent_id, "pm_card_visa")
        # The success arrives first, the older decline after it.
        for payload, signature in reversed(await w.sent_webhooks()):
            await w.treasury.receive_stripe_event(payload, signature)
        assert len(await w.events(PAYMENT_SUCCEEDED)) == 1
        assert await w.events(PAYMENT_FAILED) == []
        platform, _, violations = await ledger(w)
        assert platform[CLEARING] == 4_500 and violations == []


async def test_the_sandbox_card_step_is_the_clients_own(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id = await awaiting_payment(w)
        view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
        assert view.order.payment_intent_id is not None
        with pytest.raises(NotFound):
            await w.treasury.confirm_sandbox_payment(
                person(), view.order.payment_intent_id, "pm_card_visa"
            )
        with pytest.raises(InvalidArgument) as bad:
            await w.treasury.confirm_sandbox_payment(client, view.order.payment_intent_id, "")
        assert bad.value.violations[0].field == "payment_method"
        intent = await w.sandbox.retrieve_payment_intent(view.order.payment_intent_id)
        assert intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD


async def paid_booking(w: World, amount_minor: int = 4_500, credit_minor: int = 0):
    client, booking_id = await awaiting_payment(w, amount_minor)
    if credit_minor:
        await give_credit(w, client.user_id, credit_minor)
    view = await w.treasury.create_checkout(client, f"bookings/{booking_id}", "")
    if view.order.payment_intent_id:
        await w.treasury.confirm_sandbox_payment(
            client, view.order.payment_intent_id, "pm_card_visa"
        )
        await w.apply_webhooks()
    return client, booking_id, view.order


def cancellation(booking_id: str, percent: int) -> booking_events.BookingCancelled:
    return booking_events.BookingCancelled(
        booking=booking_events.BookingSnapshot(booking_id=booking_id), refund_percent=percent
    )


async def test_a_cancellation_refunds_its_policys_share_once(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id, order = await paid_booking(w, 4_500)
        assert await w.booking_event(BOOKING_CANCELLED, cancellation(booking_id, 50)) == "ack"
        # The same event again, and booking asking for a full refund after it: still one.
        assert await w.booking_event(BOOKING_CANCELLED, cancellation(booking_id, 50)) == "ack"
        requested = booking_events.BookingRefundRequested(
            booking_id=booking_id, payment_id=order.payment_intent_id or ""
        )
        assert await w.booking_event(BOOKING_REFUND_REQUESTED, requested) == "ack"
        [issued] = await w.events(REFUND_ISSUED)
        assert (issued.booking_id, issued.user_id, issued.amount.amount_minor) == (
            booking_id,
            client.user_id,
            2_250,
        )
        assert issued.payment_id == order.payment_intent_id
        refund = await w.sandbox.retrieve_refund(issued.refund_id)
        assert (refund.amount, refund.payment_intent_id) == (2_250, order.payment_intent_id)
        platform, outside, violations = await ledger(w)
        assert platform[CLEARING] == 2_250 and outside[WORLD] == -2_250
        assert violations == []


async def test_a_refund_request_gives_everything_back_to_card_and_credits(empty_database_url):
    async with world(empty_database_url) as w:
        client, booking_id, order = await paid_booking(w, 4_500, credit_minor=1_500)
        requested = booking_events.BookingRefundRequested(
            booking_id=booking_id, payment_id=order.payment_intent_id or ""
        )
        assert await w.booking_event(BOOKING_REFUND_REQUESTED, requested) == "ack"
        [issued] = await w.events(REFUND_ISSUED)
        assert issued.amount.amount_minor == 4_500
        refund = await w.sandbox.retrieve_refund(issued.refund_id)
        assert refund.amount == 3_000
        async with w.uow(write=False) as uow:
            credit = Account(client.user_id, AccountKind.CLIENT_CREDIT, "EUR")
            assert await uow.ledger.balance(credit) == 1_500
            assert await uow.ledger.balance(CLEARING) == 0
            assert await uow.audit.violations() == []


async def test_a_refund_request_for_a_payment_not_ours_refunds_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        _, booking_id, _ = await paid_booking(w)
        requested = booking_events.BookingRefundRequested(
            booking_id=booking_id, payment_id="pay_elsewhere"
        )
        assert await w.booking_event(BOOKING_REFUND_REQUESTED, requested) == "ack"
        assert await w.events(REFUND_ISSUED) == []


async def test_a_booking_cancelled_before_it_was_paid_refunds_nothing(empty_database_url):
    async with world(empty_database_url) as w:
        _, booking_id = await awaiting_payment(w)
        assert await w.booking_event(BOOKING_CANCELLED, cancellation(booking_id, 100)) == "ack"
        assert await w.events(REFUND_ISSUED) == []
