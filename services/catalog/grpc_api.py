"""Catalog's gRPC servicer: proto messages in and out, nothing else."""

from __future__ import annotations

from typing import Any

from chassis.auth.principal import Principal
from chassis.context import current_principal
from chassis.errors import InvalidArgument, Unauthenticated
from chassis.validation import Violations
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import catalog_pb2_grpc
from services.catalog import search
from services.catalog.domain import (
    BundleItem,
    Category,
    DatedSession,
    Location,
    LocationKind,
    PackageTerms,
    Practitioner,
    PractitionerStatus,
    Profile,
    RefundRule,
    Service,
    ServiceKind,
    ServiceStatus,
    SortOrder,
)
from services.catalog.handlers import Catalog, PractitionerView, ServiceView
from services.catalog.wire import (
    KIND_TO_PROTO,
    LOCATION_TO_PROTO,
    PROTO_TO_KIND,
    PROTO_TO_LOCATION,
    PROTO_TO_STATUS,
    SERVICE_STATUS_TO_PROTO,
    SORT_FROM_PROTO,
    STATUS_TO_PROTO,
    TIER_TO_PROTO,
    instant,
    money,
    timestamp,
)

# Output-only fields of a Service: a create that sets them is refused, never half-obeyed.
SERVICE_SCALAR_OUTPUTS = ("id", "name", "practitioner_id", "status")
SERVICE_MESSAGE_OUTPUTS = ("saving", "create_time", "update_time", "practitioner", "place")


# Location fields on the wire and in the domain, where their names differ.
LOCATION_FIELDS = {"country": "country_code", "lat": "latitude", "lng": "longitude"}


def _caller() -> Principal:
    principal = current_principal()
    if principal is None or not principal.is_user:
        raise Unauthenticated("this method needs a signed-in user")
    return principal


def location_to_proto(place: Location) -> pb.Location:
    return pb.Location(
        id=place.id,
        kind=LOCATION_TO_PROTO[place.kind],
        label=place.label,
        address=place.address,
        city=place.city,
        country=place.country_code,
        lat=place.latitude or 0.0,
        lng=place.longitude or 0.0,
    )


