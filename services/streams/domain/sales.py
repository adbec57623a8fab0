"""What readers pay creators through payments: tips (to a stream or one of its posts),
posts' one-off unlocks and each paid period of a subscription to a paid tier. Payments takes
the money; streams says what is sold and for how much (its terms), and records each sale
payments reports paid."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chassis.money import Money
from services.streams.domain.streams import FREE_LEVEL, FREE_TIER_CURRENCY, Post, Stream, Tier


class SaleKind(StrEnum):
    TIP = "tip"
    UNLOCK = "unlock"
    # One paid period of a reader's subscription to a paid tier (of no post).
    SUBSCRIPTION = "subscription"


@dataclass(frozen=True)
class SaleTerms:
    """What a stream, a post of it or one of its paid tiers is sold for (post_id "" and tier
    None for the stream itself)."""

    stream_id: str
    post_id: str
    owner_user_id: str
    currency: str
    unlock_price: Money | None
    tier: Tier | None = None

    @classmethod
    def of(cls, stream: Stream, post: Post | None, tier: Tier | None = None) -> SaleTerms:
        return cls(
            stream.id,
            "" if post is None else post.id,
            stream.owner_user_id,
            stream_currency(stream),
            None if post is None else post.unlock_price,
            tier,
        )


@dataclass(frozen=True)
class Sale:
    """One order payments reports paid: who paid what for which stream or post, and the
    creator's share of it."""

    order_id: str
    kind: SaleKind
    stream_id: str
    post_id: str
    buyer_user_id: str
    amount: Money
    earning: Money
    paid_at: datetime


def stream_currency(stream: Stream) -> str:
    """The currency a stream is paid in: its lowest paid tier's (the free tier's nominal
    one while it has none)."""
    paid = [t for t in stream.tiers if t.level > FREE_LEVEL]
    return min(paid, key=lambda t: t.level).price.currency if paid else FREE_TIER_CURRENCY


@dataclass(frozen=True)
class Amounts:
    """What readers paid in one currency: tips, unlocks and subscriptions' paid periods
    (gross), and the creator's share of all of it."""

    currency: str
    tips_minor: int = 0
    tip_count: int = 0
    unlocks_minor: int = 0
    unlock_count: int = 0
    earning_minor: int = 0
    subscriptions_minor: int = 0
    subscription_count: int = 0

    @property
    def paid_minor(self) -> int:
        return self.tips_minor + self.unlocks_minor + self.subscriptions_minor

    def adding(self, sale: Sale) -> Amounts:
        paid = sale.amount.amount_minor
        tip, unlock = sale.kind is SaleKind.TIP, sale.kind is SaleKind.UNLOCK
        period = sale.kind is SaleKind.SUBSCRIPTION
        return replace(
            self,
            tips_minor=self.tips_minor + paid * tip,
            tip_count=self.tip_count + tip,
            unlocks_minor=self.unlocks_minor + paid * unlock,
            unlock_count=self.unlock_count + unlock,
            subscriptions_minor=self.subscriptions_minor + paid * period,
            subscription_count=self.subscription_count + period,
            earning_minor=self.earning_minor + sale.earning.amount_minor,
        )


Breakdown = tuple[Amounts, ...]


@dataclass(frozen=True)
class Revenue:
    """A stream's revenue: in all, per calendar month (UTC, newest first) and per post (the
    most first), each per currency."""

    stream_id: str
    totals: Breakdown
    months: tuple[tuple[str, Breakdown], ...]
    posts: tuple[tuple[str, Breakdown], ...]


def revenue_of(stream_id: str, sales: Iterable[Sale]) -> Revenue:
    """The revenue the sales of a stream add up to."""
    totals: dict[str, Amounts] = {}
    months: dict[str, dict[str, Amounts]] = defaultdict(dict)
    posts: dict[str, dict[str, Amounts]] = defaultdict(dict)
    for sale in sales:
        buckets = [totals, months[sale.paid_at.strftime("%Y-%m")]]
        if sale.post_id:
            buckets.append(posts[sale.post_id])
        currency = sale.amount.currency
        for bucket in buckets:
            bucket[currency] = bucket.get(currency, Amounts(currency)).adding(sale)

    def breakdown(by_currency: dict[str, Amounts]) -> Breakdown:
        return tuple(by_currency[c] for c in sorted(by_currency))

    def weight(item: tuple[str, dict[str, Amounts]]) -> tuple[int, str]:
        return (-sum(a.paid_minor for a in item[1].values()), item[0])

    return Revenue(
        stream_id,
        breakdown(totals),
        tuple((m, breakdown(months[m])) for m in sorted(months, reverse=True)),
        tuple((p, breakdown(amounts)) for p, amounts in sorted(posts.items(), key=weight)),
    )
