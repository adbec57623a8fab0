"""Payments' unit of work: the chassis's transaction with payments' repositories on it, and
payments' domain events recorded as the messages events.py maps them to."""

from __future__ import annotations

from typing import Self

from google.protobuf.message import Message

from chassis.bus.envelope import EventType
from chassis.uow import UnitOfWork
from services.payments import events
from services.payments.repository import (
    CreditLots,
    CreditPurchases,
    Earnings,
    ExternalEvents,
    GiftCards,
    Ledger,
    LedgerAudit,
    Orders,
    PayableBookings,
    PayoutAccounts,
    Payouts,
    PlatformSubscriptions,
    PromoCodes,
    StreamOrders,
    StreamSubscriptions,
    TierPrices,
    Tiers,
    known_accounts,
)


class PaymentsUnitOfWork(UnitOfWork):
    ledger: Ledger
    earnings: Earnings
    tiers: Tiers
    audit: LedgerAudit
    payable: PayableBookings
    orders: Orders
    external_events: ExternalEvents
    payout_accounts: PayoutAccounts
    payouts: Payouts
    subscriptions: PlatformSubscriptions
    tier_prices: TierPrices
    credit_purchases: CreditPurchases
    promo_codes: PromoCodes
    credit_lots: CreditLots
    gift_cards: GiftCards
    stream_orders: StreamOrders
    stream_subscriptions: StreamSubscriptions

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        connection = self.connection
        self.ledger = Ledger(
            connection, self.clock, known_accounts(self.database), self.after_commit
        )
        self.earnings = Earnings(connection)
        self.tiers = Tiers(connection)
        self.audit = LedgerAudit(connection)
        self.payable = PayableBookings(connection)
        self.orders = Orders(connection)
        self.external_events = ExternalEvents(connection)
        self.payout_accounts = PayoutAccounts(connection)
        self.payouts = Payouts(connection)
        self.subscriptions = PlatformSubscriptions(connection)
        self.tier_prices = TierPrices(connection)
        self.credit_purchases = CreditPurchases(connection)
        self.promo_codes = PromoCodes(connection)
        self.credit_lots = CreditLots(connection)
        self.gift_cards = GiftCards(connection)
        self.stream_orders = StreamOrders(connection)
        self.stream_subscriptions = StreamSubscriptions(connection)
        return self

    def event_message(self, event: object) -> tuple[EventType[Message], Message, str]:
        return events.event_message(event)
