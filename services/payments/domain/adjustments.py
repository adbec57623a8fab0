"""Staff's corrections of the ledger: a reason and two or more legs that move money between
named accounts of one currency, summing to zero, posted as one ADJUSTMENT transaction.

The rules a request breaks are named by its field (legs[1].amount_minor, reason...), so a
staff member sees which leg to fix; a leg that would take an account that must not go
negative below zero is refused naming the leg too, whole, with nothing posted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.ids import is_uuid
from chassis.money import is_currency
from chassis.validation import INT64_MAX
from services.payments.domain.ledger import (
    Account,
    Overdrawn,
    Posting,
    Transaction,
    TransactionKind,
)

REASON_MAX_LENGTH = 500
MIN_LEGS = 2
MAX_LEGS = 20
ACCOUNT_PREFIX = "ledgerAccounts/"


@dataclass(frozen=True)
class Leg:
    """Money into (positive) or out of (negative) one account, by the account's id."""

    account_id: str
    amount_minor: int


@dataclass(frozen=True)
class AdjustmentRequest:
    """What staff asked for, checked field by field."""

    reason: str
    currency: str
    legs: tuple[Leg, ...]

    @classmethod
    def checked(
        cls, reason: str, currency: str, legs: Sequence[tuple[str, int]]
    ) -> AdjustmentRequest:
        """The request if every field is well formed and the legs balance; else
        InvalidArgument naming the first field at fault."""
        reason = reason.strip()
        if not reason:
            raise InvalidArgument.field("reason", "is required", "required")
        if len(reason) > REASON_MAX_LENGTH:
            raise InvalidArgument.field(
                "reason", f"must be at most {REASON_MAX_LENGTH} characters", "too_long"
            )
        if not is_currency(currency):
            raise InvalidArgument.field("currency", "must be an ISO 4217 code such as EUR")
        if not MIN_LEGS <= len(legs) <= MAX_LEGS:
            raise InvalidArgument.field(
                "legs", f"must hold {MIN_LEGS} to {MAX_LEGS} legs", "out_of_range"
            )
        seen: set[str] = set()
        parsed = []
        for index, (name, amount) in enumerate(legs):
            account_id = name.removeprefix(ACCOUNT_PREFIX)
            if not name.startswith(ACCOUNT_PREFIX) or not is_uuid(account_id):
                raise InvalidArgument.field(
                    f"legs[{index}].account", "must be ledgerAccounts/{account_id}"
                )
            if account_id in seen:
                raise InvalidArgument.field(
                    f"legs[{index}].account", "names an account another leg names", "duplicate"
                )
            seen.add(account_id)
            if amount == 0 or abs(amount) > INT64_MAX:
                raise InvalidArgument.field(
                    f"legs[{index}].amount_minor",
                    "must be a non-zero amount in minor units",
                    "out_of_range",
                )
            parsed.append(Leg(account_id, amount))
        total = sum(leg.amount_minor for leg in parsed)
        if total != 0:
            raise InvalidArgument.field(
                "legs", f"must sum to zero in {currency}, not {total}", "unbalanced"
            )
        return cls(reason, currency, tuple(parsed))

    def transaction(
        self, transaction_id: str, accounts: Mapping[str, Account], at: datetime
    ) -> Transaction:
        """The ADJUSTMENT transaction of these legs on the accounts they name (by id): a leg
        on an unknown account or one of another currency is refused naming it."""
        postings = []
        for index, leg in enumerate(self.legs):
            account = accounts.get(leg.account_id)
            if account is None:
                raise InvalidArgument.field(
                    f"legs[{index}].account", "is no ledger account", "not_found"
                )
            if account.currency != self.currency:
                raise InvalidArgument.field(
                    f"legs[{index}].account",
                    f"is in {account.currency}, not {self.currency}",
                    "currency_mismatch",
                )
            postings.append(Posting(account, leg.amount_minor))
        return Transaction.balanced(
            transaction_id,
            TransactionKind.ADJUSTMENT,
            # Unique per adjustment: two corrections with the same legs are two movements.
            f"adjustments/{transaction_id}",
            postings,
            at,
            description=self.reason,
        )

    def overdrawn_leg(self, overdrawn: Overdrawn, accounts: Mapping[str, Account]) -> Exception:
        """The refusal of a leg that would take its account below zero, naming the leg."""
        index = next(
            i
            for i, leg in enumerate(self.legs)
            if accounts.get(leg.account_id) == overdrawn.account
        )
        return FailedPrecondition(
            f"legs[{index}] would take {overdrawn.account} below zero: {overdrawn}",
            reason="INSUFFICIENT_FUNDS",
            metadata={"leg": f"legs[{index}]", "account": str(overdrawn.account)},
        )
