"""A stream subscription as the provider moves it: what it grants in each status (nothing
while a renewal is retried, unlike a platform tier), an upgrade granted at once and a
downgrade only from the next period (the one `following` platform tiers use, ranked by
level), a tier's new price held only once the period has renewed, which subscriptions a new
price of a tier moves, a stale or ended state never moving it back, and the changes said to
streams, each with the next sequence, and only when what streams acts on moved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chassis.money import Money
from services.payments.domain.stream_subscriptions import PricedLevel, StreamSubscription
from services.payments.domain.subscriptions import ProviderView, SubscriptionStatus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MONTH = timedelta(days=30)
SILVER, GOLD = PricedLevel(1, Money(500, "EUR")), PricedLevel(2, Money(1_200, "EUR"))
S = SubscriptionStatus


def subscription(status: S = S.ACTIVE, held: PricedLevel = SILVER) -> StreamSubscription:
    return StreamSubscription(
        "s1",
        "reader",
        "stream",
        "creator",
        held.level,
        held.price,
        status,
        "pm_card_visa",
        NOW,
        NOW,
        current_period_end=NOW + MONTH if status is not S.PENDING else None,
        sequence=0 if status is S.PENDING else 1,
    )


def seen(
    status: S, billed: PricedLevel, period_end: datetime | None, cancel: bool = False
) -> ProviderView[PricedLevel]:
    return ProviderView(status, billed, period_end, cancel)


@pytest.mark.parametrize(
    ("status", "granted"),
    [(S.PENDING, 0), (S.ACTIVE, 2), (S.PAST_DUE, 0), (S.ENDED, 0), (S.FAILED, 0)],
)
def test_only_a_paid_up_subscription_grants_its_level(status, granted):
    assert subscription(status, GOLD).granted_level == granted


def test_an_upgrade_is_held_at_once_at_its_price_and_a_downgrade_from_the_next_period():
    current = subscription(held=SILVER)
    end = current.current_period_end
    assert end is not None
    up = current.following(seen(S.ACTIVE, GOLD, end), NOW)
    assert (up.level, up.price, up.next_level) == (2, GOLD.price, None)
    down = up.following(seen(S.ACTIVE, SILVER, end), NOW)
    assert (down.level, down.next_level, down.granted_level) == (2, 1, 2)
    renewed = down.following(seen(S.ACTIVE, SILVER, end + MONTH), NOW)
    assert (renewed.level, renewed.price, renewed.next_level) == (1, SILVER.price, None)


def test_nothing_moves_a_subscription_back():
    current = subscription()
    end = current.current_period_end
    # A stale answer from before the first payment cannot take the paid month back.
    assert current.following(seen(S.PENDING, SILVER, None), NOW).status is S.ACTIVE
    ended = current.following(seen(S.ENDED, SILVER, end), NOW)
    assert ended.following(seen(S.ACTIVE, SILVER, end), NOW) == ended


def test_a_change_is_said_with_the_next_sequence_only_when_streams_would_act_on_it():
    current = subscription(held=GOLD)
    end = current.current_period_end
    assert end is not None
    # A downgrade asked moves nothing streams acts on until it takes effect.
    asked = current.following(seen(S.ACTIVE, SILVER, end), NOW)
    assert asked.next_level == 1 and asked.said_from(current) is None
    for moved in (
        current.following(seen(S.PAST_DUE, GOLD, end), NOW),
        current.following(seen(S.ACTIVE, GOLD, end, cancel=True), NOW),
        current.following(seen(S.ACTIVE, GOLD, end + MONTH), NOW),
        asked.following(seen(S.ACTIVE, SILVER, end + MONTH), NOW),
    ):
        said = moved.said_from(current)
        assert said is not None and said.sequence == current.sequence + 1


SILVER_REPRICED = PricedLevel(1, Money(700, "EUR"))


def test_a_tiers_new_price_waits_for_the_renewal_and_says_nothing_until_then():
    current = subscription(held=SILVER)
    end = current.current_period_end
    assert end is not None
    asked = current.following(seen(S.ACTIVE, SILVER_REPRICED, end), NOW)
    assert (asked.level, asked.price, asked.next_level, asked.granted_level) == (
        1,
        SILVER.price,
        1,
        1,
    )
    assert asked.said_from(current) is None
    renewed = asked.following(seen(S.ACTIVE, SILVER_REPRICED, end + MONTH), NOW)
    assert (renewed.level, renewed.price, renewed.next_level) == (1, Money(700, "EUR"), None)
    said = renewed.said_from(asked)
    assert said is not None and said.sequence == asked.sequence + 1


@pytest.mark.parametrize(
    ("current", "moved"),
    [
        # Paying another price on the tier, paid up or its renewal retried: moved.
        (subscription(held=SILVER), True),
        (subscription(S.PAST_DUE, SILVER), True),
        # Already paying the new price (subscribed after the change): nothing to ask.
        (subscription(held=SILVER_REPRICED), False),
        # A new price pending (another change before): asked again, to the price now.
        (replace(subscription(held=SILVER_REPRICED), next_level=1), True),
        # Another tier: not this tier's next period.
        (subscription(held=GOLD), False),
        # Coming to the tier by a downgrade: its next period is the tier's.
        (replace(subscription(held=GOLD), next_level=1), True),
        # Ending with its period, not yet paid, or over: nothing renews.
        (replace(subscription(held=SILVER), cancel_at_period_end=True), False),
        (subscription(S.PENDING, SILVER), False),
        (subscription(S.ENDED, SILVER), False),
        (subscription(S.FAILED, SILVER), False),
    ],
)
def test_a_tiers_new_price_moves_the_subscriptions_that_renew_on_that_tier(current, moved):
    assert current.repriced_by(1, SILVER_REPRICED.price) is moved


def test_a_subscription_leaving_the_repriced_tier_is_not_moved():
    leaving = replace(subscription(held=GOLD), next_level=1)
    assert leaving.renewing_level == 1
    assert not leaving.repriced_by(2, Money(1_500, "EUR"))
