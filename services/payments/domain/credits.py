"""Client credits: bought by card (a credit purchase, paid through one payment intent),
given by a promo code staff made, or by a gift card someone bought; each lands in the
client's credit account, which checkout spends first.

A purchase is credited once, when the provider says its intent succeeded (the ledger's
cause is the purchase); a promo code is redeemed once per client and never beyond its
limit nor after it expires, each redemption moving money from the platform's promotions
account (which may go negative: it is what the platform gave away) to the client's credit.

A gift card is a credit purchase of its own kind: its money waits in the platform's
outstanding gift cards (a liability, never negative) until someone redeems its code, once,
into their credit. The code is shown to its buyer and kept only as a hash.

Credit given (by a promo code or a gift card) is a lot that expires: checkout spends the
lots soonest to expire first, before credit that does not expire (top-ups, refunds to
credit: the client paid for those), and a job moves each lot's unspent remainder to the
platform's breakage when its time comes, once per lot.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
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
# 20 of 32 letters and digits (no 0/O, 1/I): 100 random bits, read aloud without confusion.
GIFT_CARD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GIFT_CARD_CODE_LENGTH = 20
GIFT_CARD_CODE = re.compile(f"^[{GIFT_CARD_ALPHABET}]{{{GIFT_CARD_CODE_LENGTH}}}$")


class PurchaseKind(StrEnum):
    """What a card payment buys: credit for the buyer, or a gift card for anyone."""

    TOP_UP = "top_up"
    GIFT_CARD = "gift_card"


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
    kind: PurchaseKind = PurchaseKind.TOP_UP

    @property
    def cause(self) -> str:
        return f"credit_purchases/{self.id}"

    def credited(self, transaction_id: str, now: datetime) -> Transaction:
        """The card's money into the client's credit (a top-up) or the platform's outstanding
        gift cards (a gift card), once per purchase."""
        currency = self.amount.currency
        if self.kind is PurchaseKind.GIFT_CARD:
            kind, into = TransactionKind.GIFT_CARD_PURCHASE, outstanding_gift_cards(currency)
            description = "gift card bought by card"
        else:
            kind = TransactionKind.CREDIT_PURCHASE
            into = Account(self.client_id, AccountKind.CLIENT_CREDIT, currency)
            description = "credit top-up by card"
        return Transaction.balanced(
            transaction_id,
            kind,
            self.cause,
            transfer(
                Account(EXTERNAL, AccountKind.EXTERNAL, currency),
                into,
                self.amount.amount_minor,
            ),
            now,
            description=description,
        )


def outstanding_gift_cards(currency: str) -> Account:
    """The platform's liability for gift cards bought and not yet redeemed, in a currency."""
    return Account(PLATFORM, AccountKind.PLATFORM_GIFT_CARDS, currency)


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


class CreditLotStatus(StrEnum):
    """OPEN while some of the lot may still be spent; EXPIRED once its end came."""

    OPEN = "open"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CreditLot:
    """Credit a client was given (by a promo code or a gift card) that expires: what is left
    of it unspent, and when the rest goes."""

    id: str
    client_id: str
    currency: str
    granted_minor: int
    remaining_minor: int
    expires_at: datetime
    granted_by: str
    status: CreditLotStatus
    created_at: datetime

    @classmethod
    def of_grant(
        cls, id: str, grant: Transaction, client_id: str, amount: Money, expires_at: datetime
    ) -> CreditLot:
        """The lot a grant's transaction put in the client's credit."""
        return cls(
            id,
            client_id,
            amount.currency,
            amount.amount_minor,
            amount.amount_minor,
            expires_at,
            f"{grant.kind.value}:{grant.cause}",
            CreditLotStatus.OPEN,
            grant.created_at,
        )

    @property
    def cause(self) -> str:
        """One expiry per lot: the ledger refuses a second."""
        return f"credit_lots/{self.id}"

    def expiry(self, transaction_id: str, unspent_minor: int, now: datetime) -> Transaction:
        """The lot's unspent remainder from the client's credit to the platform's breakage."""
        return Transaction.balanced(
            transaction_id,
            TransactionKind.CREDIT_EXPIRY,
            self.cause,
            transfer(
                Account(self.client_id, AccountKind.CLIENT_CREDIT, self.currency),
                Account(PLATFORM, AccountKind.PLATFORM_BREAKAGE, self.currency),
                unspent_minor,
            ),
            now,
            description="credit expired",
        )


