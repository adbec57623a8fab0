"""Bodies of the catalog routes: practitioners, locations, categories, services and reviews.

Enum names are read from the proto descriptors (the sort orders matched to the domain's by
name, as REST spells them differently); every bound is catalog's own rule
(services/catalog/domain/bounds.py), so the OpenAPI document states what the service enforces.
The gateway loads only those two pure modules of catalog's domain, no handler or SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from chassis.wire import ProtoEnum, ProtoNames, instant, timestamp
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.payments.v1 import events_pb2 as payments_pb
from estuary.type.v1 import money_pb2
from gateway.schemas.common import (
    DEFAULT_LIMIT,
    Cursor,
    Int32,
    Int64,
    Limit,
    StrictBody,
    examples,
)
from services.catalog.domain import bounds as rules
from services.catalog.domain.bounds import Bounds
from services.catalog.domain.discovery import SortOrder

SERVICE_KINDS = ProtoNames(pb.ServiceKind)
LOCATION_KINDS = ProtoNames(pb.LocationKind)
PRACTITIONER_STATUSES = ProtoNames(pb.PractitionerStatus)
SERVICE_STATUSES = ProtoNames(pb.ServiceStatus)
TIERS = ProtoNames(payments_pb.PlatformTier)
# REST spells sort orders as the domain's values (price_asc), not the proto's PRICE_ASCENDING.
SORT_ORDERS = ProtoEnum(pb.SortOrder, SortOrder, by_member_name=True)

if TYPE_CHECKING:
    KindName = str
    LocationKindName = str
    PractitionerStatusName = str
    ServiceStatusName = str
    TierName = str
    SortName = str
else:
    KindName = SERVICE_KINDS.literal
    LocationKindName = LOCATION_KINDS.literal
    PractitionerStatusName = PRACTITIONER_STATUSES.literal
    ServiceStatusName = SERVICE_STATUSES.literal
    TierName = TIERS.literal
    SortName = Literal[SORT_ORDERS.names]


# Examples for the OpenAPI document: one of each resource, as the gateway answers it.
CATEGORY_ID = "0193a7c0-5b1e-7d2f-9a3b-4c5d6e7f8091"
LOCATION: dict[str, Any] = {
    "id": "0193b2d4-8e9f-7a0b-9c1d-2e3f4a5b6c7d",
    "kind": "in_person",
    "label": "Studio",
    "address": "Rua das Flores 12",
    "city": "Lisbon",
    "country": "PT",
    "lat": 38.7104,
    "lng": -9.142,
}
CATEGORY: dict[str, Any] = {
    "id": CATEGORY_ID,
    "slug": "yoga",
    "name": "Yoga",
    "description": "Every style, every level.",
    "parent_id": None,
    "position": 1,
}
SERVICE: dict[str, Any] = {
    "id": "0193b3e5-9fa0-7b1c-8d2e-3f4a5b6c7d8e",
    "practitioner_id": "0193b1c3-7d8e-7f9a-8b0c-1d2e3f4a5b6c",
    "kind": "session",
    "title": "Morning vinyasa",
    "description": "A flowing class for every level.",
    "category_id": CATEGORY_ID,
    "price": {"amount_minor": 4500, "currency": "EUR"},
    "duration_minutes": 60,
    "location": {"kind": "in_person", "location_id": LOCATION["id"]},
    "max_participants": 1,
    "buffer_before_minutes": 0,
    "buffer_after_minutes": 15,
    "min_notice_minutes": 720,
    "booking_window_days": 90,
    "cancellation_policy": [
        {"hours_before": 48, "refund_percent": 100},
        {"hours_before": 24, "refund_percent": 50},
    ],
    "sessions": [],
    "package": None,
    "bundle_items": [],
    "saving": None,
    "status": "active",
    "practitioner": {
        "id": "0193b1c3-7d8e-7f9a-8b0c-1d2e3f4a5b6c",
        "display_name": "Ana Sousa Yoga",
        "rating_average": 4.8,
        "rating_count": 37,
        "featured": True,
    },
    "place": LOCATION,
    "distance_km": 1.2,
    "rating_average": 4.67,
    "rating_count": 12,
    "created_at": "2025-03-01T12:00:00Z",
    "updated_at": "2025-03-02T09:30:00Z",
}
REVIEW: dict[str, Any] = {
    "id": "0193c4f6-a0b1-7c2d-9e3f-4a5b6c7d8e9f",
    "service_id": SERVICE["id"],
    "service_title": "Morning vinyasa",
    "practitioner_id": SERVICE["practitioner_id"],
    "rating": 5,
    "text": "Calm, clear and kind: I left lighter than I came.",
    "reply": {"text": "Thank you, see you next week!", "created_at": "2025-03-05T18:20:00Z"},
    "author_erased": False,
    "hidden": False,
    "created_at": "2025-03-04T10:00:00Z",
    "booking_id": None,
    "client_id": None,
}
PRACTITIONER: dict[str, Any] = {
    "id": "0193b1c3-7d8e-7f9a-8b0c-1d2e3f4a5b6c",
    "user_id": "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11",
    "display_name": "Ana Sousa Yoga",
    "bio": "Vinyasa and yin yoga.",
    "specializations": ["yoga"],
    "certifications": ["RYT-500"],
    "years_experience": 10,
    "languages": ["en", "pt"],
    "timezone": "Europe/Lisbon",
    "locations": [LOCATION],
    "status": "approved",
    "featured": True,
    "tier": "entry",
    "rating_average": 4.8,
    "rating_count": 37,
    "created_at": "2025-02-20T10:00:00Z",
    "updated_at": "2025-03-02T09:30:00Z",
    "approved_at": "2025-02-21T08:15:00Z",
    "onboarding": None,
    "rejection_reason": None,
    "services": [],
    "distance_km": 1.2,
}


def sort_to_proto(sort: str | None) -> int:
    """A REST sort order (price_asc...) as the proto's, or unspecified for the default."""
    return SORT_ORDERS.to_proto(SortOrder(sort)) if sort else pb.SORT_ORDER_UNSPECIFIED


