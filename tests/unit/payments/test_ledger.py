"""The ledger's rules, pure: a transaction balances per currency or is refused, an account
that must not go negative is never taken below zero, a cause is applied once; random
sequences of movements keep every invariant (hypothesis, against a model of the balances)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Book,
    Overdrawn,
    Posting,
    Transaction,
    TransactionKind,
    UnbalancedTransaction,
    transfer,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CLIENT = "0190f1a2-0000-7000-8000-000000000001"
PRACTITIONER = "0190f1a2-0000-7000-8000-000000000002"


def credit(currency: str = "EUR") -> Account:
    return Account(CLIENT, AccountKind.CLIENT_CREDIT, currency)


def world(currency: str = "EUR") -> Account:
    return Account(EXTERNAL, AccountKind.EXTERNAL, currency)


def clearing(currency: str = "EUR") -> Account:
    return Account(PLATFORM, AccountKind.PLATFORM_CLEARING, currency)


def movement(
    postings: list[Posting], cause: str = "c1", kind: TransactionKind = TransactionKind.ADJUSTMENT
) -> Transaction:
    return Transaction.balanced("t-" + cause, kind, cause, postings, NOW)


def test_a_transfer_balances_and_moves_the_amount():
    made = movement([*transfer(world(), credit(), 2500)], kind=TransactionKind.CREDIT_PURCHASE)
    assert made.totals() == {"EUR": 0}
    assert made.posting_to(credit()) == 2500 and made.posting_to(world()) == -2500


def test_postings_that_do_not_sum_to_zero_are_refused_naming_the_currency():
    with pytest.raises(
        UnbalancedTransaction, match="the postings in EUR sum to 1, not zero"
    ) as refused:
        movement([Posting(world(), -2500), Posting(credit(), 2501)])
    assert refused.value.reason == "UNBALANCED_TRANSACTION"
    assert refused.value.metadata == {"currency": "EUR", "sum": "1"}


def test_each_currency_balances_on_its_own():
    # 10 EUR in and 10 USD out sum to zero as numbers, but create euros and destroy dollars.
    with pytest.raises(UnbalancedTransaction, match="sum to"):
        movement([Posting(credit("EUR"), 1000), Posting(world("USD"), -1000)])
    both = movement(
        [*transfer(world("EUR"), credit("EUR"), 1000), *transfer(world("USD"), credit("USD"), 7)]
    )
    assert both.totals() == {"EUR": 0, "USD": 0}


def test_a_transfer_across_currencies_is_refused():
    with pytest.raises(UnbalancedTransaction, match="different currencies"):
        transfer(world("EUR"), credit("USD"), 100)


@pytest.mark.parametrize(
    ("postings", "message"),
    [
        ([], "between two accounts or more"),
        ([Posting(credit(), 0), Posting(world(), 0)], "between two accounts or more"),
        ([Posting(credit(), 5), Posting(credit(), -5)], "appears twice"),
        ([Posting(credit("XXX"), 5), Posting(world("XXX"), -5)], "not an ISO 4217 currency"),
        ([Posting(credit(), 2**63), Posting(world(), -(2**63))], "not an amount"),
    ],
)
def test_what_is_not_a_movement_is_refused(postings, message):
    with pytest.raises(UnbalancedTransaction, match=message):
        movement(postings)


def test_a_transaction_names_its_cause():
    with pytest.raises(UnbalancedTransaction, match="names its cause"):
        movement([*transfer(world(), credit(), 1)], cause="")


def test_only_spendable_and_owed_accounts_must_stay_non_negative():
    guarded = {k for k in AccountKind if k.non_negative}
    assert guarded == {
        AccountKind.CLIENT_CREDIT,
        AccountKind.PRACTITIONER_PENDING,
        AccountKind.PRACTITIONER_AVAILABLE,
        AccountKind.PRACTITIONER_PAID_OUT,
        # What the platform owes gift cards' bearers: a redemption never takes more.
        AccountKind.PLATFORM_GIFT_CARDS,
    }


def test_a_spend_beyond_the_credit_is_refused_whole():
    book = Book()
    book.apply(movement([*transfer(world(), credit(), 1000)], "buy"))
    with pytest.raises(Overdrawn, match="holds 1000, too little for -1001") as refused:
        book.apply(movement([*transfer(credit(), clearing(), 1001)], "spend"))
    assert refused.value.reason == "INSUFFICIENT_FUNDS"
    assert book.balance(credit()) == 1000 and book.balance(clearing()) == 0
    book.apply(movement([*transfer(credit(), clearing(), 1000)], "spend-all"))
    assert book.balance(credit()) == 0


def test_the_platform_and_the_world_may_go_negative():
    book = Book()
    book.apply(movement([*transfer(clearing(), world(), 300)], "refund-before-charge"))
    assert book.balance(clearing()) == -300


def test_a_cause_is_applied_once():
    book = Book()
    buy = movement([*transfer(world(), credit(), 1000)], "order-1")
    assert book.apply(buy) is True
    assert book.apply(movement([*transfer(world(), credit(), 1000)], "order-1")) is False
    assert book.balance(credit()) == 1000


# Random sequences of movements against a model ---------------------------------------------

OWNERS = [CLIENT, PRACTITIONER, PLATFORM, EXTERNAL]
ACCOUNTS = [Account(o, k, c) for o in OWNERS for k in AccountKind for c in ("EUR", "JPY")]


@st.composite
def movements(draw: st.DrawFn) -> Transaction:
    """A movement between random accounts, sometimes unbalanced, sometimes overdrawing."""
    currency = draw(st.sampled_from(["EUR", "JPY"]))
    accounts = [a for a in ACCOUNTS if a.currency == currency]
    legs = draw(st.lists(st.sampled_from(accounts), min_size=2, max_size=4, unique=True))
    amounts = [draw(st.integers(-5000, 5000)) for _ in legs[1:]]
    skew = draw(st.sampled_from([0, 0, 0, 1, -7]))
    postings = [Posting(a, n) for a, n in zip(legs[1:], amounts, strict=True)]
    postings.append(Posting(legs[0], -sum(amounts) + skew))
    cause = draw(st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"]))
    return Transaction(f"t-{cause}", TransactionKind.ADJUSTMENT, cause, tuple(postings), NOW)


@settings(max_examples=50, deadline=None)
@given(st.lists(movements(), max_size=25))
def test_random_movements_keep_every_invariant(sequence):
    book = Book()
    applied: list[Transaction] = []
    for candidate in sequence:
        before = dict(book.balances)
        balanced = sum(p.amount_minor for p in candidate.postings) == 0
        try:
            done = book.apply(candidate)
        except UnbalancedTransaction:
            assert (
                not balanced or len({p.account for p in candidate.postings if p.amount_minor}) < 2
            )
            assert book.balances == before
            continue
        except Overdrawn as refused:
            assert balanced
            assert before.get(refused.account, 0) + candidate.posting_to(refused.account) < 0
            assert book.balances == before
            continue
        assert balanced
        if done:
            applied.append(candidate)
        else:
            assert book.balances == before
        # Every invariant after every step: money neither created nor lost in any currency,
        # no guarded account below zero, each balance the sum of what was applied to it.
        for currency in ("EUR", "JPY"):
            assert sum(v for a, v in book.balances.items() if a.currency == currency) == 0
        assert all(v >= 0 for a, v in book.balances.items() if a.kind.non_negative)
        for account, balance in book.balances.items():
            assert balance == sum(t.posting_to(account) for t in applied)
