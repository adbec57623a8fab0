"""Catalog's wire formats: domain values to and from proto messages, for gRPC and events."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import events_pb2
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.type.v1 import money_pb2
from services.catalog.domain import (
    LocationKind,
    Practitioner,
    PractitionerStatus,
    Service,
    ServiceKind,
    ServiceStatus,
    SortOrder,
    Tier,
)

KIND_TO_PROTO = {
    ServiceKind.SESSION: pb.SERVICE_KIND_SESSION,
    ServiceKind.WORKSHOP: pb.SERVICE_KIND_WORKSHOP,
    ServiceKind.COURSE: pb.SERVICE_KIND_COURSE,
    ServiceKind.PACKAGE: pb.SERVICE_KIND_PACKAGE,
    ServiceKind.BUNDLE: pb.SERVICE_KIND_BUNDLE,
}
PROTO_TO_KIND = {v: k for k, v in KIND_TO_PROTO.items()}
LOCATION_TO_PROTO = {
    LocationKind.VIRTUAL: pb.LOCATION_KIND_VIRTUAL,
    LocationKind.IN_PERSON: pb.LOCATION_KIND_IN_PERSON,
}
PROTO_TO_LOCATION = {v: k for k, v in LOCATION_TO_PROTO.items()}
STATUS_TO_PROTO = {
    PractitionerStatus.PENDING: pb.PRACTITIONER_STATUS_PENDING,
    PractitionerStatus.APPROVED: pb.PRACTITIONER_STATUS_APPROVED,
    PractitionerStatus.REJECTED: pb.PRACTITIONER_STATUS_REJECTED,
}
PROTO_TO_STATUS = {v: k for k, v in STATUS_TO_PROTO.items()}
SERVICE_STATUS_TO_PROTO = {
    ServiceStatus.ACTIVE: pb.SERVICE_STATUS_ACTIVE,
    ServiceStatus.ARCHIVED: pb.SERVICE_STATUS_ARCHIVED,
}
TIER_TO_PROTO = {
    Tier.FREE: payments_pb.PLATFORM_TIER_FREE,
    Tier.ENTRY: payments_pb.PLATFORM_TIER_ENTRY,
    Tier.PREMIUM: payments_pb.PLATFORM_TIER_PREMIUM,
}
PROTO_TO_TIER = {v: k for k, v in TIER_TO_PROTO.items()}
SORT_FROM_PROTO = {
    pb.SORT_ORDER_RELEVANCE: SortOrder.RELEVANCE,
    pb.SORT_ORDER_PRICE_ASCENDING: SortOrder.PRICE_ASC,
    pb.SORT_ORDER_PRICE_DESCENDING: SortOrder.PRICE_DESC,
    pb.SORT_ORDER_RATING: SortOrder.RATING,
    pb.SORT_ORDER_DISTANCE: SortOrder.DISTANCE,
    pb.SORT_ORDER_NEWEST: SortOrder.NEWEST,
}


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def instant(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def money(amount_minor: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(amount_minor=amount_minor, currency=currency)


def service_terms(service: Service, practitioner: Practitioner) -> events_pb2.ServiceTerms:
    """What booking and payments need of a service, for the service.* events."""
    terms = events_pb2.ServiceTerms(
        service_id=service.id,
        practitioner_id=practitioner.id,
        practitioner_user_id=practitioner.user_id,
        timezone=practitioner.profile.timezone,
        kind=KIND_TO_PROTO[service.kind],
        title=service.title,
        category_id=service.category_id,
        price=money(service.price_minor, service.currency),
        duration_minutes=service.duration_minutes,
        max_participants=service.max_participants,
        buffer_before_minutes=service.buffer_before_minutes,
        buffer_after_minutes=service.buffer_after_minutes,
        min_notice_minutes=service.min_notice_minutes,
        booking_window_days=service.booking_window_days,
        cancellation_policy=[
            pb.RefundRule(hours_before=r.hours_before, refund_percent=r.refund_percent)
            for r in service.cancellation_policy
        ],
        location_kind=LOCATION_TO_PROTO[service.location_kind],
        location_id=service.location_id or "",
        sessions=[
            pb.ServiceSession(
                start_time=timestamp(s.starts_at), duration_minutes=s.duration_minutes
            )
            for s in service.sessions
        ],
        bundle_items=[
            pb.BundleItem(service_id=i.service_id, quantity=i.quantity)
            for i in service.bundle_items
        ],
        status=SERVICE_STATUS_TO_PROTO[service.status],
        update_time=timestamp(service.updated_at),
    )
    if service.package:
        terms.package.CopyFrom(
            pb.PackageTerms(
                session_service_id=service.package.session_service_id,
                session_count=service.package.session_count,
                validity_days=service.package.validity_days,
            )
        )
    return terms
