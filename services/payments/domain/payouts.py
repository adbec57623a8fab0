"""Payouts: a practitioner's available earnings sent to their bank through their connected
account. The ledger moves the money (available -> paid out) when the payout is made, before
the provider is asked, so two payouts can never take the same money; a payout the bank
refuses moves it back (available again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.money import Money
from services.payments.domain.ledger import (
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)


class PayoutStatus(StrEnum):
    """Where a payout stands: PENDING until the provider has its transfer and payout, then
    SUBMITTED, then PAID or FAILED as the provider's webhooks say (only forward)."""

    PENDING = "pending"
    SUBMITTED = "submitted"
    PAID = "paid"
    FAILED = "failed"


IN_FLIGHT = (PayoutStatus.PENDING.value, PayoutStatus.SUBMITTED.value)


@dataclass(frozen=True)
class PayoutAccount:
    """A practitioner's connected account at the provider, and whether it may be paid out."""

    user_id: str
    account_id: str
    payouts_enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Payout:
    id: str
    user_id: str
    account_id: str
    amount: Money
    status: PayoutStatus
    created_at: datetime
    updated_at: datetime
    transfer_id: str = ""
    provider_payout_id: str = ""
    failure_code: str = ""

    def paid_out(self, transaction_id: str, at: datetime) -> Transaction:
        """Available -> paid out, in the unit of work that makes the payout."""
        source, destination = self._accounts()
        return Transaction.balanced(
            transaction_id,
            TransactionKind.PAYOUT,
            f"payouts/{self.id}",
            transfer(source, destination, self.amount.amount_minor),
            at,
            description=f"payout {self.id}",
        )

    def returned(self, transaction_id: str, at: datetime) -> Transaction:
        """Paid out -> available again: the bank refused the payout."""
        source, destination = self._accounts()
        return Transaction.balanced(
            transaction_id,
            # A payout's return is a payout movement too, back the other way, once.
            TransactionKind.PAYOUT,
            f"payouts/{self.id}/returned",
            transfer(destination, source, self.amount.amount_minor),
            at,
            description=f"payout {self.id} failed",
        )

    def _accounts(self) -> tuple[Account, Account]:
        currency = self.amount.currency
        return (
            Account(self.user_id, AccountKind.PRACTITIONER_AVAILABLE, currency),
            Account(self.user_id, AccountKind.PRACTITIONER_PAID_OUT, currency),
        )


@dataclass(frozen=True)
class PayoutPaid:
    payout: Payout
    at: datetime


@dataclass(frozen=True)
class PayoutFailed:
    payout: Payout
    reason: str
    at: datetime
