"""Entitlements: the sessions a paid package or bundle grants, redeemed one booking at a
time without payment, given back by a cancellation within the policy.

Each entitlement carries the share of the purchase's price it stands for, so a redemption's
completion can tell payments what was paid for that session: the share is spread evenly
over its sessions (in whole minor units, the remainder on the later ones), and a bundle's
price over its items in proportion to what they cost bought one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition
from services.booking.domain.terms import ServiceKind, ServiceTerms


class EntitlementStatus(StrEnum):
    ACTIVE = "active"
    USED_UP = "used_up"
    EXPIRED = "expired"
    VOID = "void"


@dataclass
class Entitlement:
    id: str
    client_id: str
    purchase_booking_id: str
    service_id: str
    service_title: str
    practitioner_id: str
    total: int
    used: int
    value_minor: int
    currency: str
    expires_at: datetime
    created_at: datetime
    voided_at: datetime | None = None

    @property
    def remaining(self) -> int:
        return self.total - self.used

    def status(self, now: datetime) -> EntitlementStatus:
        if self.voided_at is not None:
            return EntitlementStatus.VOID
        if self.remaining <= 0:
            return EntitlementStatus.USED_UP
        if now >= self.expires_at:
            return EntitlementStatus.EXPIRED
        return EntitlementStatus.ACTIVE

    def share(self, use: int) -> int:
        """The part of value_minor the use-th session (1-based) stands for."""
        return self.value_minor * use // self.total - self.value_minor * (use - 1) // self.total

    def redeem(self, now: datetime, until: datetime | None) -> int:
        """Uses one session (booked for `until`, which must fall before expiry); returns
        the share of the price it stands for."""
        status = self.status(now)
        if status is not EntitlementStatus.ACTIVE:
            raise FailedPrecondition(
                f"this entitlement is {status.value.replace('_', ' ')}",
                reason=f"ENTITLEMENT_{status.value.upper()}",
            )
        if until is not None and until > self.expires_at:
            raise FailedPrecondition(
                "this entitlement expires before that session",
                reason="ENTITLEMENT_EXPIRES_FIRST",
                metadata={"expire_time": self.expires_at.isoformat()},
            )
        self.used += 1
        return self.share(self.used)

    def give_back(self) -> None:
        """A redemption was cancelled within the policy: its session is usable again."""
        if self.used > 0:
            self.used -= 1

    def void(self, now: datetime) -> None:
        self.voided_at = now


def _allocate(total: int, weights: Sequence[int]) -> list[int]:
    """total split in proportion to weights, in whole units, summing exactly to total
    (largest remainders first; equal weights when all are zero)."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in remainders[: total - sum(shares)]:
        shares[index] += 1
    return shares


def grant(
    *,
    purchase_id: str,
    client_id: str,
    terms: ServiceTerms,
    parts: Mapping[str, ServiceTerms],
    paid_minor: int,
    now: datetime,
    bundle_validity: timedelta,
    new_id: Callable[[], str],
) -> list[Entitlement]:
    """What a paid package or bundle grants: a package, its sessions of one service for its
    validity; a bundle, one entitlement per item (an item that is itself a package grants
    that package's sessions), for the bundle validity."""
    if terms.kind is ServiceKind.PACKAGE:
        assert terms.package is not None
        session = parts.get(terms.package.session_service_id)
        return [
            Entitlement(
                id=new_id(),
                client_id=client_id,
                purchase_booking_id=purchase_id,
                service_id=terms.package.session_service_id,
                service_title=session.title if session else terms.title,
                practitioner_id=terms.practitioner_id,
                total=terms.package.session_count,
                used=0,
                value_minor=paid_minor,
                currency=terms.currency,
                expires_at=now + timedelta(days=terms.package.validity_days),
                created_at=now,
            )
        ]
    items = [(item, parts[item.service_id]) for item in terms.bundle_items]
    values = _allocate(paid_minor, [part.price_minor * item.quantity for item, part in items])
    granted = []
    for (item, part), value in zip(items, values, strict=True):
        if part.kind is ServiceKind.PACKAGE and part.package is not None:
            inner = parts.get(part.package.session_service_id)
            service_id = part.package.session_service_id
            title = inner.title if inner else part.title
            total = part.package.session_count * item.quantity
            expires = now + timedelta(days=part.package.validity_days)
        else:
            service_id, title, total = part.service_id, part.title, item.quantity
            expires = now + bundle_validity
        granted.append(
            Entitlement(
                id=new_id(),
                client_id=client_id,
                purchase_booking_id=purchase_id,
                service_id=service_id,
                service_title=title,
                practitioner_id=terms.practitioner_id,
                total=total,
                used=0,
                value_minor=value,
                currency=terms.currency,
                expires_at=expires,
                created_at=now,
            )
        )
    return granted
