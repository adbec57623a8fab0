"""Readers' subscriptions to a stream's paid tier, billed monthly by the provider. The level a
reader is granted on the stream follows what the provider says of the subscription, as a
platform subscription's tier does (one forward-only `following`), with one difference: a
renewal being retried (PAST_DUE) grants nothing, as readers cannot be billed after reading.
The price is streams' price of the tier when subscribed (or upgraded to); when streams
changes a tier's price (stream.tier_repriced), its subscribers are billed the new one from
their next renewal, never before: the provider is asked to bill it from the period's end, the
new price waits as the next period's (its level, `next_level`, the same) and is the price held
once the provider's period has renewed. Each paid invoice is one stream order of kind
SUBSCRIPTION, earned by the creator as a tip is, of the invoice's amount."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chassis.money import Money
from services.payments.domain.subscriptions import (
    GRANTING,
    LIVE,
    ProviderView,
    SubscriptionStatus,
    following,
)

STREAM_SUBSCRIPTION_PREFIX = "streamSubscriptions/"


def tier_name(stream_id: str, level: int) -> str:
    return f"streams/{stream_id}/tiers/{level}"


@dataclass(frozen=True)
class TierTerms:
    """What streams says one of a stream's paid tiers is sold for, now."""

    stream_id: str
    level: int
    owner_user_id: str
    display_name: str
    price: Money

    @property
    def name(self) -> str:
        return tier_name(self.stream_id, self.level)


@dataclass(frozen=True)
class PricedLevel:
    """A stream's level at the price it is billed at (what a provider price sells)."""

    level: int
    price: Money


@dataclass(frozen=True)
class StreamSubscription:
    id: str
    user_id: str
    stream_id: str
    creator_user_id: str
    level: int
    price: Money
    status: SubscriptionStatus
    payment_method: str
    created_at: datetime
    updated_at: datetime
    next_level: int | None = None
    """The level billed, and granted, from the next period on when something else is: a
    downgrade asked for, or the tier's new price (then the level held)."""
    provider_subscription_id: str = ""
    customer_id: str = ""
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    failure_code: str = ""
    revision: int = 0
    """Counts the changes asked of the provider, so each has its own idempotency key."""
    sequence: int = 0
    """Counts the changes said (stream_subscription.changed), so consumers keep the last."""

    @property
    def name(self) -> str:
        return STREAM_SUBSCRIPTION_PREFIX + self.id

    @property
    def tier(self) -> str:
        return tier_name(self.stream_id, self.level)

    @property
    def granted_level(self) -> int:
        """The level this subscription gives its reader now: nothing unless paid up."""
        return self.level if self.status is SubscriptionStatus.ACTIVE else 0

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def renewing_level(self) -> int:
        """The level the next period is billed at: a downgrade's asked, else the level held."""
        return self.level if self.next_level is None else self.next_level

    def repriced_by(self, level: int, price: Money) -> bool:
        """Whether a tier's new price is a change to ask of the provider for this
        subscription, from its next period: it renews (paid up, or its renewal retried; not
        cancelled, nor still waiting for its first payment) on that tier, and is not known to
        be billed that price already (nothing pending, and paying it). One leaving the tier by
        a downgrade is not moved (its next period is another tier's); one coming to it by a
        downgrade is billed the tier's new price, as its next period is the tier's."""
        if self.status not in GRANTING or self.cancel_at_period_end:
            return False
        if self.renewing_level != level:
            return False
        return self.next_level is not None or self.price != price

    def following(self, seen: ProviderView[PricedLevel], at: datetime) -> StreamSubscription:
        """This subscription moved to what the provider says now, only forward: an ended or
        failed one stays so."""
        if not self.live:
            return self
        held = PricedLevel(self.level, self.price)
        moved = following(
            held, self.status, self.current_period_end, seen, lambda billed: billed.level
        )
        return replace(
            self,
            level=moved.held.level,
            price=moved.held.price,
            next_level=None if moved.next is None else moved.next.level,
            status=moved.status,
            current_period_end=moved.current_period_end,
            cancel_at_period_end=moved.cancel_at_period_end,
            updated_at=at,
        )

    def failed(self, code: str, at: datetime) -> StreamSubscription:
        """The first payment refused: nothing granted, and the reader may try again."""
        return replace(self, status=SubscriptionStatus.FAILED, failure_code=code, updated_at=at)

    def said_from(self, before: StreamSubscription) -> StreamSubscription | None:
        """This state as the next change said to streams (its sequence one more), or None
        if nothing a consumer acts on moved: what it grants, its status, its period, its
        cancellation."""
        said = (
            self.granted_level,
            self.level,
            self.status,
            self.current_period_end,
            self.cancel_at_period_end,
        )
        if said == (
            before.granted_level,
            before.level,
            before.status,
            before.current_period_end,
            before.cancel_at_period_end,
        ):
            return None
        return replace(self, sequence=before.sequence + 1)


@dataclass(frozen=True)
class StreamSubscriptionChanged:
    """A subscription changed what it grants or its period (stream_subscription.changed)."""

    subscription: StreamSubscription
    at: datetime
