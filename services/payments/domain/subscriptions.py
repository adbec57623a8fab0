"""Practitioners' platform subscriptions: a paid tier (Entry or Premium) billed monthly by the
provider. The tier a practitioner holds (their service limit in catalog, their commission
here) follows what the provider says of the subscription: granted once the first period is
paid, raised at once by an upgrade, lowered by a downgrade only when the paid period ends,
kept while a renewal is retried, and back to Free when the subscription ends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from chassis.money import Money
from services.payments.domain.earnings import Tier
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Transaction,
    TransactionKind,
    transfer,
)

# What a subscription bills and grants: a platform tier, or a stream's tier at its price.
T = TypeVar("T")

# Higher is more: an upgrade moves up this order, a downgrade down it.
RANK = {Tier.FREE: 0, Tier.ENTRY: 1, Tier.PREMIUM: 2}
PAID_TIERS = (Tier.ENTRY, Tier.PREMIUM)


class SubscriptionStatus(StrEnum):
    """PENDING until the first period is paid; ACTIVE while paid; PAST_DUE while a failed
    renewal is retried (the tier kept); ENDED when cancelled or lapsed; FAILED when the first
    payment was refused (nothing granted)."""

    PENDING = "pending"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    ENDED = "ended"
    FAILED = "failed"


# A practitioner has at most one subscription in these states.
LIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
GRANTING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


class NotAPaidTier(ValueError):
    """Only Entry and Premium are subscribed to; Free is where everyone starts."""


def paid_tier(tier: Tier) -> Tier:
    """The tier, if one that is paid for."""
    if tier not in PAID_TIERS:
        raise NotAPaidTier(f"{tier.value} is not a paid tier: choose entry or premium")
    return tier


@dataclass(frozen=True)
class ProviderView(Generic[T]):
    """What the provider says of a subscription now, in our words; T is what is billed (a
    platform tier, a stream's tier at its price)."""

    status: SubscriptionStatus
    billed: T
    """What the price on the subscription sells: after a downgrade, the next period's."""
    current_period_end: datetime | None
    cancel_at_period_end: bool


@dataclass(frozen=True)
class Followed(Generic[T]):
    """Where a subscription stands once it has followed the provider."""

    held: T
    next: T | None
    status: SubscriptionStatus
    current_period_end: datetime | None
    cancel_at_period_end: bool


def following(
    held: T,
    status: SubscriptionStatus,
    current_period_end: datetime | None,
    seen: ProviderView[T],
    rank: Callable[[T], int],
) -> Followed[T]:
    """A live subscription moved to what the provider says now, only forward, for platform
    tiers and stream tiers alike (`rank` orders what is billed): a stale PENDING cannot take
    back a paid first period; something billed above what is held is an upgrade, held at
    once; below it a downgrade, held only once the provider's period has moved past the end
    of the period it was asked in."""
    moved_status = seen.status
    if status is not SubscriptionStatus.PENDING and seen.status is SubscriptionStatus.PENDING:
        moved_status = status
    renewed = (
        current_period_end is not None
        and seen.current_period_end is not None
        and seen.current_period_end > current_period_end
    )
    next_held: T | None
    if rank(seen.billed) > rank(held) or (renewed and seen.billed != held):
        held, next_held = seen.billed, None
    elif seen.billed != held:
        next_held = seen.billed
    else:
        next_held = None
    return Followed(
        held,
        next_held,
        moved_status,
        seen.current_period_end or current_period_end,
        seen.cancel_at_period_end,
    )


@dataclass(frozen=True)
class PlatformSubscription:
    id: str
    user_id: str
    tier: Tier
    status: SubscriptionStatus
    payment_method: str
    created_at: datetime
    updated_at: datetime
    next_tier: Tier | None = None
    """A downgrade asked for: billed, and held, from the next period on."""
    provider_subscription_id: str = ""
    customer_id: str = ""
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    failure_code: str = ""
    revision: int = 0
    """Counts the changes asked of the provider, so each has its own idempotency key and a
    retry of one change reuses its key."""

    @property
    def granted_tier(self) -> Tier:
        """The tier this subscription gives its practitioner now."""
        return self.tier if self.status in GRANTING else Tier.FREE

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def is_upgrade(self, to: Tier) -> bool:
        """Whether moving to a tier raises it (charged at once) rather than lowers it."""
        return RANK[to] > RANK[self.tier]

    def following(self, seen: ProviderView[Tier], at: datetime) -> PlatformSubscription:
        """This subscription moved to what the provider says now, only forward: an ended or
        failed one stays so (see `following`)."""
        if not self.live:
            return self
        moved = following(self.tier, self.status, self.current_period_end, seen, RANK.__getitem__)
        return replace(
            self,
            tier=moved.held,
            next_tier=moved.next,
            status=moved.status,
            current_period_end=moved.current_period_end,
            cancel_at_period_end=moved.cancel_at_period_end,
            updated_at=at,
        )

    def failed(self, code: str, at: datetime) -> PlatformSubscription:
        """The first payment refused: nothing granted, and the practitioner may try again."""
        return replace(self, status=SubscriptionStatus.FAILED, failure_code=code, updated_at=at)


@dataclass(frozen=True)
class TierChanged:
    """The tier a practitioner holds moved (subscription.tier_changed)."""

    user_id: str
    previous: Tier
    tier: Tier
    at: datetime


def tier_change(
    before: PlatformSubscription | None, after: PlatformSubscription, at: datetime
) -> TierChanged | None:
    """The change of held tier between two states of a practitioner's subscription."""
    previous = before.granted_tier if before is not None else Tier.FREE
    if previous is after.granted_tier:
        return None
    return TierChanged(after.user_id, previous, after.granted_tier, at)


def subscription_revenue(
    transaction_id: str, invoice_id: str, amount: Money, at: datetime
) -> Transaction:
    """A paid subscription invoice: the practitioner's card payment is the platform's
    revenue, once per invoice."""
    return Transaction.balanced(
        transaction_id,
        TransactionKind.SUBSCRIPTION,
        f"invoices/{invoice_id}",
        transfer(
            Account(EXTERNAL, AccountKind.EXTERNAL, amount.currency),
            Account(PLATFORM, AccountKind.PLATFORM_REVENUE, amount.currency),
            amount.amount_minor,
        ),
        at,
        description=f"platform subscription invoice {invoice_id}",
    )
