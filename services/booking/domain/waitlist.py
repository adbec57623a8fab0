"""Waitlists for full group sessions: first come, first offered. When a seat frees, it is
held for the first in line for a while (an offer); booking takes it, and if the offer lapses
the seat is offered to the next in line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.lifecycle import WrongState
from services.booking.domain.bookings import BookedTime
from services.booking.domain.events import WaitlistOffered
from services.booking.domain.terms import ServiceTerms

NOUN = "waitlist entry"


class WaitlistStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    LAPSED = "lapsed"


# The entries still in line (one per client and session).
IN_LINE = frozenset({WaitlistStatus.WAITING, WaitlistStatus.OFFERED})


@dataclass
class WaitlistEntry:
    id: str
    service_id: str
    starts_at: datetime
    client_id: str
    status: WaitlistStatus
    created_at: datetime
    updated_at: datetime
    offer_expires_at: datetime | None = None

    def offer(
        self, now: datetime, lasting: timedelta, time: BookedTime, terms: ServiceTerms
    ) -> WaitlistOffered:
        """A seat of the service the terms sell is held for this client until the offer
        expires."""
        if self.status is not WaitlistStatus.WAITING:
            raise WrongState(NOUN, self.status.value, [WaitlistStatus.WAITING.value])
        self.status = WaitlistStatus.OFFERED
        self.offer_expires_at = now + lasting
        self.updated_at = now
        return WaitlistOffered(
            self.id,
            self.service_id,
            self.client_id,
            time,
            self.offer_expires_at,
            terms.title,
            terms.time_zone,
        )

    def is_offer_live(self, now: datetime) -> bool:
        return (
            self.status is WaitlistStatus.OFFERED
            and self.offer_expires_at is not None
            and now < self.offer_expires_at
        )

    def accept(self, now: datetime) -> None:
        """The client booked the seat held for them."""
        if not self.is_offer_live(now):
            raise WrongState(NOUN, self.status.value, [WaitlistStatus.OFFERED.value])
        self.status = WaitlistStatus.ACCEPTED
        self.updated_at = now

    def lapse(self, now: datetime) -> None:
        """The offer ran out unused."""
        if self.status is not WaitlistStatus.OFFERED:
            raise WrongState(NOUN, self.status.value, [WaitlistStatus.OFFERED.value])
        self.status = WaitlistStatus.LAPSED
        self.updated_at = now
