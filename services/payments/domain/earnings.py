"""Practitioners' earnings: a completed booking's payment split into the practitioner's
share and the platform's commission by the practitioner's tier when it completed; pending
for a hold, then available for payout, then paid (or reversed by a refund before that)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.lifecycle import WrongState
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

BASIS_POINTS = 10_000


class Tier(StrEnum):
    """A practitioner's platform subscription tier."""

    FREE = "free"
    ENTRY = "entry"
    PREMIUM = "premium"


@dataclass(frozen=True)
class CommissionRates:
    """The commission of each tier, in basis points, from a moment on."""

    effective_from: datetime
    bps: dict[Tier, int]


@dataclass(frozen=True)
class CommissionSchedule:
    """Rate sets in order of the moment each takes effect."""

    rates: Sequence[CommissionRates]

    def rate(self, tier: Tier, at: datetime) -> int:
        """The commission in basis points for a tier at a moment: the latest set in effect
        then (the earliest set for a moment before every set)."""
        in_effect = self.rates[0]
        for rates in self.rates:
            if rates.effective_from <= at:
                in_effect = rates
        return in_effect.bps[tier]


def split(paid: Money, rate_bps: int) -> tuple[Money, Money]:
    """(earning, commission) of a payment: the commission rounded half up to the minor
    unit, the earning the rest, so the two always add up to what was paid."""
    commission = (paid.amount_minor * rate_bps + BASIS_POINTS // 2) // BASIS_POINTS
    return (
        Money(paid.amount_minor - commission, paid.currency),
        Money(commission, paid.currency),
    )


class EarningStatus(StrEnum):
    PENDING = "pending"
    AVAILABLE = "available"
    PAID = "paid"
    REVERSED = "reversed"


@dataclass(frozen=True)
class CompletedBooking:
    """What booking.completed tells payments about the booking."""

    booking_id: str
    practitioner_user_id: str
    practitioner_id: str
    service_id: str
    client_id: str
    amount_paid: Money
    completed_at: datetime


@dataclass(frozen=True)
class Earning:
    """A practitioner's share of one completed booking."""

    id: str
    booking_id: str
    practitioner_user_id: str
    practitioner_id: str
    service_id: str
    client_id: str
    amount_paid: Money
    commission: Money
    net: Money
    tier: Tier
    commission_bps: int
    status: EarningStatus
    completed_at: datetime
    available_at: datetime
    transaction_id: str
    release_transaction_id: str = ""

    @classmethod
    def record(
        cls,
        id: str,
        booking: CompletedBooking,
        *,
        tier: Tier,
        schedule: CommissionSchedule,
        hold: timedelta,
        transaction_id: str,
    ) -> tuple[Earning, EarningRecorded]:
        """The pending earning of a paid booking, and the event that says so."""
        rate = schedule.rate(tier, booking.completed_at)
        net, commission = split(booking.amount_paid, rate)
        earning = cls(
            id=id,
            booking_id=booking.booking_id,
            practitioner_user_id=booking.practitioner_user_id,
            practitioner_id=booking.practitioner_id,
            service_id=booking.service_id,
            client_id=booking.client_id,
            amount_paid=booking.amount_paid,
            commission=commission,
            net=net,
            tier=tier,
            commission_bps=rate,
            status=EarningStatus.PENDING,
            completed_at=booking.completed_at,
            available_at=booking.completed_at + hold,
            transaction_id=transaction_id,
        )
        return earning, EarningRecorded(earning)

    def release(self, transaction_id: str, now: datetime) -> tuple[Earning, EarningAvailable]:
        """Pending to available once its hold has ended."""
        if self.status is not EarningStatus.PENDING:
            raise WrongState("earning", self.status.value, [EarningStatus.PENDING.value])
        if now < self.available_at:
            raise WrongState("earning", "in its hold", ["past its hold"], reason="IN_HOLD")
        released = replace(
            self, status=EarningStatus.AVAILABLE, release_transaction_id=transaction_id
        )
        return released, EarningAvailable(released, now)

    def charge(self, transaction_id: str, now: datetime) -> Transaction:
        """The client's payment arriving in clearing, for a booking whose payment the ledger
        never saw (paid before payments kept the ledger): what booking.completed says was
        paid, from the world outside."""
        currency = self.amount_paid.currency
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CHARGE,
            f"bookings/{self.booking_id}",
            transfer(
                Account(EXTERNAL, AccountKind.EXTERNAL, currency),
                Account(PLATFORM, AccountKind.PLATFORM_CLEARING, currency),
                self.amount_paid.amount_minor,
            ),
            now,
            booking_id=self.booking_id,
            description="payment recorded from booking.completed",
        )

    def earning_transaction(self, now: datetime) -> Transaction:
        """The payment out of clearing: the earning to the practitioner's pending account,
        the commission to the platform's revenue."""
        currency = self.amount_paid.currency
        return Transaction.balanced(
            self.transaction_id,
            TransactionKind.EARNING,
            f"bookings/{self.booking_id}",
            [
                Posting(
                    Account(PLATFORM, AccountKind.PLATFORM_CLEARING, currency),
                    -self.amount_paid.amount_minor,
                ),
                Posting(self.pending_account, self.net.amount_minor),
                Posting(
                    Account(PLATFORM, AccountKind.PLATFORM_REVENUE, currency),
                    self.commission.amount_minor,
                ),
            ],
            now,
            booking_id=self.booking_id,
            description=f"earning of booking {self.booking_id} at {self.commission_bps} bps "
            f"({self.tier.value})",
        )

    def release_transaction(self, transaction_id: str, now: datetime) -> Transaction | None:
        """The earning from the practitioner's pending account to their available one (None
        for an earning of nothing: a commission configured at 100%)."""
        if self.net.amount_minor == 0:
            return None
        return Transaction.balanced(
            transaction_id,
            TransactionKind.EARNING_RELEASE,
            f"earnings/{self.id}",
            transfer(self.pending_account, self.available_account, self.net.amount_minor),
            now,
            booking_id=self.booking_id,
            description=f"hold of booking {self.booking_id} ended",
        )

    @property
    def pending_account(self) -> Account:
        return Account(
            self.practitioner_user_id, AccountKind.PRACTITIONER_PENDING, self.net.currency
        )

    @property
    def available_account(self) -> Account:
        return Account(
            self.practitioner_user_id, AccountKind.PRACTITIONER_AVAILABLE, self.net.currency
        )


@dataclass(frozen=True)
class EarningRecorded:
    earning: Earning


@dataclass(frozen=True)
class EarningAvailable:
    earning: Earning
    at: datetime
