"""What readers pay creators through payments: tips (to a stream or one of its posts) and
posts' one-off unlocks. Payments takes the money; streams says what is sold and for how much
(its terms), and records each sale payments reports paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.money import Money
from services.streams.domain.streams import FREE_LEVEL, FREE_TIER_CURRENCY, Post, Stream


class SaleKind(StrEnum):
    TIP = "tip"
    UNLOCK = "unlock"


@dataclass(frozen=True)
class SaleTerms:
    """What a stream, or a post of it, is sold for (post_id "" for the stream itself)."""

    stream_id: str
    post_id: str
    owner_user_id: str
    currency: str
    unlock_price: Money | None

    @classmethod
    def of(cls, stream: Stream, post: Post | None) -> SaleTerms:
        return cls(
            stream.id,
            "" if post is None else post.id,
            stream.owner_user_id,
            stream_currency(stream),
            None if post is None else post.unlock_price,
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
