"""Readers' subscriptions to streams' paid tiers, as payments reports them: payments bills
them; streams keeps where each stands and lets a reader read at the highest level their
subscriptions to a stream grant. Changes of one subscription carry a growing sequence, so
one older than the last applied is ignored, whatever order the bus delivers them in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.streams.domain.streams import FREE_LEVEL

SUBSCRIPTION_PREFIX = "streamSubscriptions/"


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    ENDED = "ended"
    FAILED = "failed"


@dataclass(frozen=True)
class StreamSubscription:
    """One subscription as its latest applied change left it."""

    id: str
    stream_id: str
    user_id: str
    # The level subscribed to, and the level it grants now (FREE_LEVEL unless active).
    level: int
    granted_level: int
    status: SubscriptionStatus
    current_period_end: datetime | None
    cancel_at_period_end: bool
    sequence: int


def granted_level(subscriptions: Iterable[StreamSubscription]) -> int:
    """The level a reader's subscriptions to one stream let them read at: the highest any
    grants (normally they hold one)."""
    return max((s.granted_level for s in subscriptions), default=FREE_LEVEL)
