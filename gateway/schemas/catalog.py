"""Bodies of the catalog routes: practitioners, locations, categories and services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.type.v1 import money_pb2
from gateway.schemas.common import Int32, Int64, StrictBody

KindName = Literal["session", "workshop", "course", "package", "bundle"]
LocationKindName = Literal["virtual", "in_person"]
PractitionerStatusName = Literal["pending", "approved", "rejected"]
SortName = Literal["relevance", "price_asc", "price_desc", "rating", "distance", "newest"]
TierName = Literal["free", "entry", "premium"]

KIND_TO_PROTO: dict[KindName, int] = {
    "session": pb.SERVICE_KIND_SESSION,
    "workshop": pb.SERVICE_KIND_WORKSHOP,
    "course": pb.SERVICE_KIND_COURSE,
    "package": pb.SERVICE_KIND_PACKAGE,
    "bundle": pb.SERVICE_KIND_BUNDLE,
}
KIND_FROM_PROTO = {v: k for k, v in KIND_TO_PROTO.items()}
LOCATION_TO_PROTO: dict[LocationKindName, int] = {
    "virtual": pb.LOCATION_KIND_VIRTUAL,
    "in_person": pb.LOCATION_KIND_IN_PERSON,
}
LOCATION_FROM_PROTO = {v: k for k, v in LOCATION_TO_PROTO.items()}
STATUS_TO_PROTO: dict[str, int] = {
    "pending": pb.PRACTITIONER_STATUS_PENDING,
    "approved": pb.PRACTITIONER_STATUS_APPROVED,
    "rejected": pb.PRACTITIONER_STATUS_REJECTED,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}
SORT_TO_PROTO: dict[str, int] = {
    "relevance": pb.SORT_ORDER_RELEVANCE,
    "price_asc": pb.SORT_ORDER_PRICE_ASCENDING,
    "price_desc": pb.SORT_ORDER_PRICE_DESCENDING,
    "rating": pb.SORT_ORDER_RATING,
    "distance": pb.SORT_ORDER_DISTANCE,
    "newest": pb.SORT_ORDER_NEWEST,
}
TIER_FROM_PROTO: dict[int, TierName] = {
    payments_pb.PLATFORM_TIER_FREE: "free",
    payments_pb.PLATFORM_TIER_ENTRY: "entry",
    payments_pb.PLATFORM_TIER_PREMIUM: "premium",
}

ShortText = Annotated[str, Field(max_length=200)]


def _instant(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class VirtualLocationIn(StrictBody):
    kind: Literal["virtual"]
    label: str = Field("", max_length=100)


class InPersonLocationIn(StrictBody):
    kind: Literal["in_person"]
    label: str = Field("", max_length=100)
    address: str = Field(max_length=300)
    city: str = Field(max_length=100)
    country: str = Field(max_length=2, description="ISO 3166-1 alpha-2, e.g. PT.")
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


LocationIn = Annotated[VirtualLocationIn | InPersonLocationIn, Field(discriminator="kind")]


def location_to_proto(location: VirtualLocationIn | InPersonLocationIn) -> pb.Location:
    if isinstance(location, VirtualLocationIn):
        return pb.Location(kind=pb.LOCATION_KIND_VIRTUAL, label=location.label)
    return pb.Location(
        kind=pb.LOCATION_KIND_IN_PERSON,
        label=location.label,
        address=location.address,
        city=location.city,
        country=location.country,
        lat=location.lat,
        lng=location.lng,
    )


class LocationPatch(StrictBody):
    label: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=300)
    city: str | None = Field(None, max_length=100)
    country: str | None = Field(None, max_length=2)
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)


class LocationOut(BaseModel):
    id: str
    kind: LocationKindName
    label: str
    address: str
    city: str
    country: str
    lat: float | None
    lng: float | None

    @classmethod
    def from_proto(cls, location: pb.Location) -> LocationOut:
        in_person = location.kind == pb.LOCATION_KIND_IN_PERSON
        return cls.model_construct(
            id=location.id,
            kind=LOCATION_FROM_PROTO.get(location.kind, "virtual"),
            label=location.label,
            address=location.address,
            city=location.city,
            country=location.country,
            lat=location.lat if in_person else None,
            lng=location.lng if in_person else None,
        )


class ApplyBody(StrictBody):
    display_name: str = Field(max_length=100)
    bio: str = Field("", max_length=5000)
    specializations: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=20
    )
    certifications: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    years_experience: int = Field(0, ge=0, le=80)
    languages: list[Annotated[str, Field(max_length=2)]] = Field(max_length=10)
    timezone: str = Field(max_length=64, examples=["Europe/Lisbon"])
    locations: list[LocationIn] = Field(max_length=20)


class ProfilePatch(StrictBody):
    display_name: str | None = Field(None, max_length=100)
    bio: str | None = Field(None, max_length=5000)
    specializations: list[Annotated[str, Field(max_length=60)]] | None = Field(None, max_length=20)
    certifications: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=20)
    years_experience: int | None = Field(None, ge=0, le=80)
    languages: list[Annotated[str, Field(max_length=2)]] | None = Field(None, max_length=10)
    timezone: str | None = Field(None, max_length=64)


class RejectBody(StrictBody):
    reason: str = Field(min_length=1, max_length=500)


class FeatureBody(StrictBody):
    featured: bool


class Onboarding(BaseModel):
    profile_complete: bool
    first_service_created: bool
    availability_set: bool
    payouts_connected: bool
    percent_complete: Int32


class Money(BaseModel):
    """An amount in integer minor units of an ISO 4217 currency (4500 EUR = 45.00 EUR)."""

    amount_minor: Int64
    currency: str

    @classmethod
    def from_proto(cls, money: money_pb2.Money) -> Money:
        return cls.model_construct(amount_minor=money.amount_minor, currency=money.currency)


class MoneyIn(StrictBody):
    amount_minor: int = Field(ge=0, le=10_000_000_000)
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])


class RefundRuleBody(StrictBody):
    hours_before: int = Field(ge=0, le=8760)
    refund_percent: int = Field(ge=0, le=100)


class SessionBody(StrictBody):
    start_time: datetime
    duration_minutes: int = Field(ge=1, le=1440)


class PackageBody(StrictBody):
    session_service_id: str = Field(max_length=36)
    session_count: int = Field(ge=1, le=1000)
    validity_days: int = Field(ge=1, le=3650)


class BundleItemBody(StrictBody):
    service_id: str = Field(max_length=36)
    quantity: int = Field(1, ge=1, le=100)


class ServiceLocationBody(StrictBody):
    kind: LocationKindName
    location_id: str | None = Field(None, max_length=36)


class ServiceFields(StrictBody):
    """What a practitioner sets on a service (on create, or any subset on PATCH)."""

    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)
    category_id: str | None = Field(None, max_length=36)
    price: MoneyIn | None = None
    duration_minutes: int | None = Field(None, ge=0, le=1440)
    location: ServiceLocationBody | None = None
    max_participants: int | None = Field(None, ge=0, le=10_000)
    buffer_before_minutes: int | None = Field(None, ge=0, le=1440)
    buffer_after_minutes: int | None = Field(None, ge=0, le=1440)
    min_notice_minutes: int | None = Field(None, ge=0, le=525_600)
    booking_window_days: int | None = Field(None, ge=0, le=3650)
    cancellation_policy: list[RefundRuleBody] | None = Field(None, max_length=20)
    sessions: list[SessionBody] | None = Field(None, max_length=200)
    package: PackageBody | None = None
    bundle_items: list[BundleItemBody] | None = Field(None, max_length=50)


class ServiceCreate(ServiceFields):
    kind: KindName
    title: str = Field(max_length=200)  # type: ignore[assignment]
    category_id: str = Field(max_length=36)  # type: ignore[assignment]
    price: MoneyIn  # type: ignore[assignment]
    location: ServiceLocationBody = ServiceLocationBody(kind="virtual")  # type: ignore[assignment]
    booking_window_days: int = Field(90, ge=0, le=3650)  # type: ignore[assignment]


def service_fields_to_proto(body: ServiceFields, kind: KindName | None = None) -> pb.Service:
    """The proto Service for the fields present in a body."""
    message = pb.Service(kind=KIND_TO_PROTO[kind] if kind else pb.SERVICE_KIND_UNSPECIFIED)
    for name in body.model_fields_set | ({"location", "booking_window_days"} if kind else set()):
        value = getattr(body, name)
        if value is None or name == "kind":
            continue
        if name == "price":
            message.price.CopyFrom(
                money_pb2.Money(amount_minor=value.amount_minor, currency=value.currency)
            )
        elif name == "location":
            message.location.CopyFrom(
                pb.ServiceLocation(
                    kind=LOCATION_TO_PROTO[value.kind], location_id=value.location_id or ""
                )
            )
        elif name == "cancellation_policy":
            message.cancellation_policy.extend(
                pb.RefundRule(hours_before=r.hours_before, refund_percent=r.refund_percent)
                for r in value
            )
        elif name == "sessions":
            message.sessions.extend(
                pb.ServiceSession(
                    start_time=_stamp(s.start_time), duration_minutes=s.duration_minutes
                )
                for s in value
            )
        elif name == "package":
            message.package.CopyFrom(
                pb.PackageTerms(
                    session_service_id=value.session_service_id,
                    session_count=value.session_count,
                    validity_days=value.validity_days,
                )
            )
        elif name == "bundle_items":
            message.bundle_items.extend(
                pb.BundleItem(service_id=i.service_id, quantity=i.quantity) for i in value
            )
        else:
            setattr(message, name, value)
    return message


class PractitionerSummary(BaseModel):
    id: str
    display_name: str
    rating_average: float
    rating_count: Int32
    featured: bool


class RefundRule(BaseModel):
    hours_before: Int32
    refund_percent: Int32


class DatedSession(BaseModel):
    start_time: datetime
    duration_minutes: Int32


class PackageTerms(BaseModel):
    session_service_id: str
    session_count: Int32
    validity_days: Int32


class BundleItem(BaseModel):
    service_id: str
    quantity: Int32


class ServiceLocation(BaseModel):
    kind: LocationKindName
    location_id: str | None


class ServiceOut(BaseModel):
    id: str
    practitioner_id: str
    kind: KindName
    title: str
    description: str
    category_id: str
    price: Money
    duration_minutes: Int32
    location: ServiceLocation
    max_participants: Int32
    buffer_before_minutes: Int32
    buffer_after_minutes: Int32
    min_notice_minutes: Int32
    booking_window_days: Int32
    cancellation_policy: list[RefundRule]
    sessions: list[DatedSession]
    package: PackageTerms | None
    bundle_items: list[BundleItem]
    saving: Money | None = Field(
        description="Package or bundle: the parts bought separately would cost this much more."
    )
    status: Literal["active", "archived"]
    practitioner: PractitionerSummary
    place: LocationOut | None
    distance_km: float | None = Field(description="On searches from a point.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, s: pb.Service) -> ServiceOut:
        # Built without validation: the catalog's answer is already typed by its proto, and
        # validating twenty listings again took a fifth of the gateway's time on a search.
        # tests/unit/test_gateway_schemas.py holds that what is built validates.
        return cls.model_construct(
            id=s.id,
            practitioner_id=s.practitioner_id,
            kind=KIND_FROM_PROTO.get(s.kind, "session"),
            title=s.title,
            description=s.description,
            category_id=s.category_id,
            price=Money.from_proto(s.price),
            duration_minutes=s.duration_minutes,
            location=ServiceLocation.model_construct(
                kind=LOCATION_FROM_PROTO.get(s.location.kind, "virtual"),
                location_id=s.location.location_id or None,
            ),
            max_participants=s.max_participants,
            buffer_before_minutes=s.buffer_before_minutes,
            buffer_after_minutes=s.buffer_after_minutes,
            min_notice_minutes=s.min_notice_minutes,
            booking_window_days=s.booking_window_days,
            cancellation_policy=[
                RefundRule.model_construct(
                    hours_before=r.hours_before, refund_percent=r.refund_percent
                )
                for r in s.cancellation_policy
            ],
            sessions=[
                DatedSession.model_construct(
                    start_time=_instant(x.start_time), duration_minutes=x.duration_minutes
                )
                for x in s.sessions
            ],
            package=(
                PackageTerms.model_construct(
                    session_service_id=s.package.session_service_id,
                    session_count=s.package.session_count,
                    validity_days=s.package.validity_days,
                )
                if s.HasField("package")
                else None
            ),
            bundle_items=[
                BundleItem.model_construct(service_id=i.service_id, quantity=i.quantity)
                for i in s.bundle_items
            ],
            saving=Money.from_proto(s.saving) if s.HasField("saving") else None,
            status="active" if s.status == pb.SERVICE_STATUS_ACTIVE else "archived",
            practitioner=PractitionerSummary.model_construct(
                id=s.practitioner.id,
                display_name=s.practitioner.display_name,
                rating_average=s.practitioner.rating_average,
                rating_count=s.practitioner.rating_count,
                featured=s.practitioner.featured,
            ),
            place=LocationOut.from_proto(s.place) if s.HasField("place") else None,
            distance_km=s.distance_km if s.HasField("distance_km") else None,
            created_at=_instant(s.create_time),
            updated_at=_instant(s.update_time),
        )


class PractitionerOut(BaseModel):
    id: str
    user_id: str
    display_name: str
    bio: str
    specializations: list[str]
    certifications: list[str]
    years_experience: Int32
    languages: list[str]
    timezone: str
    locations: list[LocationOut]
    status: PractitionerStatusName
    featured: bool
    tier: TierName
    rating_average: float
    rating_count: Int32
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    onboarding: Onboarding | None = Field(description="Only for the practitioner and staff.")
    rejection_reason: str | None = Field(description="Only for the practitioner and staff.")
    services: list[ServiceOut] = Field(description="Active services, on a single practitioner.")
    distance_km: float | None = Field(
        None, description="On searches from a point: the nearest in-person location."
    )

    @classmethod
    def from_proto(cls, p: pb.Practitioner) -> PractitionerOut:
        owner_view = p.HasField("onboarding")
        return cls(
            id=p.id,
            user_id=p.user_id,
            display_name=p.display_name,
            bio=p.bio,
            specializations=list(p.specializations),
            certifications=list(p.certifications),
            years_experience=p.years_experience,
            languages=list(p.languages),
            timezone=p.timezone,
            locations=[LocationOut.from_proto(x) for x in p.locations],
            status=STATUS_FROM_PROTO.get(p.status, "pending"),
            featured=p.featured,
            tier=TIER_FROM_PROTO.get(p.tier, "free"),
            rating_average=p.rating_average,
            rating_count=p.rating_count,
            created_at=_instant(p.create_time),
            updated_at=_instant(p.update_time),
            approved_at=_instant(p.approve_time) if p.HasField("approve_time") else None,
            onboarding=(
                Onboarding(
                    profile_complete=p.onboarding.profile_complete,
                    first_service_created=p.onboarding.first_service_created,
                    availability_set=p.onboarding.availability_set,
                    payouts_connected=p.onboarding.payouts_connected,
                    percent_complete=p.onboarding.percent_complete,
                )
                if owner_view
                else None
            ),
            rejection_reason=p.rejection_reason if owner_view else None,
            services=[ServiceOut.from_proto(s) for s in p.services],
            distance_km=p.distance_km if p.HasField("distance_km") else None,
        )


class CategoryBody(StrictBody):
    slug: str = Field(max_length=80, examples=["sound-healing"])
    name: str = Field(max_length=100)
    description: str = Field("", max_length=1000)
    parent_id: str | None = Field(None, max_length=36)
    position: int = Field(0, ge=0, le=10_000)


class CategoryPatch(StrictBody):
    slug: str | None = Field(None, max_length=80)
    name: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=1000)
    parent_id: str | None = Field(None, max_length=36)
    position: int | None = Field(None, ge=0, le=10_000)


class CategoryOut(BaseModel):
    id: str
    slug: str
    name: str
    description: str
    parent_id: str | None
    position: Int32

    @classmethod
    def from_proto(cls, c: pb.Category) -> CategoryOut:
        return cls(
            id=c.id,
            slug=c.slug,
            name=c.name,
            description=c.description,
            parent_id=c.parent_id or None,
            position=c.position,
        )


class CategoryList(BaseModel):
    results: list[CategoryOut]
