"""A paid tier's change of price is said, and only a change of price."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from chassis.money import Money
from services.streams.domain.streams import Tier, TierRepriced, repricing

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FRIENDS = Tier("stream", 1, "Friends", Money(500, "EUR"))


def test_a_new_price_is_a_repricing_of_the_tier_as_it_now_is():
    after = replace(FRIENDS, display_name="Supporters", price=Money(700, "EUR"))
    assert repricing(FRIENDS, after, AT) == TierRepriced(after, AT)


def test_another_currency_is_a_new_price():
    after = replace(FRIENDS, price=Money(500, "USD"))
    assert repricing(FRIENDS, after, AT) == TierRepriced(after, AT)


def test_a_rename_or_the_same_price_again_is_none():
    assert repricing(FRIENDS, replace(FRIENDS, display_name="Supporters"), AT) is None
    assert repricing(FRIENDS, replace(FRIENDS, price=Money(500, "EUR")), AT) is None
