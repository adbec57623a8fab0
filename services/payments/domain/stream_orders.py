"""Stream orders: a client's tip to a creator (on a stream or one of its posts) or a post's
one-off unlock, paid as a booking's checkout is (credits first, the rest by card). Once paid
in full, the creator earns it less the platform's commission, as for a completed booking:
the order is the earning's cause, so charge = earning + commission holds for it too."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chassis.money import Money
from services.payments.domain.earnings import CompletedBooking, Earning
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)

STREAM_ORDER_PREFIX = "streamOrders/"


class StreamOrderKind(StrEnum):
    TIP = "tip"
    UNLOCK = "unlock"
    SUBSCRIPTION = "subscription"


class StreamOrderStatus(StrEnum):
    """OPEN until credits and the card have covered the price; then PAID."""

    OPEN = "open"
    PAID = "paid"


@dataclass(frozen=True)
class SaleTerms:
    """What streams says a stream or post is sold for: never the client's word."""

    stream_id: str
    post_id: str
    owner_user_id: str
    currency: str
    unlock_price: Money | None


@dataclass(frozen=True)
class StreamOrder:
    """One tip, unlock or paid subscription invoice: its price, what credits covered, and
    the payment intent for the rest (a subscription's invoice is paid by card alone). post_id
    is "" for a tip to the stream itself and a subscription."""

    id: str
    client_id: str
    kind: StreamOrderKind
    stream_id: str
    post_id: str
    creator_user_id: str
    amount: Money
    credit_minor: int
    status: StreamOrderStatus
    created_at: datetime
    payment_intent_id: str | None = None
    client_secret: str = ""
    invoice_id: str | None = None

    @classmethod
    def open(
        cls,
        id: str,
        client_id: str,
        kind: StreamOrderKind,
        terms: SaleTerms,
        amount: Money,
        credit_balance_minor: int,
        now: datetime,
    ) -> StreamOrder:
        """A new order; the client's credits cover what they can (PAID at once if all)."""
        credit = max(0, min(credit_balance_minor, amount.amount_minor))
        order = cls(
            id,
            client_id,
            kind,
            terms.stream_id,
            terms.post_id,
            terms.owner_user_id,
            amount,
            credit,
            StreamOrderStatus.OPEN,
            now,
        )
        return order if order.card_minor else replace(order, status=StreamOrderStatus.PAID)

    @property
    def name(self) -> str:
        return STREAM_ORDER_PREFIX + self.id

    @property
    def card_minor(self) -> int:
        return self.amount.amount_minor - self.credit_minor

    @property
    def card(self) -> Money:
        return Money(self.card_minor, self.amount.currency)

    @property
    def credit(self) -> Money:
        return Money(self.credit_minor, self.amount.currency)

    def credit_spend(self, transaction_id: str, now: datetime) -> Transaction:
        """The credits applied, from the client's credit into clearing."""
        currency = self.amount.currency
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CREDIT_SPEND,
            self.name,
            transfer(
                Account(self.client_id, AccountKind.CLIENT_CREDIT, currency),
                Account(PLATFORM, AccountKind.PLATFORM_CLEARING, currency),
                self.credit_minor,
            ),
            now,
            booking_id=self.id,
            description=f"credits applied to a stream {self.kind.value}",
        )

    def card_charge(self, transaction_id: str, paid_by: str, now: datetime) -> Transaction:
        """The card's payment arriving in clearing, once per payment intent or invoice
        ("payment_intents/{id}", "invoices/{id}")."""
        currency = self.amount.currency
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CHARGE,
            paid_by,
            transfer(
                Account(EXTERNAL, AccountKind.EXTERNAL, currency),
                Account(PLATFORM, AccountKind.PLATFORM_CLEARING, currency),
                self.card_minor,
            ),
            now,
            booking_id=self.id,
            description=f"card payment of a stream {self.kind.value}",
        )

    def as_paid_work(self, at: datetime) -> CompletedBooking:
        """The order as earnings know paid work: the creator's, paid in full at `at`."""
        return CompletedBooking(
            booking_id=self.id,
            practitioner_user_id=self.creator_user_id,
            practitioner_id="",
            service_id="",
            client_id=self.client_id,
            amount_paid=self.amount,
            completed_at=at,
        )


@dataclass(frozen=True)
class StreamOrderPaid:
    """An order is paid in full and its creator's earning recorded (stream_order.paid)."""

    order: StreamOrder
    earning: Earning
    at: datetime
