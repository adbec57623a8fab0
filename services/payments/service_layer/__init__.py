"""Payments' use cases: each opens one unit of work, finds what a request or an event names,
lets the domain decide, posts to the ledger and records the events the domain returns."""

from __future__ import annotations

from services.payments.service_layer.checkout import CheckoutHandlers
from services.payments.service_layer.earnings import EarningHandlers
from services.payments.service_layer.ledger import LedgerHandlers


class Treasury(CheckoutHandlers, EarningHandlers, LedgerHandlers):
    """Every payments use case on one object, for the servicer, the consumers, the jobs,
    the operator commands and the tests."""
