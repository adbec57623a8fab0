"""Cancellation policies: what a client's cancellation refunds at a given moment, and until
when they may move a booking instead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.booking.domain.terms import RefundRule


def refund_percent(policy: Sequence[RefundRule], starts_at: datetime, now: datetime) -> int:
    """The share of the price a client's cancellation at `now` refunds: the rule with the
    largest hours_before that the notice given still meets; none (or after the start): 0."""
    notice = starts_at - now
    if notice < timedelta(0):
        return 0
    for rule in sorted(policy, key=lambda r: r.hours_before, reverse=True):
        if notice >= timedelta(hours=rule.hours_before):
            return rule.refund_percent
    return 0


def reschedule_deadline(policy: Sequence[RefundRule], starts_at: datetime) -> datetime | None:
    """The last moment a client may move a booking: as long as cancelling would still
    refund something (the smallest hours_before of a refunding rule); None when the policy
    never refunds, so a client cannot move it at all."""
    refunding = [rule.hours_before for rule in policy if rule.refund_percent > 0]
    if not refunding:
        return None
    return starts_at - timedelta(hours=min(refunding))
