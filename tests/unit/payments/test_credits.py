"""Credits' rules without a database: what a top-up and a redemption move in the ledger, how a
promo code is spelled and checked when made, and why a redemption the counter turned down
was refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chassis.errors import InvalidArgument
from chassis.money import Money
from services.payments.domain.credits import (
    MAX_REDEMPTIONS,
    CreditPurchase,
    CreditPurchaseStatus,
    PromoCode,
    normalized_code,
)
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Book,
    TransactionKind,
)

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(days=30)


def promo(code: str = "spring", minor: int = 1_000, limit: int = 3) -> PromoCode:
    return PromoCode.create("p1", code, Money(minor, "EUR"), limit, LATER, "staff", NOW)


def test_a_top_up_moves_its_amount_from_the_world_into_the_clients_credit_once():
    purchase = CreditPurchase(
        "c1", "cleo", Money(2_500, "EUR"), CreditPurchaseStatus.PENDING, NOW, NOW
    )
    book = Book()
    credited = purchase.credited("t1", NOW)
    assert (credited.kind, credited.cause) == (
        TransactionKind.CREDIT_PURCHASE,
        "credit_purchases/c1",
    )
    assert book.apply(credited)
    assert not book.apply(purchase.credited("t2", NOW))
    assert book.balance(Account("cleo", AccountKind.CLIENT_CREDIT, "EUR")) == 2_500
    assert book.balance(Account(EXTERNAL, AccountKind.EXTERNAL, "EUR")) == -2_500


def test_a_redemption_gives_credit_from_promotions_once_per_client():
    code = promo(minor=700)
    book = Book()
    assert book.apply(code.redeemed_by("cleo", "t1", NOW))
    assert not book.apply(code.redeemed_by("cleo", "t2", NOW))
    assert book.apply(code.redeemed_by("noor", "t3", NOW))
    assert book.balance(Account("cleo", AccountKind.CLIENT_CREDIT, "EUR")) == 700
    # The platform's promotions may go negative: it is what the platform gave away.
    assert book.balance(Account(PLATFORM, AccountKind.PLATFORM_PROMOTIONS, "EUR")) == -1_400
    assert not AccountKind.PLATFORM_PROMOTIONS.non_negative


@pytest.mark.parametrize(
    ("given", "kept"), [("spring-26", "SPRING-26"), (" Yoga_1 ", "YOGA_1"), ("abc", "ABC")]
)
def test_a_code_is_kept_in_upper_case(given, kept):
    assert normalized_code(given) == kept


@pytest.mark.parametrize("given", ["ab", "-lead", "with space", "x" * 41, "émoi", ""])
def test_a_code_that_cannot_be_one_is_refused_naming_code(given):
    with pytest.raises(InvalidArgument) as refused:
        normalized_code(given)
    assert [v.field for v in refused.value.violations] == ["code"]


@pytest.mark.parametrize(
    ("minor", "limit", "expires", "field"),
    [
        (0, 3, LATER, "amount.amount_minor"),
        (100, 0, LATER, "max_redemptions"),
        (100, MAX_REDEMPTIONS + 1, LATER, "max_redemptions"),
        (100, 3, NOW, "expires_at"),
    ],
)
def test_a_promo_code_is_made_with_a_positive_amount_and_limit_and_a_future_expiry(
    minor, limit, expires, field
):
    with pytest.raises(InvalidArgument) as refused:
        PromoCode.create("p1", "SPRING", Money(minor, "EUR"), limit, expires, "staff", NOW)
    assert [v.field for v in refused.value.violations] == [field]


def test_the_bounds_themselves_make_a_code():
    made = PromoCode.create(
        "p1", "SPRING", Money(1, "EUR"), MAX_REDEMPTIONS, NOW + timedelta(seconds=1), "s", NOW
    )
    assert (made.redemptions, made.max_redemptions) == (0, MAX_REDEMPTIONS)


def test_a_refused_redemption_says_expired_at_and_after_the_expiry_else_exhausted():
    code = promo()
    assert code.refusal(LATER - timedelta(seconds=1)).reason == "PROMO_CODE_EXHAUSTED"
    assert code.refusal(LATER).reason == "PROMO_CODE_EXPIRED"
    assert code.refusal(LATER + timedelta(days=1)).reason == "PROMO_CODE_EXPIRED"
