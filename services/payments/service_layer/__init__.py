"""Payments' use cases: each opens one unit of work, finds what a request or an event names,
lets the domain decide, posts to the ledger and records the events the domain returns."""

from __future__ import annotations

from chassis.jobs import PeriodicJob
from services.payments.service_layer.checkout import CheckoutHandlers
from services.payments.service_layer.client_payments import ClientPaymentHandlers
from services.payments.service_layer.credits import CreditHandlers
from services.payments.service_layer.earnings import EarningHandlers
from services.payments.service_layer.ledger import LedgerHandlers
from services.payments.service_layer.payouts import PayoutHandlers
from services.payments.service_layer.staff import StaffHandlers
from services.payments.service_layer.stream_orders import StreamOrderHandlers
from services.payments.service_layer.stream_subscriptions import StreamSubscriptionHandlers


class Treasury(
    # Staff's use cases build on the payouts' (a failed payout paid out again).
    StaffHandlers,
    ClientPaymentHandlers,
    CheckoutHandlers,
    CreditHandlers,
    EarningHandlers,
    LedgerHandlers,
    PayoutHandlers,
    # Stream subscriptions build on the platform's (the provider's prices and customers).
    StreamSubscriptionHandlers,
    StreamOrderHandlers,
):
    """Every payments use case on one object, for the servicer, the consumers, the jobs,
    the operator commands and the tests."""

    def periodic_jobs(self) -> list[PeriodicJob]:
        return [
            *EarningHandlers.periodic_jobs(self),
            *self.payout_jobs(),
            *self.subscription_jobs(),
            *self.webhook_jobs(),
            *self.credit_jobs(),
        ]
