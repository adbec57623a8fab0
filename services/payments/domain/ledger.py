"""The double-entry ledger: accounts, and transactions made of postings that balance.

Every movement of money is one transaction: postings into (positive) and out of (negative)
accounts that sum to zero in each currency, so money is never created or lost, only moved.
An account is one owner's money of one kind in one currency; a balance is the sum of the
account's postings. Some accounts hold what somebody may spend or be paid (a client's credit,
a practitioner's earnings) and must never go below zero: a transaction that would take one
there is refused whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import Money, is_currency
from chassis.validation import INT64_MAX

# Owners that are not users: the platform itself, and the world outside (cards, banks).
PLATFORM = "platform"
EXTERNAL = "external"


class AccountKind(StrEnum):
    """What an account holds money for."""

    CLIENT_CREDIT = "client_credit"
    PLATFORM_CLEARING = "platform_clearing"
    PLATFORM_REVENUE = "platform_revenue"
    PLATFORM_PROMOTIONS = "platform_promotions"
    PLATFORM_BREAKAGE = "platform_breakage"
    PLATFORM_GIFT_CARDS = "platform_gift_cards"
    PROVIDER_FEES = "provider_fees"
    PRACTITIONER_PENDING = "practitioner_pending"
    PRACTITIONER_AVAILABLE = "practitioner_available"
    PRACTITIONER_PAID_OUT = "practitioner_paid_out"
    EXTERNAL = "external"

    @property
    def non_negative(self) -> bool:
        """Whether the account holds what someone may spend or be paid, which cannot go
        below zero. The platform's and the world's accounts may: clearing is briefly
        short while a refund races a charge, promotions is what the platform has given away
        in promo codes, breakage what clients let expire, and the world's is the mirror of
        everything that came in. Outstanding gift cards are what the platform owes their
        bearers: never below zero."""
        return self in NON_NEGATIVE


NON_NEGATIVE = frozenset(
    {
        AccountKind.CLIENT_CREDIT,
        AccountKind.PRACTITIONER_PENDING,
        AccountKind.PRACTITIONER_AVAILABLE,
        AccountKind.PRACTITIONER_PAID_OUT,
        AccountKind.PLATFORM_GIFT_CARDS,
    }
)


class TransactionKind(StrEnum):
    """Why money moved."""

    CHARGE = "charge"
    EARNING = "earning"
    EARNING_RELEASE = "earning_release"
    REFUND = "refund"
    CREDIT_PURCHASE = "credit_purchase"
    CREDIT_SPEND = "credit_spend"
    PAYOUT = "payout"
    ADJUSTMENT = "adjustment"
    SUBSCRIPTION = "subscription"
    PROMOTION = "promotion"
    CREDIT_EXPIRY = "credit_expiry"
    GIFT_CARD_PURCHASE = "gift_card_purchase"
    GIFT_CARD_REDEMPTION = "gift_card_redemption"


@dataclass(frozen=True, order=True)
class Account:
    """One owner's money of one kind in one currency."""

    owner: str
    kind: AccountKind
    currency: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.kind.value}/{self.currency}"


@dataclass(frozen=True)
class Posting:
    """Money into (positive) or out of (negative) one account."""

    account: Account
    amount_minor: int

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.account.currency)


class UnbalancedTransaction(InvalidArgument):
    """Postings that would create or destroy money, or that are not postings at all."""

    default_reason = "UNBALANCED_TRANSACTION"


class Overdrawn(FailedPrecondition):
    """The transaction would take an account that must not go negative below zero."""

    default_reason = "INSUFFICIENT_FUNDS"

    def __init__(self, account: Account, balance_minor: int, change_minor: int) -> None:
        super().__init__(
            f"{account} holds {balance_minor}, too little for {change_minor}",
            metadata={"account": str(account)},
        )
        self.account = account


@dataclass(frozen=True)
class Transaction:
    """One balanced movement of money, applied once per cause (its kind and cause are
    unique: a second transaction for the same booking's earning is the same one)."""

    id: str
    kind: TransactionKind
    cause: str
    postings: tuple[Posting, ...]
    created_at: datetime
    booking_id: str = ""
    description: str = ""

    @classmethod
    def balanced(
        cls,
        id: str,
        kind: TransactionKind,
        cause: str,
        postings: Iterable[Posting],
        created_at: datetime,
        *,
        booking_id: str = "",
        description: str = "",
    ) -> Transaction:
        """A transaction whose postings sum to zero in each currency; else refused."""
        made = cls(
            id,
            kind,
            cause,
            tuple(p for p in postings if p.amount_minor != 0),
            created_at,
            booking_id,
            description,
        )
        made.check()
        return made

    def check(self) -> None:
        """Refuses postings that do not balance, or a transaction that moves nothing."""
        if not self.cause:
            raise UnbalancedTransaction("a transaction names its cause")
        if len(self.postings) < 2:
            raise UnbalancedTransaction("a transaction moves money between two accounts or more")
        accounts = [p.account for p in self.postings]
        if len(set(accounts)) != len(accounts):
            raise UnbalancedTransaction("an account appears twice in one transaction")
        for posting in self.postings:
            if type(posting.amount_minor) is not int or abs(posting.amount_minor) > INT64_MAX:
                raise UnbalancedTransaction(f"{posting.account}: not an amount in minor units")
            if not is_currency(posting.account.currency):
                raise UnbalancedTransaction(f"{posting.account}: not an ISO 4217 currency")
        for currency, total in self.totals().items():
            if total != 0:
                raise UnbalancedTransaction(
                    f"the postings in {currency} sum to {total}, not zero",
                    metadata={"currency": currency, "sum": str(total)},
                )

    def totals(self) -> dict[str, int]:
        """The sum of the postings in each currency (zero in each, for a balanced one)."""
        totals: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.account.currency] += posting.amount_minor
        return dict(totals)

    def posting_to(self, account: Account) -> int:
        """What this transaction moved into (or, negative, out of) one account."""
        return sum(p.amount_minor for p in self.postings if p.account == account)


def transfer(source: Account, destination: Account, amount_minor: int) -> tuple[Posting, Posting]:
    """The two postings that move an amount from one account to another of its currency."""
    if source.currency != destination.currency:
        raise UnbalancedTransaction(f"{source} and {destination} are in different currencies")
    return Posting(source, -amount_minor), Posting(destination, amount_minor)


@dataclass
class Book:
    """Balances in memory, moved only by whole balanced transactions (the model the
    database's ledger is checked against, and the rules it applies)."""

    balances: dict[Account, int] = field(default_factory=dict)
    causes: set[tuple[TransactionKind, str]] = field(default_factory=set)

    def balance(self, account: Account) -> int:
        return self.balances.get(account, 0)

    def apply(self, transaction: Transaction) -> bool:
        """Applies a transaction whole, once per kind and cause (False: it already was);
        refused whole if unbalanced or if it would overdraw an account."""
        transaction.check()
        if (transaction.kind, transaction.cause) in self.causes:
            return False
        after = overdraft_check(self.balances, transaction)
        self.balances.update(after)
        self.causes.add((transaction.kind, transaction.cause))
        return True


def overdraft_check(
    balances: Mapping[Account, int], transaction: Transaction
) -> dict[Account, int]:
    """The balances of the accounts a transaction touches once it is applied; Overdrawn if
    one that must not go negative would."""
    after: dict[Account, int] = {}
    for posting in transaction.postings:
        before = balances.get(posting.account, 0)
        now = before + posting.amount_minor
        if now < 0 and posting.account.kind.non_negative:
            raise Overdrawn(posting.account, before, posting.amount_minor)
        after[posting.account] = now
    return after
