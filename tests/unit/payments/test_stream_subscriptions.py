"""A stream subscription as the provider moves it: what it grants in each status (nothing
while a renewal is retried, unlike a platform tier), an upgrade granted at once and a
downgrade only from the next period (the one `following` platform tiers use, ranked by
level), a stale or ended state never moving it back, and the changes said to streams, each
with the next sequence, and only when what streams acts on moved."""

from __future__ import annotations

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
