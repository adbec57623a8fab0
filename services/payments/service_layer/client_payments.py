"""A client's own payments: their checkouts, newest first, each with what was refunded on it
(to their card and to their credit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chassis.auth.principal import Principal
from chassis.money import Money
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.ledger import EXTERNAL, Account, AccountKind, Transaction
from services.payments.domain.orders import Order
from services.payments.service_layer.base import Handlers, caller


@dataclass(frozen=True)
class Refund:
    """Money given back on an order: to the card it was paid with, and to credit."""

    transaction_id: str
    to_card: Money
    to_credit: Money
    created_at: datetime

    @property
    def amount(self) -> Money:
        return Money(self.to_card.amount_minor + self.to_credit.amount_minor, self.to_card.currency)

    @classmethod
    def of(cls, order: Order, transaction: Transaction) -> Refund:
        """A refund transaction as the order's client sees it."""
        currency = order.amount.currency
        card = transaction.posting_to(Account(EXTERNAL, AccountKind.EXTERNAL, currency))
        credit = transaction.posting_to(
            Account(order.client_id, AccountKind.CLIENT_CREDIT, currency)
        )
        return cls(
            transaction.id, Money(card, currency), Money(credit, currency), transaction.created_at
        )


@dataclass(frozen=True)
class ClientPayment:
    """One of a client's orders and the refunds made on it, oldest first."""

    order: Order
    refunds: tuple[Refund, ...]


class ClientPaymentHandlers(Handlers):
    async def client_payments(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Page[ClientPayment]:
        """The caller's own orders, newest first, with their refunds: nobody else's."""
        user = caller(principal)
        page = page_request(
            page_size, page_token, query={"payments": user.user_id}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.orders.page_of_client(
                user.user_id, after=page.after[0] if page.after else None, limit=page.fetch
            )
            refunds = await uow.ledger.refunds_of([o.booking_id for o in found])
        payments = [
            ClientPayment(
                order,
                tuple(Refund.of(order, t) for t in refunds if t.booking_id == order.booking_id),
            )
            for order in found
        ]
        return page.page(payments, total, key=lambda p: [p.order.id])
