"""Catalog's proto mapping: its enums matched to the protos' by the chassis's wire kit, and its
domain objects to and from their messages, for the servicer and the events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chassis.errors import InvalidArgument
from chassis.money import Money
from chassis.validation import Violations
from chassis.wire import ProtoEnum, instant, optional_instant, timestamp
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import events_pb2
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.type.v1 import money_pb2
from services.catalog.domain.categories import Category
from services.catalog.domain.discovery import SortOrder
from services.catalog.domain.practitioners import (
    Location,
    LocationKind,
    Practitioner,
    PractitionerStatus,
    Profile,
    Tier,
)
from services.catalog.domain.reviews import Eligibility, Review
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    PackageTerms,
    RefundRule,
    Service,
    ServiceKind,
    ServiceStatus,
)

SERVICE_KINDS = ProtoEnum(pb.ServiceKind, ServiceKind)
LOCATION_KINDS = ProtoEnum(pb.LocationKind, LocationKind)
PRACTITIONER_STATUSES = ProtoEnum(pb.PractitionerStatus, PractitionerStatus)
SERVICE_STATUSES = ProtoEnum(pb.ServiceStatus, ServiceStatus)
TIERS = ProtoEnum(payments_pb.PlatformTier, Tier, prefix="PLATFORM_TIER_")
SORT_ORDERS = ProtoEnum(pb.SortOrder, SortOrder, by_member_name=True)

# Output-only fields of a Service: a create that sets them is refused, never half-obeyed.
SERVICE_SCALAR_OUTPUTS = (
    "id",
    "name",
    "practitioner_id",
    "status",
    "rating_average",
    "rating_count",
)
SERVICE_MESSAGE_OUTPUTS = ("saving", "create_time", "update_time", "practitioner", "place")

# Output-only fields of a Review: a create that sets them is refused.
REVIEW_SCALAR_OUTPUTS = (
    "name",
    "id",
    "service_id",
    "service_title",
    "practitioner_id",
    "author_erased",
    "hidden",
    "booking_id",
    "client_id",
)
REVIEW_MESSAGE_OUTPUTS = ("reply", "create_time")

# Location fields on the wire and in the domain, where their names differ.
LOCATION_FIELDS = {"country": "country_code", "lat": "latitude", "lng": "longitude"}


def money(amount_minor: int, currency: str) -> money_pb2.Money:
    return Money(amount_minor, currency).to_proto()


def location_to_proto(place: Location) -> pb.Location:
    return pb.Location(
        id=place.id,
        kind=LOCATION_KINDS.to_proto(place.kind),
        label=place.label,
        address=place.address,
        city=place.city,
        country=place.country_code,
        lat=place.latitude or 0.0,
        lng=place.longitude or 0.0,
    )


def location_from_proto(message: pb.Location, field: str = "kind") -> Location:
    kind = LOCATION_KINDS.from_proto(message.kind)
    if kind is None:
        raise InvalidArgument.field(field, "must be virtual or in_person", "required")
    in_person = kind is LocationKind.IN_PERSON
    return Location(
        id=message.id,
        kind=kind,
        label=message.label,
        address=message.address,
        city=message.city,
        country_code=message.country,
        latitude=message.lat if in_person else None,
        longitude=message.lng if in_person else None,
    )


def location_values(message: pb.Location) -> Location:
    """The fields of a location update, as an in-person place holds them."""
    return Location(
        id=message.id,
        kind=LocationKind.IN_PERSON,
        label=message.label,
        address=message.address,
        city=message.city,
        country_code=message.country,
        latitude=message.lat,
        longitude=message.lng,
    )


def profile_from_proto(message: pb.Practitioner) -> Profile:
    return Profile(
        display_name=message.display_name,
        bio=message.bio,
        specializations=list(message.specializations),
        certifications=list(message.certifications),
        years_experience=message.years_experience,
        languages=list(message.languages),
        timezone=message.timezone,
    )


def practitioner_to_proto(practitioner: Practitioner, *, owner_view: bool) -> pb.Practitioner:
    profile = practitioner.profile
    message = pb.Practitioner(
        name=f"practitioners/{practitioner.id}",
        id=practitioner.id,
        user_id=practitioner.user_id,
        display_name=profile.display_name,
        bio=profile.bio,
        specializations=profile.specializations,
        certifications=profile.certifications,
        years_experience=profile.years_experience,
        languages=profile.languages,
        timezone=profile.timezone,
        locations=[location_to_proto(p) for p in practitioner.active_locations],
        status=PRACTITIONER_STATUSES.to_proto(practitioner.status),
        featured=practitioner.featured,
        tier=TIERS.to_proto(practitioner.tier),
        rating_average=practitioner.rating_average,
        rating_count=practitioner.rating_count,
        create_time=timestamp(practitioner.created_at),
        update_time=timestamp(practitioner.updated_at),
    )
    if practitioner.approved_at:
        message.approve_time.CopyFrom(timestamp(practitioner.approved_at))
    if owner_view:
        onboarding = practitioner.onboarding
        message.rejection_reason = practitioner.rejection_reason
        message.onboarding.CopyFrom(
            pb.Onboarding(
                profile_complete=onboarding.profile_complete,
                first_service_created=onboarding.first_service_created,
                availability_set=onboarding.availability_set,
                payouts_connected=onboarding.payouts_connected,
                percent_complete=onboarding.percent_complete,
            )
        )
    return message


def category_to_proto(category: Category) -> pb.Category:
    return pb.Category(
        id=category.id,
        slug=category.slug,
        name=category.name,
        description=category.description,
        parent_id=category.parent_id or "",
        position=category.position,
    )


def category_from_proto(message: pb.Category) -> Category:
    return Category(
        message.id,
        message.slug,
        message.name,
        message.description,
        message.parent_id or None,
        message.position,
        "",
    )


def service_terms_fields(service: Service) -> dict[str, Any]:
    """The fields a Service message and the events' ServiceTerms share, by the same names."""
    fields: dict[str, Any] = {
        "kind": SERVICE_KINDS.to_proto(service.kind),
        "title": service.title,
        "category_id": service.category_id,
        "price": money(service.price_minor, service.currency),
        "duration_minutes": service.duration_minutes,
        "max_participants": service.max_participants,
        "buffer_before_minutes": service.buffer_before_minutes,
        "buffer_after_minutes": service.buffer_after_minutes,
        "min_notice_minutes": service.min_notice_minutes,
        "booking_window_days": service.booking_window_days,
        "cancellation_policy": [
            pb.RefundRule(hours_before=r.hours_before, refund_percent=r.refund_percent)
            for r in service.cancellation_policy
        ],
        "sessions": [
            pb.ServiceSession(
                start_time=timestamp(s.starts_at), duration_minutes=s.duration_minutes
            )
            for s in service.sessions
        ],
        "bundle_items": [
            pb.BundleItem(service_id=i.service_id, quantity=i.quantity)
            for i in service.bundle_items
        ],
        "status": SERVICE_STATUSES.to_proto(service.status),
        "update_time": timestamp(service.updated_at),
    }
    if service.package:
        fields["package"] = pb.PackageTerms(
            session_service_id=service.package.session_service_id,
            session_count=service.package.session_count,
            validity_days=service.package.validity_days,
        )
    return fields