def within(bounds: Bounds, default: Any = ..., **extra: Any) -> Any:
    """A number field bounded by a rule."""
    return Field(default, ge=bounds.low, le=bounds.high, **extra)


def at_most(bounds: Bounds, default: Any = ..., **extra: Any) -> Any:
    """A text or list field no longer than a rule allows."""
    return Field(default, max_length=bounds.high, **extra)


Label = Annotated[str, Field(max_length=rules.LABEL_LENGTH.high)]
Country = Annotated[str, Field(max_length=2, description="ISO 3166-1 alpha-2, e.g. PT.")]
Specialization = Annotated[str, Field(max_length=rules.SPECIALIZATION_LENGTH.high)]
Certification = Annotated[str, Field(max_length=rules.CERTIFICATION_LENGTH.high)]
Language = Annotated[str, Field(max_length=2, description="ISO 639-1, e.g. en.")]
ItemsOfAList = Bounds(0, rules.MAX_LIST_ITEMS)


class VirtualLocationIn(StrictBody):
    model_config = examples({"kind": "virtual", "label": "Online"})
    kind: Literal["virtual"]
    label: Label = ""


class InPersonLocationIn(StrictBody):
    model_config = examples(
        {
            "kind": "in_person",
            "label": "Studio",
            "address": "Rua das Flores 12",
            "city": "Lisbon",
            "country": "PT",
            "lat": 38.7104,
            "lng": -9.1420,
        }
    )
    kind: Literal["in_person"]
    label: Label = ""
    address: str = at_most(rules.ADDRESS_LENGTH)
    city: str = at_most(rules.CITY_LENGTH)
    country: Country
    lat: float = within(rules.LATITUDE)
    lng: float = within(rules.LONGITUDE)


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
    model_config = examples({"address": "Rua das Flores 14", "lat": 38.7105, "lng": -9.1421})
    label: Label | None = None
    address: str | None = at_most(rules.ADDRESS_LENGTH, None)
    city: str | None = at_most(rules.CITY_LENGTH, None)
    country: Country | None = None
    lat: float | None = within(rules.LATITUDE, None)
    lng: float | None = within(rules.LONGITUDE, None)