def location_from_proto(message: pb.Location, field: str = "kind") -> Location:
    kind = PROTO_TO_LOCATION.get(message.kind)
    if kind is None:
        raise InvalidArgument.field(field, "must be virtual or in_person", "required")
    return Location(
        id=message.id,
        kind=kind,
        label=message.label,
        address=message.address,
        city=message.city,
        country_code=message.country,
        latitude=message.lat if kind is LocationKind.IN_PERSON else None,
        longitude=message.lng if kind is LocationKind.IN_PERSON else None,
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


def service_view_to_proto(view: ServiceView) -> pb.Service:
    s = view.service
    message = pb.Service(
        name=f"services/{s.id}",
        id=s.id,
        practitioner_id=s.practitioner_id,
        kind=KIND_TO_PROTO[s.kind],
        title=s.title,
        description=s.description,
        category_id=s.category_id,
        price=money(s.price_minor, s.currency),
        duration_minutes=s.duration_minutes,
        location=pb.ServiceLocation(
            kind=LOCATION_TO_PROTO[s.location_kind], location_id=s.location_id or ""
        ),
        max_participants=s.max_participants,
        buffer_before_minutes=s.buffer_before_minutes,
        buffer_after_minutes=s.buffer_after_minutes,
        min_notice_minutes=s.min_notice_minutes,
        booking_window_days=s.booking_window_days,
        cancellation_policy=[
            pb.RefundRule(hours_before=r.hours_before, refund_percent=r.refund_percent)
            for r in s.cancellation_policy
        ],
        sessions=[
            pb.ServiceSession(
                start_time=timestamp(d.starts_at), duration_minutes=d.duration_minutes
            )
            for d in s.sessions
        ],
        bundle_items=[
            pb.BundleItem(service_id=i.service_id, quantity=i.quantity) for i in s.bundle_items
        ],
        status=SERVICE_STATUS_TO_PROTO[s.status],
        create_time=timestamp(s.created_at),
        update_time=timestamp(s.updated_at),
        practitioner=pb.PractitionerSummary(
            id=view.practitioner_id,
            display_name=view.practitioner_name,
            rating_average=view.rating_average,
            rating_count=view.rating_count,
            featured=view.featured,
        ),
    )
    if s.package:
        message.package.CopyFrom(
            pb.PackageTerms(
                session_service_id=s.package.session_service_id,
                session_count=s.package.session_count,
                validity_days=s.package.validity_days,
            )
        )
    if view.saving_minor is not None:
        message.saving.CopyFrom(money(view.saving_minor, s.currency))
    if view.place is not None:
        message.place.CopyFrom(location_to_proto(view.place))
    if view.distance_km is not None:
        message.distance_km = view.distance_km
    return message


def practitioner_to_proto(
    practitioner: Practitioner, *, owner_view: bool, services: list[ServiceView] | None = None
) -> pb.Practitioner:
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
        locations=[location_to_proto(p) for p in practitioner.locations if p.removed_at is None],
        status=STATUS_TO_PROTO[practitioner.status],
        featured=practitioner.featured,
        tier=TIER_TO_PROTO[practitioner.tier],
        rating_average=practitioner.rating_average,
        rating_count=practitioner.rating_count,
        create_time=timestamp(practitioner.created_at),
        update_time=timestamp(practitioner.updated_at),
        services=[service_view_to_proto(v) for v in services or []],
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


def _view_to_proto(view: PractitionerView) -> pb.Practitioner:
    message = practitioner_to_proto(
        view.practitioner, owner_view=view.owner_view, services=view.services
    )
    if view.distance_km is not None:
        message.distance_km = view.distance_km
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
    kind = PROTO_TO_KIND.get(message.kind)
    if creating and kind is None:
        v.add("kind", "must be session, workshop, course, package or bundle", "required")
    location_kind = PROTO_TO_LOCATION.get(message.location.kind, LocationKind.VIRTUAL)
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
        location_kind=location_kind,
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


def _optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def _point(message: Any) -> tuple[float, float] | None:
    has_lat, has_lng = message.HasField("lat"), message.HasField("lng")
    if has_lat != has_lng:
        raise InvalidArgument.field(
            "lng" if has_lat else "lat", "is needed together with the other coordinate", "required"
        )
    if not has_lat:
        return None
    v = Violations()
    if not -90 <= message.lat <= 90:
        v.add("lat", "must be between -90 and 90", "out_of_range")
    if not -180 <= message.lng <= 180:
        v.add("lng", "must be between -180 and 180", "out_of_range")
    v.raise_if_any()
    return (message.lat, message.lng)


def _radius(message: Any, point: tuple[float, float] | None) -> float | None:
    radius = _optional(message, "radius_km")
    if radius is None:
        return None
    if point is None:
        raise InvalidArgument.field("radius_km", "needs lat and lng", "required")
    if not 0 < radius <= 20_000:
        raise InvalidArgument.field("radius_km", "must be between 0 and 20000", "out_of_range")
    return float(radius)


def _sort(message: Any, has_text: bool, point: tuple[float, float] | None) -> SortOrder:
    if message.sort == pb.SORT_ORDER_UNSPECIFIED:
        return SortOrder.RELEVANCE if has_text else SortOrder.NEWEST
    sort = SORT_FROM_PROTO[message.sort]
    if sort is SortOrder.DISTANCE and point is None:
        raise InvalidArgument.field("sort", "distance needs lat and lng", "required")
    if sort is SortOrder.RELEVANCE and not has_text:
        raise InvalidArgument.field("sort", "relevance needs a query", "required")
    return sort


def _rating(message: Any) -> float | None:
    rating = _optional(message, "min_rating")
    if rating is not None and not 0 <= rating <= 5:
        raise InvalidArgument.field("min_rating", "must be between 0 and 5", "out_of_range")
    return rating


def _text(query: str) -> str:
    if len(query) > 200:
        raise InvalidArgument.field("query", "must be at most 200 characters", "too_long")
    return query


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    async def ApplyAsPractitioner(
        self, request: pb.ApplyAsPractitionerRequest, context: Any
    ) -> pb.Practitioner:
        places = [
            location_from_proto(p, f"locations[{n}].kind")
            for n, p in enumerate(request.practitioner.locations)
        ]
        view = await self._catalog.apply(
            _caller(), profile_from_proto(request.practitioner), places, request.request_id
        )
        return _view_to_proto(view)

    async def GetPractitioner(
        self, request: pb.GetPractitionerRequest, context: Any
    ) -> pb.Practitioner:
        return _view_to_proto(
            await self._catalog.get_practitioner(current_principal(), request.name)
        )

    async def UpdatePractitioner(
        self, request: pb.UpdatePractitionerRequest, context: Any
    ) -> pb.Practitioner:
        view = await self._catalog.update_practitioner(
            _caller(),
            request.practitioner.name,
            list(request.update_mask.paths),
            profile_from_proto(request.practitioner),
        )
        return _view_to_proto(view)

    async def ListPractitioners(
        self, request: pb.ListPractitionersRequest, context: Any
    ) -> pb.ListPractitionersResponse:
        point = _point(request)
        query = search.PractitionerQuery(
            text=_text(request.query),
            language=request.language.lower(),
            min_rating=_rating(request),
            point=point,
            radius_km=_radius(request, point),
            featured_only=request.featured_only,
            sort=_sort(request, bool(search.words(request.query)), point),
        )
        page = await self._catalog.list_practitioners(query, request.page_size, request.page_token)
        return pb.ListPractitionersResponse(
            practitioners=[_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListPractitionerApplications(
        self, request: pb.ListPractitionerApplicationsRequest, context: Any
    ) -> pb.ListPractitionerApplicationsResponse:
        status = PROTO_TO_STATUS.get(request.status, PractitionerStatus.PENDING)
        page = await self._catalog.list_applications(status, request.page_size, request.page_token)
        return pb.ListPractitionerApplicationsResponse(
            practitioners=[_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ApprovePractitioner(
        self, request: pb.ApprovePractitionerRequest, context: Any
    ) -> pb.Practitioner:
        return _view_to_proto(
            await self._catalog.approve(_caller(), request.name, request.request_id)
        )

    async def RejectPractitioner(
        self, request: pb.RejectPractitionerRequest, context: Any
    ) -> pb.Practitioner:
        return _view_to_proto(
            await self._catalog.reject(_caller(), request.name, request.reason, request.request_id)
        )

    async def FeaturePractitioner(
        self, request: pb.FeaturePractitionerRequest, context: Any
    ) -> pb.Practitioner:
        return _view_to_proto(
            await self._catalog.feature(_caller(), request.name, request.featured)
        )

    async def CreateLocation(self, request: pb.CreateLocationRequest, context: Any) -> pb.Location:
        place = await self._catalog.create_location(
            _caller(), location_from_proto(request.location), request.request_id
        )
        return location_to_proto(place)

    async def UpdateLocation(self, request: pb.UpdateLocationRequest, context: Any) -> pb.Location:
        values = Location(
            id=request.location.id,
            kind=LocationKind.IN_PERSON,
            label=request.location.label,
            address=request.location.address,
            city=request.location.city,
            country_code=request.location.country,
            latitude=request.location.lat,
            longitude=request.location.lng,
        )
        paths = [LOCATION_FIELDS.get(p, p) for p in request.update_mask.paths]
        place = await self._catalog.update_location(_caller(), request.location.id, paths, values)
        return location_to_proto(place)

    async def DeleteLocation(
        self, request: pb.DeleteLocationRequest, context: Any
    ) -> pb.DeleteLocationResponse:
        await self._catalog.delete_location(_caller(), request.location_id)
        return pb.DeleteLocationResponse()

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Any
    ) -> pb.ListCategoriesResponse:
        found = await self._catalog.list_categories()
        return pb.ListCategoriesResponse(categories=[category_to_proto(c) for c in found])

    async def CreateCategory(self, request: pb.CreateCategoryRequest, context: Any) -> pb.Category:
        c = request.category
        created = await self._catalog.create_category(
            _caller(),
            Category("", c.slug, c.name, c.description, c.parent_id or None, c.position, ""),
            request.request_id,
        )
        return category_to_proto(created)

    async def UpdateCategory(self, request: pb.UpdateCategoryRequest, context: Any) -> pb.Category:
        c = request.category
        updated = await self._catalog.update_category(
            _caller(),
            c.id,
            list(request.update_mask.paths),
            Category(c.id, c.slug, c.name, c.description, c.parent_id or None, c.position, ""),
        )
        return category_to_proto(updated)

    async def DeleteCategory(
        self, request: pb.DeleteCategoryRequest, context: Any
    ) -> pb.DeleteCategoryResponse:
        await self._catalog.delete_category(_caller(), request.category_id)
        return pb.DeleteCategoryResponse()

    async def CreateService(self, request: pb.CreateServiceRequest, context: Any) -> pb.Service:
        view = await self._catalog.create_service(
            _caller(), service_from_proto(request.service, creating=True), request.request_id
        )
        return service_view_to_proto(view)

    async def GetService(self, request: pb.GetServiceRequest, context: Any) -> pb.Service:
        view = await self._catalog.get_service(
            current_principal(), request.name.removeprefix("services/")
        )
        return service_view_to_proto(view)

    async def UpdateService(self, request: pb.UpdateServiceRequest, context: Any) -> pb.Service:
        view = await self._catalog.update_service(
            _caller(),
            request.service.name.removeprefix("services/") or request.service.id,
            list(request.update_mask.paths),
            service_from_proto(request.service, creating=False),
        )
        return service_view_to_proto(view)

    async def ArchiveService(self, request: pb.ArchiveServiceRequest, context: Any) -> pb.Service:
        view = await self._catalog.archive_service(
            _caller(), request.name.removeprefix("services/")
        )
        return service_view_to_proto(view)

    async def ListServices(
        self, request: pb.ListServicesRequest, context: Any
    ) -> pb.ListServicesResponse:
        point = _point(request)
        v = Violations()
        price_min = _optional(request, "price_min")
        price_max = _optional(request, "price_max")
        if price_min is not None and price_min < 0:
            v.add("price_min", "must not be negative", "out_of_range")
        if price_max is not None and price_max < 0:
            v.add("price_max", "must not be negative", "out_of_range")
        if price_min is not None and price_max is not None and price_min > price_max:
            v.add("price_max", "must not be below price_min", "out_of_range")
        v.raise_if_any()
        query = search.ServiceQuery(
            text=_text(request.query),
            kind=PROTO_TO_KIND.get(request.kind),
            price_min=price_min,
            price_max=price_max,
            currency=request.currency.upper(),
            location_kind=PROTO_TO_LOCATION.get(request.location_kind),
            point=point,
            radius_km=_radius(request, point),
            min_rating=_rating(request),
            practitioner_id=request.practitioner_id,
            language=request.language.lower(),
            sort=_sort(request, bool(search.words(request.query)), point),
        )
        page = await self._catalog.list_services(
            query, request.page_size, request.page_token, category=request.category
        )
        return pb.ListServicesResponse(
            services=[service_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListOwnServices(
        self, request: pb.ListOwnServicesRequest, context: Any
    ) -> pb.ListOwnServicesResponse:
        page = await self._catalog.list_own_services(
            _caller(), request.page_size, request.page_token
        )
        return pb.ListOwnServicesResponse(
            services=[service_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def BatchGetServices(
        self, request: pb.BatchGetServicesRequest, context: Any
    ) -> pb.BatchGetServicesResponse:
        views = await self._catalog.batch_get_services(
            [n.removeprefix("services/") for n in request.names]
        )
        return pb.BatchGetServicesResponse(services=[service_view_to_proto(v) for v in views])

    async def BatchGetPractitioners(
        self, request: pb.BatchGetPractitionersRequest, context: Any
    ) -> pb.BatchGetPractitionersResponse:
        found = await self._catalog.batch_get_practitioners(
            [n.removeprefix("practitioners/") for n in request.names], list(request.user_ids)
        )
        return pb.BatchGetPractitionersResponse(
            practitioners=[practitioner_to_proto(p, owner_view=True) for p in found]
        )

    async def QuoteService(
        self, request: pb.QuoteServiceRequest, context: Any
    ) -> pb.QuoteServiceResponse:
        quote = await self._catalog.quote(request.name.removeprefix("services/"), request.quantity)
        service = quote.service
        return pb.QuoteServiceResponse(
            service_id=service.id,
            kind=KIND_TO_PROTO[service.kind],
            practitioner_id=quote.practitioner.id,
            practitioner_user_id=quote.practitioner.user_id,
            practitioner_tier=TIER_TO_PROTO[quote.practitioner.tier],
            unit_price=money(service.price_minor, service.currency),
            total=money(quote.total_minor, service.currency),
            quantity=quote.quantity,
            service_update_time=timestamp(service.updated_at),
        )
