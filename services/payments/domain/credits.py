"""Client credits: bought by card (a credit purchase, paid through one payment intent) or
given by a promo code staff made; either lands in the client's credit account, which
checkout spends first.

A purchase is credited once, when the provider says its intent succeeded (the ledger's
cause is the purchase); a promo code is redeemed once per client and never beyond its
limit nor after it expires, each redemption moving money from the platform's promotions
account (which may go negative: it is what the platform gave away) to the client's credit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import Money
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)

PROMO_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,39}$")
MAX_REDEMPTIONS = 1_000_000


class CreditPurchaseStatus(StrEnum):
    """PENDING until the provider says; PAID once credited; FAILED when the card was refused
    (the client may confirm the same intent with another card, which still pays it)."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class CreditPurchase:
    """A client's top-up of their credit by card: recorded before the provider is asked,
    its payment intent keyed by its id."""

    id: str
    client_id: str
    amount: Money
    status: CreditPurchaseStatus
    created_at: datetime
    updated_at: datetime
    payment_intent_id: str | None = None
    client_secret: str = ""
    failure_code: str = ""

    @property
    def cause(self) -> str:
        return f"credit_purchases/{self.id}"

    def credited(self, transaction_id: str, now: datetime) -> Transaction:
        """The card's money into the client's credit, once per purchase."""
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CREDIT_PURCHASE,
            self.cause,
            transfer(
                Account(EXTERNAL, AccountKind.EXTERNAL, self.amount.currency),
                Account(self.client_id, AccountKind.CLIENT_CREDIT, self.amount.currency),
                self.amount.amount_minor,
            ),
            now,
            description="credit top-up by card",
        )


@dataclass(frozen=True)
class PromoCode:
    """A code staff made that gives its amount in credit to each client who redeems it, up
    to max_redemptions clients, until it expires."""

    id: str
    code: str
    amount: Money
    max_redemptions: int
    redemptions: int
    expires_at: datetime
    created_by: str
    created_at: datetime

    @classmethod
    def create(
        cls,
        id: str,
        code: str,
        amount: Money,
        max_redemptions: int,
        expires_at: datetime,
        created_by: str,
        now: datetime,
    ) -> PromoCode:
        """A new code, checked: its spelling, a positive amount and limit, a future expiry."""
        code = normalized_code(code)
        if amount.amount_minor <= 0:
            raise InvalidArgument.field("amount.amount_minor", "must be above zero", "too_small")
        if not 1 <= max_redemptions <= MAX_REDEMPTIONS:
            raise InvalidArgument.field(
                "max_redemptions", f"must be between 1 and {MAX_REDEMPTIONS}", "out_of_range"
            )
        if expires_at <= now:
            raise InvalidArgument.field("expires_at", "must be in the future", "in_the_past")
        return cls(id, code, amount, max_redemptions, 0, expires_at, created_by, now)

    def redemption_cause(self, client_id: str) -> str:
        """One per code and client: the ledger refuses a second."""
        return f"promo_codes/{self.id}/clients/{client_id}"

    def redeemed_by(self, client_id: str, transaction_id: str, now: datetime) -> Transaction:
        """The code's amount from the platform's promotions to the client's credit."""
        return Transaction.balanced(
            transaction_id,
            TransactionKind.PROMOTION,
            self.redemption_cause(client_id),
            transfer(
                Account(PLATFORM, AccountKind.PLATFORM_PROMOTIONS, self.amount.currency),
                Account(client_id, AccountKind.CLIENT_CREDIT, self.amount.currency),
                self.amount.amount_minor,
            ),
            now,
            description=f"promo code {self.code}",
        )

    def refusal(self, now: datetime) -> FailedPrecondition:
        """Why a redemption the code's guarded counter turned down was refused."""
        if self.expires_at <= now:
            return FailedPrecondition(
                f"promo code {self.code} expired", reason="PROMO_CODE_EXPIRED"
            )
        return FailedPrecondition(
            f"promo code {self.code} has been redeemed as often as it may be",
            reason="PROMO_CODE_EXHAUSTED",
        )


def normalized_code(code: str) -> str:
    """A promo code as stored and matched: upper case, letters, digits, - and _."""
    upper = code.strip().upper()
    if not PROMO_CODE.match(upper):
        raise InvalidArgument.field(
            "code", "must be 3 to 40 letters, digits, - or _, starting with a letter or digit"
        )
    return upper


def already_redeemed(code: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"you have already redeemed promo code {code}", reason="PROMO_CODE_ALREADY_REDEEMED"
    )


@dataclass(frozen=True)
class Redemption:
    """A promo code one client redeemed: what it gave them and when."""

    code: str
    amount: Money
    transaction_id: str
    redeemed_at: datetime