class LocationOut(BaseModel):
    model_config = examples(LOCATION)
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
            kind=LOCATION_KINDS.from_proto(location.kind) or "virtual",
            label=location.label,
            address=location.address,
            city=location.city,
            country=location.country,
            lat=location.lat if in_person else None,
            lng=location.lng if in_person else None,
        )


class PractitionerPatch(StrictBody):
    model_config = examples(
        {"bio": "Vinyasa and yin yoga, ten years of teaching.", "languages": ["en", "pt"]}
    )
    display_name: str | None = at_most(rules.DISPLAY_NAME_LENGTH, None)
    bio: str | None = at_most(rules.BIO_LENGTH, None)
    specializations: list[Specialization] | None = at_most(ItemsOfAList, None)
    certifications: list[Certification] | None = at_most(ItemsOfAList, None)
    years_experience: int | None = within(rules.YEARS_EXPERIENCE, None)
    languages: list[Language] | None = Field(
        None, min_length=rules.LANGUAGE_COUNT.low, max_length=rules.LANGUAGE_COUNT.high
    )
    timezone: str | None = Field(None, max_length=64, examples=["Europe/Lisbon"])


class ApplyBody(StrictBody):
    model_config = examples(
        {
            "display_name": "Ana Sousa Yoga",
            "bio": "Vinyasa and yin yoga.",
            "specializations": ["yoga"],
            "certifications": ["RYT-500"],
            "years_experience": 10,
            "languages": ["en", "pt"],
            "timezone": "Europe/Lisbon",
            "locations": [{"kind": "virtual", "label": "Online"}],
        }
    )
    display_name: str = at_most(rules.DISPLAY_NAME_LENGTH)
    bio: str = at_most(rules.BIO_LENGTH, "")
    specializations: list[Specialization] = Field(
        default_factory=list, max_length=rules.MAX_LIST_ITEMS
    )
    certifications: list[Certification] = Field(
        default_factory=list, max_length=rules.MAX_LIST_ITEMS
    )
    years_experience: int = within(rules.YEARS_EXPERIENCE, 0)
    languages: list[Language] = Field(
        min_length=rules.LANGUAGE_COUNT.low, max_length=rules.LANGUAGE_COUNT.high
    )
    timezone: str = Field(max_length=64, examples=["Europe/Lisbon"])
    locations: list[LocationIn] = Field(
        min_length=rules.LOCATION_COUNT.low, max_length=rules.LOCATION_COUNT.high
    )

    def to_proto(self) -> pb.Practitioner:
        return pb.Practitioner(
            display_name=self.display_name,
            bio=self.bio,
            specializations=self.specializations,
            certifications=self.certifications,
            years_experience=self.years_experience,
            languages=self.languages,
            timezone=self.timezone,
            locations=[location_to_proto(x) for x in self.locations],
        )


class RejectBody(StrictBody):
    model_config = examples({"reason": "please add a certification we can check"})
    reason: str = Field(min_length=rules.REASON_LENGTH.low, max_length=rules.REASON_LENGTH.high)


class FeatureBody(StrictBody):
    model_config = examples({"featured": True})
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
    amount_minor: int = within(rules.PRICE_MINOR)
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])

    def to_proto(self) -> money_pb2.Money:
        return money_pb2.Money(amount_minor=self.amount_minor, currency=self.currency)


class RefundRuleBody(StrictBody):
    hours_before: int = within(rules.HOURS_BEFORE)
    refund_percent: int = within(rules.REFUND_PERCENT)