def spent_from_lots(lots: Sequence[CreditLot], amount_minor: int) -> list[tuple[CreditLot, int]]:
    """What a spend of amount_minor takes from each lot: the soonest to expire first, the
    rest from credit that does not expire."""
    taken = []
    for lot in sorted(lots, key=lambda lot: (lot.expires_at, lot.id)):
        if amount_minor <= 0:
            break
        take = min(lot.remaining_minor, amount_minor)
        if take > 0:
            taken.append((lot, take))
            amount_minor -= take
    return taken


def new_gift_card_code() -> str:
    """A fresh unguessable code, grouped by four for reading: ABCD-EFGH-..."""
    raw = "".join(secrets.choice(GIFT_CARD_ALPHABET) for _ in range(GIFT_CARD_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, GIFT_CARD_CODE_LENGTH, 4))


def gift_card_code_hash(code: str) -> str:
    """The hash a gift card's code is kept as (its case, spaces and dashes ignored); the code
    itself is never stored. A code of 100 random bits needs no salt: nobody can try them."""
    spelled = re.sub(r"[\s-]", "", code).upper()
    if not GIFT_CARD_CODE.match(spelled):
        raise InvalidArgument.field(
            "code", f"must be a gift card code of {GIFT_CARD_CODE_LENGTH} letters and digits"
        )
    return hashlib.sha256(spelled.encode()).hexdigest()


@dataclass(frozen=True)
class GiftCard:
    """A gift card: its purchase (of the same id), the hash of its code, until when it may
    be redeemed and, once it was, by whom."""

    id: str
    code_hash: str
    redeem_by: datetime
    redeemed_by: str | None = None
    redeemed_at: datetime | None = None

    @property
    def cause(self) -> str:
        """One redemption per card: the ledger refuses a second."""
        return f"gift_cards/{self.id}"

    def redeemed(
        self, amount: Money, client_id: str, transaction_id: str, now: datetime
    ) -> Transaction:
        """The card's amount from the outstanding gift cards to the redeemer's credit."""
        return Transaction.balanced(
            transaction_id,
            TransactionKind.GIFT_CARD_REDEMPTION,
            self.cause,
            transfer(
                outstanding_gift_cards(amount.currency),
                Account(client_id, AccountKind.CLIENT_CREDIT, amount.currency),
                amount.amount_minor,
            ),
            now,
            description="gift card redeemed",
        )


def gift_card_already_redeemed() -> FailedPrecondition:
    return FailedPrecondition(
        "this gift card has been redeemed already", reason="GIFT_CARD_ALREADY_REDEEMED"
    )


def gift_card_refusal(
    card: GiftCard, purchase: CreditPurchase, now: datetime
) -> FailedPrecondition | None:
    """Why a card may not be redeemed now, if it may not: unpaid, redeemed, expired."""
    if card.redeemed_by is not None:
        return gift_card_already_redeemed()
    if purchase.status is not CreditPurchaseStatus.PAID:
        return FailedPrecondition("this gift card is not paid for", reason="GIFT_CARD_NOT_PAID")
    if card.redeem_by <= now:
        return FailedPrecondition("this gift card has expired", reason="GIFT_CARD_EXPIRED")
    return None


@dataclass(frozen=True)
class GiftCardRedemption:
    """A gift card one client redeemed: what it gave them, when, and until when it lasts."""

    gift_card_id: str
    amount: Money
    transaction_id: str
    redeemed_at: datetime
    credit_expires_at: datetime
