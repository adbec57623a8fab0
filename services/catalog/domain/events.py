"""What happened in catalog that other services hear of: plain values, mapped to their
messages by catalog's events.py."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from services.catalog.domain.practitioners import Practitioner
    from services.catalog.domain.services import Service


@dataclass(frozen=True)
class PractitionerApproved:
    """Staff approved an application: identity grants the practitioner role."""

    practitioner_id: str
    user_id: str
    display_name: str
    approved_at: datetime


@dataclass(frozen=True)
class PractitionerRejected:
    practitioner_id: str
    user_id: str
    reason: str


@dataclass(frozen=True)
class ServiceTermsChanged:
    """A service's terms as booking and payments need them: the service as it now is, and
    whose it is, in which time zone its schedule is kept."""

    service: Service
    practitioner_user_id: str
    timezone: str

    @classmethod
    def of(cls, service: Service, practitioner: Practitioner) -> Self:
        return cls(replace(service), practitioner.user_id, practitioner.profile.timezone)


class ServicePublished(ServiceTermsChanged):
    """A service went on sale."""


class ServiceUpdated(ServiceTermsChanged):
    """A service's terms changed (or its practitioner's time zone did)."""


@dataclass(frozen=True)
class ServiceArchived:
    service_id: str
    practitioner_id: str
    archived_at: datetime


@dataclass(frozen=True)
class ReviewCreated:
    """A client reviewed a completed booking: messaging tells the practitioner."""

    review_id: str
    booking_id: str
    service_id: str
    practitioner_id: str
    practitioner_user_id: str
    client_id: str
    rating: int
    created_at: datetime


@dataclass(frozen=True)
class ReviewReplied:
    """The practitioner answered a review: messaging tells its author."""

    review_id: str
    service_id: str
    practitioner_id: str
    client_id: str
    replied_at: datetime