class SessionBody(StrictBody):
    start_time: datetime
    duration_minutes: int = within(rules.DURATION_MINUTES)


class PackageBody(StrictBody):
    session_service_id: str = Field(max_length=36)
    session_count: int = within(rules.PACKAGE_SESSIONS)
    validity_days: int = within(rules.PACKAGE_VALIDITY_DAYS)


class BundleItemBody(StrictBody):
    service_id: str = Field(max_length=36)
    quantity: int = within(rules.BUNDLE_QUANTITY, 1)


class ServiceLocationBody(StrictBody):
    kind: LocationKindName
    location_id: str | None = Field(None, max_length=36)


# A session seats one (0 reads as 1); a workshop or course seats a group.
SEATS = Bounds(rules.SESSION_SEATS.low, rules.GROUP_SEATS.high)


class ServiceFields(StrictBody):
    """What a practitioner sets on a service (on create, or any subset on PATCH)."""

    model_config = examples(
        {
            "title": "Morning vinyasa (75 min)",
            "price": {"amount_minor": 5000, "currency": "EUR"},
            "duration_minutes": 75,
        }
    )

    title: str | None = at_most(rules.TITLE_LENGTH, None)
    description: str | None = at_most(rules.DESCRIPTION_LENGTH, None)
    category_id: str | None = Field(None, max_length=36)
    price: MoneyIn | None = None
    duration_minutes: int | None = within(
        rules.DURATION_MINUTES, None, description="A package or bundle takes it from its parts."
    )
    location: ServiceLocationBody | None = None
    max_participants: int | None = within(
        SEATS,
        None,
        description=f"A session seats 1; a workshop or course {rules.GROUP_SEATS.low} to "
        f"{rules.GROUP_SEATS.high}.",
    )
    buffer_before_minutes: int | None = within(rules.BUFFER_MINUTES, None)
    buffer_after_minutes: int | None = within(rules.BUFFER_MINUTES, None)
    min_notice_minutes: int | None = within(rules.MIN_NOTICE_MINUTES, None)
    booking_window_days: int | None = within(rules.BOOKING_WINDOW_DAYS, None)
    cancellation_policy: list[RefundRuleBody] | None = at_most(rules.REFUND_RULE_COUNT, None)
    sessions: list[SessionBody] | None = at_most(rules.COURSE_SESSIONS, None)
    package: PackageBody | None = None
    bundle_items: list[BundleItemBody] | None = at_most(rules.BUNDLE_SIZE, None)

    def to_proto(self, kind: str | None = None) -> pb.Service:
        """The proto Service for the fields present."""
        message = pb.Service(
            kind=SERVICE_KINDS.to_proto(kind) if kind else pb.SERVICE_KIND_UNSPECIFIED
        )
        for name in self.model_fields_set | (
            {"location", "booking_window_days"} if kind else set()
        ):
            value = getattr(self, name)
            if value is None or name == "kind":
                continue
            if name == "price":
                message.price.CopyFrom(value.to_proto())
            elif name == "location":
                message.location.CopyFrom(
                    pb.ServiceLocation(
                        kind=LOCATION_KINDS.to_proto(value.kind),
                        location_id=value.location_id or "",
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
                        start_time=timestamp(s.start_time), duration_minutes=s.duration_minutes
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


class ServiceCreate(ServiceFields):
    model_config = examples(
        {
            "kind": "session",
            "title": "Morning vinyasa",
            "description": "A flowing class for every level.",
            "category_id": CATEGORY_ID,
            "price": {"amount_minor": 4500, "currency": "EUR"},
            "duration_minutes": 60,
            "location": {"kind": "virtual"},
            "cancellation_policy": [{"hours_before": 24, "refund_percent": 100}],
        }
    )
    kind: KindName
    title: str = at_most(rules.TITLE_LENGTH)  # type: ignore[assignment]
    category_id: str = Field(max_length=36)  # type: ignore[assignment]
    price: MoneyIn  # type: ignore[assignment]
    location: ServiceLocationBody = ServiceLocationBody(kind="virtual")  # type: ignore[assignment]
    booking_window_days: int = within(rules.BOOKING_WINDOW_DAYS, 90)  # type: ignore[assignment]


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
    model_config = examples(SERVICE)
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
    status: ServiceStatusName
    practitioner: PractitionerSummary
    place: LocationOut | None
    distance_km: float | None = Field(description="On searches from a point.")
    rating_average: float = Field(
        description="The mean of its visible reviews' stars, rounded half up to two decimals "
        "(0 while it has none); discovery's min_rating and rating sort read it."
    )
    rating_count: Int32 = Field(description="How many visible reviews it has.")
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
            kind=SERVICE_KINDS.from_proto(s.kind) or "session",
            title=s.title,
            description=s.description,
            category_id=s.category_id,
            price=Money.from_proto(s.price),
            duration_minutes=s.duration_minutes,
            location=ServiceLocation.model_construct(
                kind=LOCATION_KINDS.from_proto(s.location.kind) or "virtual",
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
                    start_time=instant(x.start_time), duration_minutes=x.duration_minutes
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
            status=SERVICE_STATUSES.from_proto(s.status) or "archived",
            practitioner=PractitionerSummary.model_construct(
                id=s.practitioner.id,
                display_name=s.practitioner.display_name,
                rating_average=s.practitioner.rating_average,
                rating_count=s.practitioner.rating_count,
                featured=s.practitioner.featured,
            ),
            place=LocationOut.from_proto(s.place) if s.HasField("place") else None,
            distance_km=s.distance_km if s.HasField("distance_km") else None,
            rating_average=s.rating_average,
            rating_count=s.rating_count,
            created_at=instant(s.create_time),
            updated_at=instant(s.update_time),
        )


class PractitionerOut(BaseModel):
    model_config = examples(PRACTITIONER)
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
            status=PRACTITIONER_STATUSES.from_proto(p.status) or "pending",
            featured=p.featured,
            tier=TIERS.from_proto(p.tier) or "free",
            rating_average=p.rating_average,
            rating_count=p.rating_count,
            created_at=instant(p.create_time),
            updated_at=instant(p.update_time),
            approved_at=instant(p.approve_time) if p.HasField("approve_time") else None,
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
    model_config = examples(
        {
            "slug": "sound-healing",
            "name": "Sound healing",
            "description": "Gongs, bowls and voice.",
            "parent_id": None,
            "position": 3,
        }
    )
    slug: str = at_most(rules.SLUG_LENGTH, examples=["sound-healing"])
    name: str = at_most(rules.CATEGORY_NAME_LENGTH)
    description: str = at_most(rules.CATEGORY_DESCRIPTION_LENGTH, "")
    parent_id: str | None = Field(None, max_length=36)
    position: int = within(rules.CATEGORY_POSITION, 0)


class CategoryPatch(StrictBody):
    model_config = examples({"name": "Sound and vibration", "position": 4})
    slug: str | None = at_most(rules.SLUG_LENGTH, None)
    name: str | None = at_most(rules.CATEGORY_NAME_LENGTH, None)
    description: str | None = at_most(rules.CATEGORY_DESCRIPTION_LENGTH, None)
    parent_id: str | None = Field(None, max_length=36)
    position: int | None = within(rules.CATEGORY_POSITION, None)


class CategoryOut(BaseModel):
    model_config = examples(CATEGORY)
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
    model_config = examples({"results": [CATEGORY]})
    results: list[CategoryOut]


class ReviewBody(StrictBody):
    """A client's review of their completed booking: written once, never changed."""

    model_config = examples({"rating": 5, "text": "Calm, clear and kind."})
    rating: int = within(rules.STARS, description="Stars, 1 to 5.")
    text: str = at_most(rules.REVIEW_TEXT_LENGTH)


class ReplyBody(StrictBody):
    """The practitioner's one answer to a review of their service."""

    model_config = examples({"text": "Thank you, see you next week!"})
    text: str = at_most(rules.REPLY_TEXT_LENGTH)


class ReviewHideBody(StrictBody):
    """Staff hide an abusive review (true) or show it again (false)."""

    model_config = examples({"hidden": True, "reason": "insults the practitioner"})
    hidden: bool
    reason: str = at_most(
        rules.REASON_LENGTH, "", description="Why, for the audit log; required to hide."
    )


class ReviewReply(BaseModel):
    text: str = Field(description="Empty once its author's or the practitioner's account is gone.")
    created_at: datetime


class ReviewOut(BaseModel):
    model_config = examples(REVIEW)
    id: str
    service_id: str
    service_title: str
    practitioner_id: str
    rating: Int32 = Field(description="Stars, 1 to 5.")
    text: str
    reply: ReviewReply | None
    author_erased: bool = Field(
        description="The author deleted their account: the text and the reply were erased; "
        "the stars stay in the ratings."
    )
    hidden: bool = Field(description="Hidden by staff (only staff see it); counts nowhere.")
    created_at: datetime
    booking_id: str | None = Field(
        description="Only for the author, the practitioner and staff; else null."
    )
    client_id: str | None = Field(
        description="The author; only for the author, the practitioner and staff; else null."
    )

    @classmethod
    def from_proto(cls, r: pb.Review) -> ReviewOut:
        return cls(
            id=r.id,
            service_id=r.service_id,
            service_title=r.service_title,
            practitioner_id=r.practitioner_id,
            rating=r.rating,
            text=r.text,
            reply=(
                ReviewReply(text=r.reply.text, created_at=instant(r.reply.create_time))
                if r.HasField("reply")
                else None
            ),
            author_erased=r.author_erased,
            hidden=r.hidden,
            created_at=instant(r.create_time),
            booking_id=r.booking_id or None,
            client_id=r.client_id or None,
        )


class DiscoveryFilters:
    """The query parameters both discovery routes take (practitioners and services)."""

    def __init__(
        self,
        query: str,
        language: str,
        sort: SortName | None,
        limit: int,
        cursor: str,
        optional: dict[str, float | None],
    ) -> None:
        self.query = query
        self.language = language
        self.sort = sort
        self.limit = limit
        self.cursor = cursor
        self.optional = optional

    # A coroutine, not the class itself, is the routes' dependency: FastAPI runs a class or
    # a plain function in its thread pool, a hop to another thread on every search.
    @classmethod
    async def from_query(
        cls,
        q: Annotated[
            str, Query(max_length=rules.SEARCH_TEXT_LENGTH.high, description="Words to search for.")
        ] = "",
        language: Annotated[str, Query(max_length=2, description="ISO 639-1, e.g. en.")] = "",
        min_rating: Annotated[
            float | None, Query(ge=rules.RATING.low, le=rules.RATING.high)
        ] = None,
        lat: Annotated[float | None, Query(ge=rules.LATITUDE.low, le=rules.LATITUDE.high)] = None,
        lng: Annotated[float | None, Query(ge=rules.LONGITUDE.low, le=rules.LONGITUDE.high)] = None,
        radius_km: Annotated[float | None, Query(gt=0, le=rules.MAX_RADIUS_KM)] = None,
        sort: SortName | None = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> DiscoveryFilters:
        """The filters as the query string gives them."""
        optional = {"min_rating": min_rating, "lat": lat, "lng": lng, "radius_km": radius_km}
        return cls(q, language, sort, limit, cursor or "", optional)

    def fill(self, message: Any) -> Any:
        """Sets the filters on a List request (the optional ones only when given)."""
        message.query = self.query
        message.language = self.language
        message.sort = sort_to_proto(self.sort)
        message.page_size = self.limit
        message.page_token = self.cursor
        for name, value in self.optional.items():
            if value is not None:
                setattr(message, name, value)
        return message
