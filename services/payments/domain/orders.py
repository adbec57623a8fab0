"""Orders: a booking's checkout, paid by the client's credits first and the rest by card, and
the money it moves in the ledger (credit spent, the card's charge, refunds)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chassis.money import Money
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Posting,
    Transaction,
    TransactionKind,
    transfer,
)


class PayableStatus(StrEnum):
    """Where a booking that costs money stands, as booking's events tell it."""

    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class PayableBooking:
    """What booking says a booking costs and who owes it."""

    booking_id: str
    client_id: str
    price: Money
    status: PayableStatus


class OrderStatus(StrEnum):
    """OPEN until paid; PAID once credits and the card have covered the price; RELEASED when
    its booking ended unpaid (its intent cancelled, its credits given back)."""

    OPEN = "open"
    PAID = "paid"
    RELEASED = "released"


@dataclass(frozen=True)
class Order:
    """One booking's checkout: its price (booking's), what credits covered, and the payment
    intent for the rest."""

    id: str
    client_id: str
    booking_id: str
    amount: Money
    credit_minor: int
    status: OrderStatus
    created_at: datetime
    payment_intent_id: str | None = None
    client_secret: str = ""

    @classmethod
    def open(
        cls, id: str, booking: PayableBooking, credit_balance_minor: int, now: datetime
    ) -> Order:
        """A new order for a booking; the client's credits cover what they can."""
        credit = max(0, min(credit_balance_minor, booking.price.amount_minor))
        order = cls(
            id, booking.client_id, booking.booking_id, booking.price, credit, OrderStatus.OPEN, now
        )
        return order if order.card_minor else replace(order, status=OrderStatus.PAID)

    @property
    def card_minor(self) -> int:
        """What the card pays: the price less the credits applied."""
        return self.amount.amount_minor - self.credit_minor

    @property
    def credit(self) -> Money:
        return Money(self.credit_minor, self.amount.currency)

    @property
    def card(self) -> Money:
        return Money(self.card_minor, self.amount.currency)

    def _accounts(self) -> tuple[Account, Account, Account]:
        currency = self.amount.currency
        return (
            Account(self.client_id, AccountKind.CLIENT_CREDIT, currency),
            Account(PLATFORM, AccountKind.PLATFORM_CLEARING, currency),
            Account(EXTERNAL, AccountKind.EXTERNAL, currency),
        )

    def credit_spend(self, transaction_id: str, now: datetime) -> Transaction:
        """The credits applied, from the client's credit into clearing."""
        credit, clearing, _ = self._accounts()
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CREDIT_SPEND,
            f"orders/{self.id}",
            transfer(credit, clearing, self.credit_minor),
            now,
            booking_id=self.booking_id,
            description="credits applied at checkout",
        )

    def card_charge(
        self, transaction_id: str, intent_id: str, received_minor: int, now: datetime
    ) -> Transaction:
        """The card's payment arriving in clearing, once per payment intent."""
        _, clearing, world = self._accounts()
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CHARGE,
            f"payment_intents/{intent_id}",
            transfer(world, clearing, received_minor),
            now,
            booking_id=self.booking_id,
            description="card payment at checkout",
        )

    def refund_shares(self, percent: int) -> tuple[int, int]:
        """What a refund of percent gives back to the card and to credits (each share
        rounded down: never more than was paid)."""
        percent = max(0, min(percent, 100))
        return self.card_minor * percent // 100, self.credit_minor * percent // 100

    def refund(
        self, transaction_id: str, card_minor: int, credit_minor: int, now: datetime
    ) -> Transaction:
        """Money going back out of clearing: to the card, and to the client's credit."""
        credit, clearing, world = self._accounts()
        return Transaction.balanced(
            transaction_id,
            TransactionKind.REFUND,
            f"bookings/{self.booking_id}",
            [
                Posting(clearing, -(card_minor + credit_minor)),
                Posting(world, card_minor),
                Posting(credit, credit_minor),
            ],
            now,
            booking_id=self.booking_id,
            description="refund of a booking's payment",
        )


@dataclass(frozen=True)
class PaymentSucceeded:
    """An order is paid in full (payment.succeeded)."""

    payment_id: str
    order: Order
    at: datetime


@dataclass(frozen=True)
class PaymentFailed:
    """A payment attempt for an order failed (payment.failed)."""

    payment_id: str
    order: Order
    reason: str
    at: datetime


@dataclass(frozen=True)
class RefundIssued:
    """Money went back to the payer of an order (refund.issued)."""

    refund_id: str
    payment_id: str
    order: Order
    amount: Money
    at: datetime
