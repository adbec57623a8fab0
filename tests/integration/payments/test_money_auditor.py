"""The auditor of whole money flows (hypothesis): clients top up credits and check bookings
out, pay or are declined, the provider's webhooks arrive shuffled and again, booking answers
payments and lapses, cancels (0, 50 or 100% back, to the card and the credits that paid) and
completes bookings (its events delivered twice too), time passes the earnings' hold, and
the practitioner is paid out on request and by the weekly batch while the bank or the
transfer fails. Among them, the practitioner's stream sells: readers tip it or a post and
unlock the post sold alone (credits first, the rest by a card that pays or declines, a
retry answered with the same order), and subscribe to its paid tiers (a card that pays or
declines), upgrade (charged at once for what is left of the period) and downgrade, cancel
at the period's end, have their card start declining, and months pass so the sandbox bills
renewals (paid, past due, ended after a second failure) and ends cancelled subscriptions,
the invoices' webhooks shuffled and redelivered with the rest. After every step the
database agrees with a small model of who holds what (each paid stream order and paid
invoice the creator's earning less the commission, once; nothing for a declined one),
every invariant `estuary ledger check` checks holds, and every object at the provider
(intent, refund, transfer, reversal, payout, invoice) is exactly one transaction in the
ledger.

On SQLite, each example on a copy of one migrated database (building payments per example
costs a second); booking is played by the model, which answers payments' events as booking
does, and streams by the shelf of sale terms the world's payments asks. The concurrency of
each piece is held by the races on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from chassis.auth.principal import Principal, Role
from chassis.errors import FailedPrecondition, Unavailable
from chassis.ids import new_id
from chassis.money import Money
from chassis.tables import outbox
from estuary.booking.v1 import events_pb2 as booking_events
from services.payments.domain import earnings as earnings_domain
from services.payments.domain.credits import CreditPurchaseStatus
from services.payments.domain.earnings import split
from services.payments.domain.ledger import EXTERNAL, PLATFORM, Account, AccountKind
from services.payments.domain.orders import OrderStatus
from services.payments.domain.payouts import PayoutStatus
from services.payments.domain.stream_orders import StreamOrder, StreamOrderKind, StreamOrderStatus
from services.payments.domain.subscriptions import LIVE, SubscriptionStatus
from services.payments.events import (
    BOOKING_CANCELLED,
    BOOKING_CONFIRMED,
    BOOKING_CREATED,
    BOOKING_EXPIRED,
    BOOKING_REFUND_REQUESTED,
    EARNING_RECORDED,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    PAYOUT_FAILED,
    PAYOUT_PAID,
    REFUND_ISSUED,
    STREAM_ORDER_PAID,
)
from services.payments.provider.port import PaymentStatus
from services.payments.service_layer import checkout, stream_subscriptions
from services.payments.service_layer.subscriptions import INVOICE_PAID, STATUS_OF
from services.payments.settings import PaymentsSettings
from services.payments.tables import ledger_transactions, stream_orders
from services.payments.uow import PaymentsUnitOfWork
from tests.builders import person
from tests.integration.payments.test_checkout_races import sandbox_objects
from tests.integration.payments.world import World, world

CURRENCY = "EUR"
PRICES = (4_500, 7_000, 10_000)
TOP_UPS = (2_000, 5_000)
VISA, DECLINED = "pm_card_visa", "pm_card_chargeDeclined"
# Attaches to a subscription, then declines every charge: the renewal (or upgrade) that fails.
FAILS_LATER = "pm_card_chargeCustomerFail"
TIPS = (100, 500, 2_500)
UNLOCK_PRICE = 800
TIER_PRICES = {1: 500, 2: 1_200}
PERIOD_SECONDS = 30 * 24 * 3600  # the sandbox's month
SUBSCRIPTIONS_AT_MOST = 6
FREE_TIER_BPS = 2_000
HOLD = timedelta(hours=48)
# A payout minimum of 10.00 (configurable; 50.00 by default), so one earning can be paid out.
MINIMUM = 1_000
CLIENTS = 3
TOP_UPS_AT_MOST = 4
AWAITING_AT_MOST = 3  # bookings awaiting payment at once, so the steps go to moving them on
# How a payout goes: paid, refused by the bank after its transfer, or its transfer refused.
OUTCOMES = ("paid", "paid", "bank_fails", "transfer_refused")
ORDER_MATTERS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "account.updated",
        "payout.paid",
        "payout.failed",
        INVOICE_PAID,
        "invoice.payment_failed",
    }
)


class Stage(StrEnum):
    """Where a booking stands at booking (the model plays booking)."""

    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    COMPLETED = "completed"


@dataclass
class Intent:
    """A payment intent at the provider: an order's card share (a booking's or a stream
    order's) or a credit top-up."""

    amount: int
    status: PaymentStatus = PaymentStatus.REQUIRES_PAYMENT_METHOD
    booking_id: str = ""
    purchase_id: str = ""
    stream_order_id: str = ""
    # The sandbox's card step is keyed by the card: a card tried again replays its answer.
    tried: dict[str, PaymentStatus] = field(default_factory=dict)


@dataclass
class Ordered:
    """A booking's order: what credits and the card pay, and the intent it holds."""

    id: str
    credit: int
    card: int
    status: OrderStatus
    intent_id: str = ""


@dataclass
class Booked:
    """A booking, as booking has it and as payments was paid for it."""

    client: Principal
    price: int
    stage: Stage = Stage.PENDING_PAYMENT
    order: Ordered | None = None
    payment_id: str = ""
    amount_paid: int = 0
    # A refund transaction was posted (a refund, or the credits of a released order).
    refunded: bool = False
    card_refund: int = 0
    completion: booking_events.BookingCompleted | None = None
    completion_event_id: str = ""


@dataclass
class StreamOrdered:
    """A reader's tip or post unlock: what credits and the card pay."""

    client: Principal
    kind: StreamOrderKind
    amount: int
    credit: int
    status: StreamOrderStatus
    intent_id: str = ""

    @property
    def card(self) -> int:
        return self.amount - self.credit