def service_terms(
    service: Service, practitioner_user_id: str, timezone: str
) -> events_pb2.ServiceTerms:
    """What booking and payments need of a service, for the service.* events."""
    return events_pb2.ServiceTerms(
        service_id=service.id,
        practitioner_id=service.practitioner_id,
        practitioner_user_id=practitioner_user_id,
        timezone=timezone,
        location_kind=LOCATION_KINDS.to_proto(service.location_kind),
        location_id=service.location_id or "",
        **service_terms_fields(service),
    )


def service_from_proto(message: pb.Service, *, creating: bool) -> Service:
    """A service draft from a request; on create, output-only fields must be empty."""
    v = Violations()
    if creating:
        for field in SERVICE_SCALAR_OUTPUTS:
            if getattr(message, field):
                v.add(field, "is set by the platform, not by the request", "read_only")
        for field in SERVICE_MESSAGE_OUTPUTS:
            if message.HasField(field):
                v.add(field, "is set by the platform, not by the request", "read_only")
    kind = SERVICE_KINDS.from_proto(message.kind)
    if creating and kind is None:
        v.add("kind", "must be session, workshop, course, package or bundle", "required")
    v.raise_if_any()
    return Service(
        id="",
        practitioner_id="",
        kind=kind or ServiceKind.SESSION,
        title=message.title,
        description=message.description,
        category_id=message.category_id,
        price_minor=message.price.amount_minor,
        currency=message.price.currency,
        duration_minutes=message.duration_minutes,
        location_kind=LOCATION_KINDS.from_proto(message.location.kind) or LocationKind.VIRTUAL,
        location_id=message.location.location_id or None,
        max_participants=message.max_participants,
        buffer_before_minutes=message.buffer_before_minutes,
        buffer_after_minutes=message.buffer_after_minutes,
        min_notice_minutes=message.min_notice_minutes,
        booking_window_days=message.booking_window_days,
        cancellation_policy=[
            RefundRule(r.hours_before, r.refund_percent) for r in message.cancellation_policy
        ],
        status=ServiceStatus.ACTIVE,
        created_at=instant(message.create_time),
        updated_at=instant(message.update_time),
        sessions=[
            DatedSession(instant(s.start_time), s.duration_minutes) for s in message.sessions
        ],
        package=(
            PackageTerms(
                message.package.session_service_id,
                message.package.session_count,
                message.package.validity_days,
            )
            if message.HasField("package")
            else None
        ),
        bundle_items=[BundleItem(i.service_id, i.quantity) for i in message.bundle_items],
    )