@dataclass
class Subscribed:
    """A reader's subscription to a paid tier: as the sandbox bills it (the amount its price
    bills, its period, its card, the invoices made) and as payments holds it (every provider
    change's webhook is applied at once, so payments' row follows the provider's state)."""

    client: Principal
    id: str
    provider_id: str
    status: SubscriptionStatus
    level: int
    billed: int
    period_start: int
    period_end: int
    next_level: int | None = None
    cancel_at_period_end: bool = False
    card_fails: bool = False
    failed_renewals: int = 0
    # Each invoice the sandbox made: its amount, whether paid.
    invoices: list[tuple[int, bool]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def bill(self, amount: int) -> bool:
        """An invoice charged to the subscription's card; whether paid (nothing owed is)."""
        paid = amount == 0 or not self.card_fails
        self.invoices.append((amount, paid))
        return paid


@dataclass
class TopUp:
    """A client's credit top-up by card."""

    client: Principal
    amount: int
    status: CreditPurchaseStatus = CreditPurchaseStatus.PENDING


@dataclass
class PaidOut:
    """A payout: how it went at the provider, and whether payments has heard so."""

    amount: int
    status: PayoutStatus
    transferred: bool
    bank_fails: bool
    reversed: bool = False


@dataclass
class Earned:
    """A practitioner's earning of one completed booking."""

    net: int
    available_at: datetime
    released: bool = False


class MoneyAuditor(RuleBasedStateMachine):
    """Payments driven step by step beside a model of where the money should be."""

    def __init__(self, template: Path, folder: Path) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        copy = folder / f"{new_id()}.db"
        shutil.copy(template, copy)
        self.w: World = self.run(
            self.stack.enter_async_context(
                world(f"sqlite+aiosqlite:///{copy}", payout_minimum=Decimal("10.00"))
            )
        )
        self.practitioner = person(self.w.practitioner_user_id, Role.PRACTITIONER)
        self.clients = [person() for _ in range(CLIENTS)]
        self.balances: Counter[Account] = Counter()
        self.bookings: dict[str, Booked] = {}
        self.booking_ids: list[str] = []
        self.intents: dict[str, Intent] = {}
        self.intent_ids: list[str] = []
        self.top_ups: dict[str, TopUp] = {}
        self.earnings: list[Earned] = []
        self.payouts: dict[str, PaidOut] = {}
        self.pending_webhooks: list[bytes] = []
        self.delivered_webhooks: list[bytes] = []
        self.told = Counter[str]()  # payments' events, by type, as the model expects them
        self.heard = Counter[str]()  # payments' events booking has answered, by type
        self.account_id = ""
        self.account_ready = False  # payments knows the account may be paid out
        self.bank_fails = False
        # The practitioner's stream, as streams sells it: a post to tip, one sold alone, and
        # two paid tiers.
        shelf = self.w.shelf
        self.stream = shelf.stream(self.w.practitioner_user_id)
        self.post = shelf.post(self.stream)
        self.paid_post = shelf.post(self.stream, Money(UNLOCK_PRICE, CURRENCY))
        self.tiers = {
            level: shelf.paid_tier(self.stream, level, Money(price, CURRENCY))
            for level, price in TIER_PRICES.items()
        }
        self.stream_orders: dict[str, StreamOrdered] = {}
        self.unlocks: dict[str, str] = {}  # a reader's unlock of the paid post: its order
        self.subscriptions: list[Subscribed] = []
        self.paid_invoices: dict[str, int] = {}  # invoices whose invoice.paid was applied

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()

    # The model's ledger: what each account holds.
    def move(self, source: Account, destination: Account, amount: int) -> None:
        self.balances[source] -= amount
        self.balances[destination] += amount

    def credit(self, client: Principal) -> Account:
        return Account(client.user_id, AccountKind.CLIENT_CREDIT, CURRENCY)

    def practitioners(self, kind: AccountKind) -> Account:
        return Account(self.w.practitioner_user_id, kind, CURRENCY)

    def now(self) -> datetime:
        return self.w.clock.now()

    def pick(self, ids: list[str], index: int) -> str | None:
        return ids[index % len(ids)] if ids else None

    def in_stage(self, *stages: Stage) -> list[str]:
        return [i for i in self.booking_ids if self.bookings[i].stage in stages]

    def expect(self, work: Any, refusal: str | None) -> Any:
        """Runs work; the model says whether it succeeds or which reason refuses it."""
        try:
            done = self.run(work)
        except FailedPrecondition as refused:
            assert refused.reason == refusal, f"refused {refused.reason}, expected {refusal}"
            return None
        assert refusal is None, f"succeeded, but the model expected {refusal}"
        return done

    def collect_webhooks(self) -> None:
        """What the provider sent joins the deliveries still on their way; events payments
        does nothing with are delivered at once (still each applied once), so the steps go
        to the deliveries whose order matters."""
        for payload, _ in self.run(self.w.sent_webhooks()):
            if json.loads(payload)["type"] in ORDER_MATTERS:
                self.pending_webhooks.append(payload)
            else:
                _, applied = self.run(
                    self.w.treasury.receive_stripe_event(payload, self.w.signed(payload))
                )
                assert applied
                self.delivered_webhooks.append(payload)

    def tell_booking(self, event_type: Any, message: Any) -> None:
        assert self.run(self.w.booking_event(event_type, message)) == "ack"

    # Money coming in.
    def top_up(self, client: int, amount: int, card: str) -> None:
        """A client tops their credit up by card."""
        who = self.clients[client]
        view = self.run(self.w.treasury.top_up_credits(who, Money(amount, CURRENCY), new_id()))
        intent_id = view.purchase.payment_intent_id
        self.top_ups[view.purchase.id] = TopUp(who, amount)
        self.intents[intent_id] = Intent(amount, purchase_id=view.purchase.id)
        self.intent_ids.append(intent_id)
        self.pay_intent(intent_id, card)

    def book(self, client: int, price: int, checks_out: bool) -> None:
        """A client books, and checks out at once (or later, or never)."""
        who = self.clients[client]
        created = self.w.created(who.user_id, price)
        self.tell_booking(BOOKING_CREATED, created)
        booking_id = created.booking.booking_id
        self.bookings[booking_id] = Booked(who, price)
        self.booking_ids.append(booking_id)
        if checks_out:
            self.check_out(len(self.booking_ids) - 1, awaiting=False)

    def check_out(self, index: int, awaiting: bool, answer_lost: bool = False) -> None:
        """A client checks a booking out: one awaiting payment, or any (refused unless paid);
        the provider's answer to the intent's creation may be lost on the way back (the
        client's retry gets the same intent)."""
        candidates = self.in_stage(Stage.PENDING_PAYMENT) if awaiting else self.booking_ids
        booking_id = self.pick(candidates or self.booking_ids, index)
        assert booking_id is not None
        booked = self.bookings[booking_id]
        order = booked.order
        pending = booked.stage is Stage.PENDING_PAYMENT
        if order is None:
            refusal = None if pending else "BOOKING_NOT_PENDING_PAYMENT"
        elif order.status is OrderStatus.PAID or (order.status is OrderStatus.OPEN and pending):
            refusal = None
        else:
            refusal = "BOOKING_NOT_PENDING_PAYMENT"
        credit = (
            min(self.balances[self.credit(booked.client)], booked.price)
            if order is None
            else order.credit
        )
        makes_intent = refusal is None and credit < booked.price and not (order and order.intent_id)
        lost = answer_lost and makes_intent
        work = self.w.treasury.create_checkout(booked.client, f"bookings/{booking_id}", new_id())
        with self.w.intent_answers_lost() if lost else nullcontext() as made:
            try:
                view = self.expect(work, refusal)
            except Unavailable:
                assert lost, "the provider answered, yet checkout found it silent"
                view = None
        if refusal is not None:
            return
        intent = made[0] if made else None
        if order is None:
            card = booked.price - credit
            order_id = view.order.id if view else intent.order_id if intent else ""
            order = Ordered(order_id, credit, card, OrderStatus.OPEN if card else OrderStatus.PAID)
            booked.order = order
            if credit:
                self.move(self.credit(booked.client), CLEARING, credit)
            if not card:
                self.told[PAYMENT_SUCCEEDED.name] += 1
        intent_id = view.order.payment_intent_id if view else intent.id if intent else None
        if intent_id and intent_id not in self.intents:
            self.intents[intent_id] = Intent(order.card, booking_id=booking_id)
            self.intent_ids.append(intent_id)
        if view is None:
            return  # the order holds no intent yet; the next checkout attaches the same one
        assert (view.order.credit_minor, view.order.card_minor) == (order.credit, order.card)
        order.intent_id = view.order.payment_intent_id or ""
        expected = self.intents[order.intent_id].status if order.card else PaymentStatus.SUCCEEDED
        assert view.status is expected

    def pay(self, index: int, card: str, payable: bool) -> None:
        """The client confirms an intent with a card: one awaiting payment, or any."""
        reachable = [i for i in self.intent_ids if self.attached(i)]
        waiting = [
            i for i in reachable if self.intents[i].status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        ]
        intent_id = self.pick((waiting if payable else []) or reachable, index)
        assert intent_id is not None
        self.pay_intent(intent_id, card)

    def attached(self, intent_id: str) -> bool:
        """Whether the intent's client can pay it: a top-up's, or one its order holds (one
        whose answer was lost is paid once a checkout has attached it)."""
        booking_id = self.intents[intent_id].booking_id
        order = self.bookings[booking_id].order if booking_id else None
        return not booking_id or (order is not None and order.intent_id == intent_id)

    def pay_intent(self, intent_id: str, card: str) -> None:
        intent = self.intents[intent_id]
        if intent.booking_id:
            payer = self.bookings[intent.booking_id].client
        elif intent.stream_order_id:
            payer = self.stream_orders[intent.stream_order_id].client
        else:
            payer = self.top_ups[intent.purchase_id].client
        replayed = intent.tried.get(card)
        confirmable = intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        refusal = None if replayed or confirmable else "PAYMENT_NOT_CONFIRMABLE"
        work = self.w.treasury.confirm_sandbox_payment(payer, intent_id, card)
        view = self.expect(work, refusal)
        if view is None:
            return
        if replayed is None:
            intent.status = PaymentStatus.SUCCEEDED if card == VISA else intent.status
            intent.tried[card] = intent.status
        assert view.status is intent.tried[card]
        self.collect_webhooks()

    # The provider's webhooks, in any order, any number of times.
    def deliver_webhook(self, index: int, again: bool, booking_answers: bool) -> None:
        """One of the deliveries on their way, any of them, or one delivered already again;
        booking hears what payments said of it at once, or later."""
        if (again and self.delivered_webhooks) or not self.pending_webhooks:
            self.redeliver_webhook(index)
            return
        payload = self.pending_webhooks.pop(index % len(self.pending_webhooks))
        _, applied = self.run(self.w.treasury.receive_stripe_event(payload, self.w.signed(payload)))
        assert applied
        self.delivered_webhooks.append(payload)
        event = json.loads(payload)
        found = event["data"]["object"]
        if event["type"] in (checkout.INTENT_SUCCEEDED, checkout.INTENT_FAILED):
            self.intent_event(found["id"], declined=event["type"] == checkout.INTENT_FAILED)
        elif event["type"] == "account.updated":
            self.account_ready = True  # onboarding is done before the event is sent
        elif event["type"] in ("payout.paid", "payout.failed"):
            self.payout_event(found["metadata"]["payout_id"])
        elif event["type"] == INVOICE_PAID:
            self.invoice_paid(found["id"], found["amount_due"])
        self.collect_webhooks()
        if booking_answers:
            self.booking_hears_payments(successes_first=True)

    def redeliver_webhook(self, index: int) -> None:
        payload = self.delivered_webhooks[index % len(self.delivered_webhooks)]
        _, applied = self.run(self.w.treasury.receive_stripe_event(payload, self.w.signed(payload)))
        assert not applied

    def intent_event(self, intent_id: str, *, declined: bool) -> None:
        """An intent's event, read as the intent stands now at the provider."""
        intent = self.intents[intent_id]
        succeeded = intent.status is PaymentStatus.SUCCEEDED
        declined_now = declined and intent.status is PaymentStatus.REQUIRES_PAYMENT_METHOD
        if intent.stream_order_id:
            # A decline leaves the order open for another card, and tells nobody.
            ordered = self.stream_orders[intent.stream_order_id]
            if succeeded and ordered.status is StreamOrderStatus.OPEN:
                ordered.status = StreamOrderStatus.PAID
                self.move(WORLD, CLEARING, ordered.card)
                self.stream_order_earned(ordered.amount)
            return
        if intent.purchase_id:
            top_up = self.top_ups[intent.purchase_id]
            if succeeded and top_up.status is not CreditPurchaseStatus.PAID:
                top_up.status = CreditPurchaseStatus.PAID
                self.move(WORLD, self.credit(top_up.client), top_up.amount)
            elif declined_now and top_up.status is CreditPurchaseStatus.PENDING:
                top_up.status = CreditPurchaseStatus.FAILED
            return
        order = self.bookings[intent.booking_id].order
        assert order is not None
        if succeeded and order.status is not OrderStatus.PAID:
            assert order.status is OrderStatus.OPEN, "a released order's intent was paid"
            order.status = OrderStatus.PAID
            self.move(WORLD, CLEARING, order.card)
            self.told[PAYMENT_SUCCEEDED.name] += 1
        elif declined_now and order.status is OrderStatus.OPEN:
            self.told[PAYMENT_FAILED.name] += 1

    def payout_event(self, payout_id: str) -> None:
        payout = self.payouts[payout_id]
        if payout.status is not PayoutStatus.SUBMITTED:
            return
        if payout.bank_fails:
            payout.reversed = True
            self.fail_payout(payout)
        else:
            payout.status = PayoutStatus.PAID
            self.told[PAYOUT_PAID.name] += 1

    # Booking, answering payments and moving its bookings on.
    def booking_hears_payments(self, successes_first: bool) -> None:
        """Booking's consumer of payment events: a payment confirms its booking (one that
        lapsed too, its time taken again), or is sent back; a decline lets the booking go."""
        heard = [
            (PAYMENT_SUCCEEDED, self.run(self.w.events(PAYMENT_SUCCEEDED))),
            (PAYMENT_FAILED, self.run(self.w.events(PAYMENT_FAILED))),
        ]
        for event_type, messages in heard if successes_first else heard[::-1]:
            for message in messages[self.heard[event_type.name] :]:
                self.heard[event_type.name] += 1
                if event_type is PAYMENT_SUCCEEDED:
                    self.payment_arrived(message)
                else:
                    self.payment_declined(message.booking_id)

    def payment_arrived(self, paid: Any) -> None:
        booked = self.bookings[paid.booking_id]
        if booked.stage in (Stage.PENDING_PAYMENT, Stage.EXPIRED):
            booked.stage = Stage.CONFIRMED
            booked.payment_id = paid.payment_id
            booked.amount_paid = paid.amount.amount_minor
            self.tell_booking(
                BOOKING_CONFIRMED,
                booking_events.BookingConfirmed(
                    booking=booking_events.BookingSnapshot(booking_id=paid.booking_id)
                ),
            )
        elif booked.payment_id != paid.payment_id:
            self.tell_booking(
                BOOKING_REFUND_REQUESTED,
                booking_events.BookingRefundRequested(
                    booking_id=paid.booking_id, payment_id=paid.payment_id
                ),
            )
            self.refund(booked, 100, paid.payment_id)

    def payment_declined(self, booking_id: str) -> None:
        booked = self.bookings[booking_id]
        if booked.stage is Stage.PENDING_PAYMENT:
            self.lapse_booking(booking_id)

    def hold_lapses(self, index: int) -> None:
        booking_id = self.pick(self.in_stage(Stage.PENDING_PAYMENT), index)
        assert booking_id is not None
        self.lapse_booking(booking_id)

    def lapse_booking(self, booking_id: str) -> None:
        self.bookings[booking_id].stage = Stage.EXPIRED
        self.tell_booking(
            BOOKING_EXPIRED,
            booking_events.BookingExpired(
                booking=booking_events.BookingSnapshot(booking_id=booking_id)
            ),
        )
        self.release(self.bookings[booking_id])
        self.collect_webhooks()

    def cancel(self, index: int, percent: int, paid: bool) -> None:
        """The client or the practitioner cancels a booking, paid or still awaiting payment;
        booking's policy says what share goes back."""
        stage = Stage.CONFIRMED if paid else Stage.PENDING_PAYMENT
        booking_id = self.pick(self.in_stage(stage) or self.in_stage(*CANCELLABLE), index)
        assert booking_id is not None
        booked = self.bookings[booking_id]
        if booked.stage is Stage.PENDING_PAYMENT:
            percent = 0  # as booking says: nothing was paid; a payment on its way goes back whole
        booked.stage = Stage.CANCELLED
        self.tell_booking(
            BOOKING_CANCELLED,
            booking_events.BookingCancelled(
                booking=booking_events.BookingSnapshot(booking_id=booking_id),
                refund_percent=percent,
            ),
        )
        self.release(booked)
        self.refund(booked, percent)
        self.collect_webhooks()

    def release(self, booked: Booked) -> None:
        """An order its booking left unpaid: its intent cancelled (unless paid meanwhile),
        its credits back."""
        order = booked.order
        if order is None or order.status is not OrderStatus.OPEN:
            return
        if order.intent_id:
            intent = self.intents[order.intent_id]
            if intent.status is PaymentStatus.SUCCEEDED:
                return  # its webhook pays the order; booking sends the payment back
            intent.status = PaymentStatus.CANCELED
        order.status = OrderStatus.RELEASED
        if order.credit:
            self.move(CLEARING, self.credit(booked.client), order.credit)
            booked.refunded = True
            self.told[REFUND_ISSUED.name] += 1

    def refund(self, booked: Booked, percent: int, payment_id: str | None = None) -> None:
        """percent of a paid order back to the card and the credits that paid it, once."""
        order = booked.order
        if order is None or order.status is not OrderStatus.PAID or booked.refunded:
            return
        if payment_id is not None and payment_id not in (order.intent_id, order.id):
            return
        card, credit = order.card * percent // 100, order.credit * percent // 100
        if card + credit == 0:
            return
        self.move(CLEARING, WORLD, card)
        self.move(CLEARING, self.credit(booked.client), credit)
        booked.refunded = True
        booked.card_refund = card
        self.told[REFUND_ISSUED.name] += 1

    def complete(self, index: int) -> None:
        booking_id = self.pick(self.in_stage(Stage.CONFIRMED), index)
        assert booking_id is not None
        booked = self.bookings[booking_id]
        booked.stage = Stage.COMPLETED
        booked.completion = self.w.completion(
            booked.amount_paid, booking_id=booking_id, completed_at=self.now()
        )
        booked.completion_event_id = new_id()
        delivery = self.w.delivery(booked.completion, booked.completion_event_id)
        assert self.run(self.w.deliver(delivery)) == "ack"
        self.earned(booked.amount_paid)

    def earned(self, amount: int) -> None:
        """What was paid for work leaves clearing: the practitioner's pending earning less
        the Free tier's commission, released after the hold."""
        net, commission = split(Money(amount, CURRENCY), FREE_TIER_BPS)
        self.balances[CLEARING] -= amount
        self.balances[self.practitioners(AccountKind.PRACTITIONER_PENDING)] += net.amount_minor
        self.balances[REVENUE] += commission.amount_minor
        self.earnings.append(Earned(net.amount_minor, self.now() + HOLD))
        self.told[EARNING_RECORDED.name] += 1

    def stream_order_earned(self, amount: int) -> None:
        self.earned(amount)
        self.told[STREAM_ORDER_PAID.name] += 1

    def completion_again(self, index: int, same_event: bool) -> None:
        """booking.completed redelivered, or published again under a new id."""
        booking_id = self.pick(self.in_stage(Stage.COMPLETED), index)
        assert booking_id is not None
        booked = self.bookings[booking_id]
        assert booked.completion is not None
        event_id = booked.completion_event_id if same_event else new_id()
        assert self.run(self.w.deliver(self.w.delivery(booked.completion, event_id))) == "ack"

    # Stream money: readers' tips, unlocks and subscriptions to the practitioner's stream.
    def stream_order(
        self, client: int, unlock: bool, amount: int, on_post: bool, card: str
    ) -> None:
        """A reader tips the stream or its post, or unlocks the post sold alone (asked again:
        the same order), retries with the same key, and pays the rest of it by card."""
        who = self.clients[client]
        kind = StreamOrderKind.UNLOCK if unlock else StreamOrderKind.TIP
        target = self.paid_post if unlock else self.post if on_post else self.stream
        price = UNLOCK_PRICE if unlock else amount
        asked = None if unlock else Money(amount, CURRENCY)
        request_id = new_id()
        view = self.run(self.w.treasury.create_stream_order(who, kind, target, asked, request_id))
        retried = self.run(
            self.w.treasury.create_stream_order(who, kind, target, asked, request_id)
        )
        assert retried.order.id == view.order.id
        earlier = self.unlocks.get(who.user_id) if unlock else None
        if earlier is not None:
            assert view.order.id == earlier
            ordered = self.stream_orders[earlier]
        else:
            credit = min(self.balances[self.credit(who)], price)
            status = StreamOrderStatus.OPEN if credit < price else StreamOrderStatus.PAID
            ordered = StreamOrdered(who, kind, price, credit, status)
            self.stream_orders[view.order.id] = ordered
            if unlock:
                self.unlocks[who.user_id] = view.order.id
            if credit:
                self.move(self.credit(who), CLEARING, credit)
            if status is StreamOrderStatus.PAID:
                self.stream_order_earned(price)
        assert (view.order.credit_minor, view.order.card_minor) == (ordered.credit, ordered.card)
        assert view.order.status is ordered.status
        if not ordered.card:
            assert view.status is PaymentStatus.SUCCEEDED
            return
        intent_id = view.order.payment_intent_id
        assert intent_id and retried.order.payment_intent_id == intent_id
        if not ordered.intent_id:
            ordered.intent_id = intent_id
            self.intents[intent_id] = Intent(ordered.card, stream_order_id=view.order.id)
            self.intent_ids.append(intent_id)
        assert view.status is self.intents[intent_id].status
        self.pay_intent(intent_id, card)

    def subscribe(self, client: int, level: int, card: str) -> None:
        """A reader subscribes to a paid tier, its first month charged to the card at once:
        refused while they hold a live subscription to the stream, or if the card declines."""
        who = self.clients[client]
        price = TIER_PRICES[level]
        holding = any(s.client is who and s.live for s in self.subscriptions)
        refusal = "SUBSCRIPTION_EXISTS" if holding else None if card == VISA else "PAYMENT_DECLINED"
        work = self.w.treasury.subscribe_to_stream(who, self.tiers[level], card, new_id())
        made = self.expect(work, refusal)
        if holding:
            return
        if made is None:
            # Voided at the provider, its first invoice unpaid; the reader may try again.
            made = self.run(self.w.treasury.list_stream_subscriptions(who, 1, "")).items[0]
        start = int(self.now().timestamp())
        subscribed = Subscribed(
            who,
            made.id,
            made.provider_subscription_id,
            SubscriptionStatus.ACTIVE if card == VISA else SubscriptionStatus.FAILED,
            level,
            price,
            start,
            start + PERIOD_SECONDS,
            card_fails=card != VISA,
        )
        subscribed.bill(price)
        self.subscriptions.append(subscribed)
        self.collect_webhooks()

    def live_subscription(self, index: int) -> Subscribed:
        """A live subscription if there is one, else any."""
        live = [s for s in self.subscriptions if s.live]
        return (live or self.subscriptions)[index % len(live or self.subscriptions)]

    def change_level(self, index: int, level: int) -> None:
        """A reader moves to another paid tier: up at once (what is left of the period
        charged now at the difference, past due if the card declines), down from the next
        period; the level held undoes a downgrade asked; a past-due one changes nothing."""
        subscribed = self.live_subscription(index)
        refusal = None
        if not subscribed.live or subscribed.cancel_at_period_end:
            refusal = "SUBSCRIPTION_ENDING"
        elif subscribed.status is SubscriptionStatus.PAST_DUE:
            refusal = "SUBSCRIPTION_PAST_DUE"  # nothing changes, nothing is charged
        elif level > subscribed.level:
            now = int(self.now().timestamp())
            left = max(subscribed.period_end - now, 0)
            length = subscribed.period_end - subscribed.period_start
            owed = (TIER_PRICES[level] - subscribed.billed) * left // length
            if not subscribed.bill(owed):
                subscribed.status = SubscriptionStatus.PAST_DUE
            subscribed.billed = TIER_PRICES[level]
            subscribed.level, subscribed.next_level = level, None
            if subscribed.status is not SubscriptionStatus.ACTIVE:
                refusal = "PAYMENT_DECLINED"  # answered so, the change kept: past due until paid
        elif level < subscribed.level or subscribed.next_level not in (None, level):
            subscribed.billed = TIER_PRICES[level]
            subscribed.next_level = None if level == subscribed.level else level
        name = f"streamSubscriptions/{subscribed.id}"
        self.expect(self.w.treasury.change_stream_level(subscribed.client, name, level), refusal)
        self.collect_webhooks()

    def cancel_subscription(self, index: int) -> None:
        """A reader cancels at the period's end (asked again: nothing more)."""
        subscribed = self.live_subscription(index)
        refusal = None if subscribed.live else "SUBSCRIPTION_ENDING"
        subscribed.cancel_at_period_end = subscribed.cancel_at_period_end or subscribed.live
        name = f"streamSubscriptions/{subscribed.id}"
        self.expect(self.w.treasury.cancel_stream_subscription(subscribed.client, name), refusal)
        self.collect_webhooks()

    def card_changes(self, index: int, fails: bool) -> None:
        """The reader's card for later renewals starts declining, or pays again."""
        subscribed = self.live_subscription(index)
        card = FAILS_LATER if fails else VISA
        self.run(self.w.sandbox.update_subscription_payment_method(subscribed.provider_id, card))
        subscribed.card_fails = fails
        self.collect_webhooks()

    def month_passes(self, days: int) -> None:
        """Time passes and the sandbox's billing runs once: each live subscription whose
        period is over renews (paid, or past due; a second failure in a row ends it), or
        ends if cancelled."""
        self.time_passes(days * 24)
        now = int(self.now().timestamp())
        for subscribed in self.subscriptions:
            if not subscribed.live or subscribed.period_end > now:
                continue
            if subscribed.cancel_at_period_end:
                subscribed.status = SubscriptionStatus.ENDED
            elif subscribed.bill(subscribed.billed):
                subscribed.period_start = subscribed.period_end
                subscribed.period_end += PERIOD_SECONDS
                subscribed.status = SubscriptionStatus.ACTIVE
                subscribed.failed_renewals = 0
                subscribed.level = subscribed.next_level or subscribed.level
                subscribed.next_level = None
            elif subscribed.failed_renewals:
                subscribed.status = SubscriptionStatus.ENDED
            else:
                subscribed.status = SubscriptionStatus.PAST_DUE
                subscribed.failed_renewals = 1
        self.run(self.w.sandbox.renew_subscriptions())
        self.collect_webhooks()

    def invoice_paid(self, invoice_id: str, amount: int) -> None:
        """A paid invoice of a stream subscription is one stream order, earned as a tip is
        (nothing owed: nothing)."""
        if amount:
            self.paid_invoices[invoice_id] = amount
            self.move(WORLD, CLEARING, amount)
            self.stream_order_earned(amount)

    # Earnings and payouts.
    def time_passes(self, hours: int) -> None:
        self.w.clock.advance(timedelta(hours=hours))
        released = self.run(self.w.treasury.release_earnings())
        due = [e for e in self.earnings if not e.released and e.available_at <= self.now()]
        assert released == len(due)
        for earned in due:
            earned.released = True
            self.move(
                self.practitioners(AccountKind.PRACTITIONER_PENDING),
                self.practitioners(AccountKind.PRACTITIONER_AVAILABLE),
                earned.net,
            )

    def onboard(self) -> None:
        account, link = self.run(self.w.treasury.create_payout_account(self.practitioner))
        self.run(self.w.sandbox.complete_onboarding(link))
        self.account_id = account.account_id
        self.collect_webhooks()

    def bank_account_is(self, failing: bool) -> None:
        """The practitioner's bank account refuses payouts (closed), or takes them."""
        if self.account_id and failing != self.bank_fails:
            self.run(self.w.sandbox.make_payouts_fail(self.account_id, fail=failing))
            self.bank_fails = failing

    def payout_requested(self, outcome: str) -> None:
        self.bank_account_is(outcome == "bank_fails")
        transfer_refused = outcome == "transfer_refused"
        # Asking for a payout reads the account again from the provider.
        self.account_ready = self.account_ready or bool(self.account_id)
        available = self.balances[self.practitioners(AccountKind.PRACTITIONER_AVAILABLE)]
        refusal = (
            "PAYOUTS_NOT_ENABLED"
            if not self.account_id
            else "BELOW_PAYOUT_MINIMUM"
            if available < MINIMUM
            else None
        )
        with self.w.transfers_refused() if transfer_refused else nullcontext():
            work = self.w.treasury.create_payout(self.practitioner, CURRENCY, new_id())
            payout = self.expect(work, refusal)
        if payout is not None:
            self.payout_made(payout.id, available, transfer_refused)
            assert payout.status is self.payouts[payout.id].status

    def weekly_batch(self, outcome: str) -> None:
        self.bank_account_is(outcome == "bank_fails")
        transfer_refused = outcome == "transfer_refused"
        available = self.balances[self.practitioners(AccountKind.PRACTITIONER_AVAILABLE)]
        due = self.account_ready and available >= MINIMUM
        with self.w.transfers_refused() if transfer_refused else nullcontext():
            assert self.run(self.w.treasury.pay_out_everyone()) == int(due)
        if due:
            newest = self.run(self.w.treasury.list_payouts(self.practitioner, 1, "")).items[0]
            self.payout_made(newest.id, available, transfer_refused)

    def payout_made(self, payout_id: str, amount: int, transfer_refused: bool) -> None:
        payout = PaidOut(amount, PayoutStatus.SUBMITTED, not transfer_refused, self.bank_fails)
        self.payouts[payout_id] = payout
        self.move(
            self.practitioners(AccountKind.PRACTITIONER_AVAILABLE),
            self.practitioners(AccountKind.PRACTITIONER_PAID_OUT),
            amount,
        )
        if transfer_refused:
            self.fail_payout(payout)
        self.collect_webhooks()

    def fail_payout(self, payout: PaidOut) -> None:
        payout.status = PayoutStatus.FAILED
        self.move(
            self.practitioners(AccountKind.PRACTITIONER_PAID_OUT),
            self.practitioners(AccountKind.PRACTITIONER_AVAILABLE),
            payout.amount,
        )
        self.told[PAYOUT_FAILED.name] += 1

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One thing happens: which, and how, drawn from what can happen now (a table
        rather than a rule each, so each example mixes every kind of step in the
        proportions a money flow needs, instead of hypothesis's swarm leaving most out)."""
        able = [a.name for a in ACTIONS.values() for _ in range(a.weight) if a.able(self)]
        name = data.draw(st.sampled_from(able), label="step")
        getattr(self, name)(**data.draw(st.fixed_dictionaries(ACTIONS[name].given), label=name))

    # After every step.
    @invariant()
    def the_ledger_holds_every_invariant_and_agrees_with_the_model(self) -> None:
        self.run(self.audit())

    async def audit(self) -> None:
        """The ledger's invariants, then the database and the provider against the model."""
        w = self.w
        async with w.uow(write=False) as uow:
            assert await uow.audit.violations() == []
            owners = [c.user_id for c in self.clients] + [w.practitioner_user_id]
            held: dict[Account, int] = {}
            for owner in [*owners, PLATFORM, EXTERNAL]:
                held.update(await uow.ledger.balances_of(owner))
            posted = Counter(
                (row.kind, row.cause)
                for row in await uow.connection.execute(
                    sa.select(ledger_transactions.c.kind, ledger_transactions.c.cause)
                )
            )
            stored_top_ups = {i: await uow.credit_purchases.get(i) for i in self.top_ups}
            stored_payouts = {
                p.id: p
                for p in (
                    await uow.payouts.page_of_user(w.practitioner_user_id, after=None, limit=1000)
                )[0]
            }
            stored_orders = list(await uow.connection.execute(sa.select(stream_orders)))
            # Counted in one query: decoding every message of each type was half of a step.
            counted = await uow.connection.execute(
                sa.select(outbox.c.event_type, sa.func.count()).group_by(outbox.c.event_type)
            )
            outboxed = {event_type: n for event_type, n in counted}
            stored_subscriptions = [
                await uow.stream_subscriptions.get(s.id) for s in self.subscriptions
            ]
        assert {i: p.status if p else None for i, p in stored_top_ups.items()} == {
            i: t.status for i, t in self.top_ups.items()
        }
        assert {a: n for a, n in held.items() if n} == {a: n for a, n in self.balances.items() if n}
        # An earning's release is caused by the earning, whose id only payments knows.
        releases = sum(n for (kind, _), n in posted.items() if kind == "earning_release")
        assert releases == sum(e.released for e in self.earnings)
        # Tips and unlocks as the model has them; one order per paid invoice heard, whose
        # id only payments knows.
        assert {
            o.id: (
                StreamOrderKind(o.kind),
                StreamOrderStatus(o.status),
                o.amount_minor,
                o.credit_minor,
            )
            for o in stored_orders
            if o.invoice_id is None
        } == {i: (o.kind, o.status, o.amount, o.credit) for i, o in self.stream_orders.items()}
        invoice_orders = {o.invoice_id: o for o in stored_orders if o.invoice_id is not None}
        assert {i: o.amount_minor for i, o in invoice_orders.items()} == self.paid_invoices
        assert all(o.status == StreamOrderStatus.PAID for o in invoice_orders.values())
        assert +Counter({k: n for k, n in posted.items() if k[0] != "earning_release"}) == (
            self.expected_transactions({i: o.id for i, o in invoice_orders.items()})
        )
        # Payouts never exceed what was earned and released.
        paid_out = self.balances[self.practitioners(AccountKind.PRACTITIONER_PAID_OUT)]
        assert paid_out <= sum(e.net for e in self.earnings if e.released)
        assert {i: (p.status, p.amount.amount_minor) for i, p in stored_payouts.items()} == {
            i: (p.status, p.amount) for i, p in self.payouts.items()
        }
        # The provider's objects, each one transaction in the ledger.
        for intent_id, intent in self.intents.items():
            there = await w.sandbox.retrieve_payment_intent(intent_id)
            assert (there.status, there.amount) == (intent.status, intent.amount)
            refunds = [r.amount for r in await w.sandbox.refunds_of(intent_id)]
            booked = self.bookings.get(intent.booking_id)
            assert refunds == ([booked.card_refund] if booked and booked.card_refund else [])
        assert await w.sandbox.count("transfer") == sum(
            p.transferred for p in self.payouts.values()
        )
        assert await w.sandbox.count("payout") == sum(p.transferred for p in self.payouts.values())
        reversals = sum(p.reversed for p in self.payouts.values())
        assert await w.sandbox.count("transfer_reversal") == reversals
        for payout_id, payout in self.payouts.items():
            transfer = await w.sandbox.find_transfer(transfer_group=f"payouts/{payout_id}")
            assert (transfer.amount if transfer else 0) == (
                payout.amount if payout.transferred else 0
            )
        await self.audit_subscriptions(stored_subscriptions)
        told = {t.name: outboxed.get(t.name, 0) for t in TOLD}
        assert told == {t.name: self.told[t.name] for t in TOLD}

    async def audit_subscriptions(self, stored: list[Any]) -> None:
        """Each subscription as payments holds it and as the sandbox has it, and the invoices
        the sandbox made of it (amount, paid), as the model has them."""
        assert [
            (s.status, s.level, s.next_level, s.cancel_at_period_end) if s else None for s in stored
        ] == [(s.status, s.level, s.next_level, s.cancel_at_period_end) for s in self.subscriptions]
        invoices: dict[str, Counter[tuple[int, bool]]] = {}
        for invoice in sandbox_objects(self.w, "invoice"):
            made = (invoice["amount_due"], invoice["status"] == "paid")
            invoices.setdefault(invoice["subscription"], Counter())[made] += 1
        assert invoices == {
            s.provider_id: Counter(s.invoices) for s in self.subscriptions if s.invoices
        }
        for subscribed in self.subscriptions:
            there = await self.w.sandbox.retrieve_subscription(subscribed.provider_id)
            # The sandbox voids a subscription whose first payment was refused.
            failed = subscribed.status is SubscriptionStatus.FAILED
            assert STATUS_OF[there.status] is (
                SubscriptionStatus.ENDED if failed else subscribed.status
            )
            assert there.cancel_at_period_end == subscribed.cancel_at_period_end

    def expected_transactions(self, invoice_orders: dict[str, str]) -> Counter[tuple[str, str]]:
        """Each transaction the ledger should hold, by kind and cause: one per cause (the
        orders of paid invoices by invoice, as payments named them)."""
        expected: Counter[tuple[str, str]] = Counter()
        for order_id, ordered in self.stream_orders.items():
            if ordered.credit:
                expected["credit_spend", f"streamOrders/{order_id}"] += 1
            if ordered.status is StreamOrderStatus.PAID:
                if ordered.card:
                    expected["charge", f"payment_intents/{ordered.intent_id}"] += 1
                expected["earning", f"bookings/{order_id}"] += 1
        for invoice_id, order_id in invoice_orders.items():
            expected["charge", f"invoices/{invoice_id}"] += 1
            expected["earning", f"bookings/{order_id}"] += 1
        for booking_id, booked in self.bookings.items():
            order = booked.order
            if order is None:
                continue
            if order.credit:
                expected["credit_spend", f"orders/{order.id}"] += 1
            if order.card and order.status is OrderStatus.PAID:
                expected["charge", f"payment_intents/{order.intent_id}"] += 1
            if booked.refunded:
                expected["refund", f"bookings/{booking_id}"] += 1
            if booked.completion is not None:
                expected["earning", f"bookings/{booking_id}"] += 1
        for purchase_id, top_up in self.top_ups.items():
            if top_up.status is CreditPurchaseStatus.PAID:
                expected["credit_purchase", f"credit_purchases/{purchase_id}"] += 1
        for payout_id, payout in self.payouts.items():
            expected["payout", f"payouts/{payout_id}"] += 1
            if payout.status is PayoutStatus.FAILED:
                expected["payout", f"payouts/{payout_id}/returned"] += 1
        return expected


@dataclass(frozen=True)
class Action:
    """A kind of step: how often against the others, when it can happen, what it is given."""

    name: str
    weight: int
    given: dict[str, st.SearchStrategy[Any]] = field(default_factory=dict)
    able: Callable[[MoneyAuditor], object] = lambda _: True


INDEX = st.integers(0, 1000)
CANCELLABLE = (Stage.PENDING_PAYMENT, Stage.CONFIRMED)
CARDS = st.sampled_from([VISA, VISA, DECLINED])
ACTIONS = {
    action.name: action
    for action in (
        Action(
            "top_up",
            1,
            {
                "client": st.integers(0, CLIENTS - 1),
                "amount": st.sampled_from(TOP_UPS),
                "card": CARDS,
            },
            lambda m: len(m.top_ups) < TOP_UPS_AT_MOST,
        ),
        Action(
            "book",
            2,
            {
                "client": st.integers(0, CLIENTS - 1),
                "price": st.sampled_from(PRICES),
                "checks_out": st.sampled_from([True, True, False]),
            },
            lambda m: len(m.in_stage(Stage.PENDING_PAYMENT)) < AWAITING_AT_MOST,
        ),
        Action(
            "check_out",
            1,
            {
                "index": INDEX,
                "awaiting": st.sampled_from([True, True, True, False]),
                "answer_lost": st.sampled_from([False, False, False, True]),
            },
            lambda m: m.booking_ids,
        ),
        Action(
            "pay",
            3,
            {"index": INDEX, "card": CARDS, "payable": st.sampled_from([True, True, True, False])},
            lambda m: any(m.attached(i) for i in m.intent_ids),
        ),
        Action(
            "deliver_webhook",
            6,
            {
                "index": INDEX,
                "again": st.sampled_from([False, False, False, True]),
                "booking_answers": st.sampled_from([True, True, False]),
            },
            lambda m: m.pending_webhooks or m.delivered_webhooks,
        ),
        Action(
            "booking_hears_payments",
            1,
            {"successes_first": st.booleans()},
            lambda m: m.told - m.heard,
        ),
        Action("hold_lapses", 1, {"index": INDEX}, lambda m: m.in_stage(Stage.PENDING_PAYMENT)),
        Action(
            "cancel",
            1,
            {"index": INDEX, "percent": st.sampled_from([0, 50, 100]), "paid": st.booleans()},
            lambda m: m.in_stage(*CANCELLABLE),
        ),
        Action("complete", 3, {"index": INDEX}, lambda m: m.in_stage(Stage.CONFIRMED)),
        Action(
            "completion_again",
            1,
            {"index": INDEX, "same_event": st.booleans()},
            lambda m: m.in_stage(Stage.COMPLETED),
        ),
        Action("time_passes", 2, {"hours": st.sampled_from([1, 49, 49])}),
        Action("onboard", 1, {}, lambda m: not m.account_id),
        Action("payout_requested", 3, {"outcome": st.sampled_from(OUTCOMES)}),
        Action("weekly_batch", 1, {"outcome": st.sampled_from(OUTCOMES)}),
        Action(
            "stream_order",
            2,
            {
                "client": st.integers(0, CLIENTS - 1),
                "unlock": st.sampled_from([False, False, True]),
                "amount": st.sampled_from(TIPS),
                "on_post": st.booleans(),
                "card": CARDS,
            },
        ),
        Action(
            "subscribe",
            1,
            {
                "client": st.integers(0, CLIENTS - 1),
                "level": st.sampled_from(list(TIER_PRICES)),
                "card": CARDS,
            },
            lambda m: len(m.subscriptions) < SUBSCRIPTIONS_AT_MOST,
        ),
        Action(
            "change_level",
            1,
            {"index": INDEX, "level": st.sampled_from(list(TIER_PRICES))},
            lambda m: m.subscriptions,
        ),
        Action("cancel_subscription", 1, {"index": INDEX}, lambda m: m.subscriptions),
        Action(
            "card_changes",
            1,
            {"index": INDEX, "fails": st.sampled_from([True, False, False])},
            lambda m: m.subscriptions,
        ),
        Action(
            "month_passes",
            1,
            {"days": st.sampled_from([10, 31, 31])},
            lambda m: m.subscriptions,
        ),
    )
}
CLEARING = Account(PLATFORM, AccountKind.PLATFORM_CLEARING, CURRENCY)
REVENUE = Account(PLATFORM, AccountKind.PLATFORM_REVENUE, CURRENCY)
WORLD = Account(EXTERNAL, AccountKind.EXTERNAL, CURRENCY)
TOLD = (
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    REFUND_ISSUED,
    EARNING_RECORDED,
    PAYOUT_PAID,
    PAYOUT_FAILED,
    STREAM_ORDER_PAID,
)


def audit(
    folder: Path, examples: int, steps: int, *, shrink: bool = True, derandomize: bool = False
) -> None:
    """Runs the auditor, each example on a copy of one database migrated first."""
    template = folder / "template.db"

    async def migrate() -> None:
        async with world(f"sqlite+aiosqlite:///{template}"):
            pass

    asyncio.run(migrate())
    run_state_machine_as_test(
        lambda: MoneyAuditor(template, folder),
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            derandomize=derandomize,
            phases=tuple(Phase) if shrink else (Phase.generate,),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_money_is_never_created_lost_or_moved_twice(tmp_path):
    audit(tmp_path, examples=10, steps=100, derandomize=True)


def test_the_auditor_catches_a_commission_taken_twice(tmp_path, monkeypatch):
    """The auditor is not blind: with the platform's commission counted twice in each
    earning's split, it finds the practitioner paid less than they earned."""

    def doubled(paid: Money, rate_bps: int) -> tuple[Money, Money]:
        return split(paid, 2 * rate_bps)

    monkeypatch.setattr(earnings_domain, "split", doubled)
    with pytest.raises(AssertionError):
        audit(tmp_path, examples=12, steps=60, shrink=False, derandomize=True)


def test_the_auditor_catches_an_invoice_never_earned(tmp_path, monkeypatch):
    """The auditor sees stream money too: with the paid invoices of subscriptions left
    unearned, it finds the creator earning less than readers paid. (Earning one twice, under
    an order of its own, is refused by payments itself: no charge stands behind it.)"""

    async def never(
        uow: PaymentsUnitOfWork, settings: PaymentsSettings, order: StreamOrder
    ) -> None:
        return None

    monkeypatch.setattr(stream_subscriptions, "earn_stream_order", never)
    with pytest.raises(AssertionError):
        audit(tmp_path, examples=12, steps=60, shrink=False, derandomize=True)