def eligibility_from_proto(
    message: booking_pb.BookingCompleted, event_time: datetime
) -> Eligibility:
    """What booking.completed opens to review: the booking, its client, the service and its
    practitioner, and when the session ended (the event's time if the message has none)."""
    booking = message.booking
    completed = optional_instant(message.complete_time, message.HasField("complete_time"))
    return Eligibility(
        booking_id=booking.booking_id,
        client_id=booking.client_id,
        service_id=booking.service_id,
        practitioner_id=booking.practitioner_id,
        completed_at=completed or event_time,
    )


def review_from_proto(message: pb.Review) -> tuple[int, str]:
    """A review's stars and text from a create request; output-only fields must be empty."""
    v = Violations()
    for field in REVIEW_SCALAR_OUTPUTS:
        if getattr(message, field):
            v.add(field, "is set by the platform, not by the request", "read_only")
    for field in REVIEW_MESSAGE_OUTPUTS:
        if message.HasField(field):
            v.add(field, "is set by the platform, not by the request", "read_only")
    v.raise_if_any()
    return message.rating, message.text


def review_to_proto(review: Review, service_title: str, *, full: bool) -> pb.Review:
    """A review as its reader may see it: the booking and the author only when `full`."""
    message = pb.Review(
        name=f"reviews/{review.id}",
        id=review.id,
        service_id=review.service_id,
        service_title=service_title,
        practitioner_id=review.practitioner_id,
        rating=review.rating,
        text=review.text,
        author_erased=review.is_author_erased,
        hidden=review.is_hidden,
        create_time=timestamp(review.created_at),
    )
    if review.replied_at is not None:
        message.reply.CopyFrom(
            pb.ReviewReply(text=review.reply_text, create_time=timestamp(review.replied_at))
        )
    if full:
        message.booking_id = review.booking_id
        message.client_id = review.client_id
    return message
