"""Catalog's gRPC servicer: proto messages in and out (mapped in wire.py), nothing else."""

from __future__ import annotations

from typing import Any

from chassis.auth.principal import Principal
from chassis.context import current_principal
from chassis.errors import InvalidArgument, Unauthenticated
from chassis.text_search import words
from chassis.wire import timestamp
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import catalog_pb2_grpc
from services.catalog.domain import discovery
from services.catalog.domain.practitioners import PractitionerStatus
from services.catalog.search import (
    PractitionerQuery,
    PractitionerView,
    ServiceQuery,
    ServiceView,
)
from services.catalog.service_layer import Catalog
from services.catalog.service_layer.reviews import ReviewView
from services.catalog.wire import (
    LOCATION_FIELDS,
    LOCATION_KINDS,
    PRACTITIONER_STATUSES,
    SERVICE_KINDS,
    SORT_ORDERS,
    TIERS,
    category_from_proto,
    category_to_proto,
    location_from_proto,
    location_to_proto,
    location_values,
    money,
    practitioner_to_proto,
    profile_from_proto,
    review_from_proto,
    review_to_proto,
    service_from_proto,
    service_terms_fields,
)


def service_view_to_proto(view: ServiceView) -> pb.Service:
    s = view.service
    message = pb.Service(
        name=f"services/{s.id}",
        id=s.id,
        practitioner_id=s.practitioner_id,
        description=s.description,
        location=pb.ServiceLocation(
            kind=LOCATION_KINDS.to_proto(s.location_kind), location_id=s.location_id or ""
        ),
        create_time=timestamp(s.created_at),
        practitioner=pb.PractitionerSummary(
            id=view.practitioner_id,
            display_name=view.practitioner_name,
            rating_average=view.practitioner_rating_average,
            rating_count=view.practitioner_rating_count,
            featured=view.featured,
        ),
        rating_average=view.rating_average,
        rating_count=view.rating_count,
        **service_terms_fields(s),
    )
    if view.saving_minor is not None:
        message.saving.CopyFrom(money(view.saving_minor, s.currency))
    if view.place is not None:
        message.place.CopyFrom(location_to_proto(view.place))
    if view.distance_km is not None:
        message.distance_km = view.distance_km
    return message


def practitioner_view_to_proto(view: PractitionerView) -> pb.Practitioner:
    message = practitioner_to_proto(view.practitioner, owner_view=view.owner_view)
    message.services.extend(service_view_to_proto(v) for v in view.services)
    if view.distance_km is not None:
        message.distance_km = view.distance_km
    return message


def review_view_to_proto(view: ReviewView) -> pb.Review:
    return review_to_proto(view.review, view.service_title, full=view.full)


def _caller() -> Principal:
    principal = current_principal()
    if principal is None or not principal.is_user:
        raise Unauthenticated("this method needs a signed-in user")
    return principal


def _optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def _point(message: Any) -> tuple[float, float] | None:
    """The point a search measures from: lat and lng together, or neither."""
    has_lat, has_lng = message.HasField("lat"), message.HasField("lng")
    if has_lat != has_lng:
        raise InvalidArgument.field(
            "lng" if has_lat else "lat", "is needed together with the other coordinate", "required"
        )
    return discovery.check_point(message.lat, message.lng) if has_lat else None


def _discovery(message: Any) -> dict[str, Any]:
    """The filters practitioner and service searches share, checked."""
    point = _point(message)
    text = discovery.check_search_text(message.query)
    return {
        "text": text,
        "language": message.language.lower(),
        "min_rating": discovery.check_rating(_optional(message, "min_rating")),
        "point": point,
        "radius_km": discovery.check_radius(_optional(message, "radius_km"), point),
        "sort": discovery.choose_sort(
            SORT_ORDERS.from_proto(message.sort), has_text=bool(words(text)), point=point
        ),
    }


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
        return practitioner_view_to_proto(view)

    async def GetPractitioner(
        self, request: pb.GetPractitionerRequest, context: Any
    ) -> pb.Practitioner:
        view = await self._catalog.get_practitioner(current_principal(), request.name)
        return practitioner_view_to_proto(view)

    async def UpdatePractitioner(
        self, request: pb.UpdatePractitionerRequest, context: Any
    ) -> pb.Practitioner:
        view = await self._catalog.update_practitioner(
            _caller(),
            request.practitioner.name,
            list(request.update_mask.paths),
            profile_from_proto(request.practitioner),
        )
        return practitioner_view_to_proto(view)

    async def ListPractitioners(
        self, request: pb.ListPractitionersRequest, context: Any
    ) -> pb.ListPractitionersResponse:
        query = PractitionerQuery(featured_only=request.featured_only, **_discovery(request))
        page = await self._catalog.list_practitioners(query, request.page_size, request.page_token)
        return pb.ListPractitionersResponse(
            practitioners=[practitioner_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListPractitionerApplications(
        self, request: pb.ListPractitionerApplicationsRequest, context: Any
    ) -> pb.ListPractitionerApplicationsResponse:
        status = PRACTITIONER_STATUSES.from_proto(request.status) or PractitionerStatus.PENDING
        page = await self._catalog.list_applications(status, request.page_size, request.page_token)
        return pb.ListPractitionerApplicationsResponse(
            practitioners=[practitioner_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ApprovePractitioner(
        self, request: pb.ApprovePractitionerRequest, context: Any
    ) -> pb.Practitioner:
        view = await self._catalog.approve(_caller(), request.name, request.request_id)
        return practitioner_view_to_proto(view)

    async def RejectPractitioner(
        self, request: pb.RejectPractitionerRequest, context: Any
    ) -> pb.Practitioner:
        view = await self._catalog.reject(
            _caller(), request.name, request.reason, request.request_id
        )
        return practitioner_view_to_proto(view)

    async def FeaturePractitioner(
        self, request: pb.FeaturePractitionerRequest, context: Any
    ) -> pb.Practitioner:
        view = await self._catalog.feature(_caller(), request.name, request.featured)
        return practitioner_view_to_proto(view)

    async def CreateLocation(self, request: pb.CreateLocationRequest, context: Any) -> pb.Location:
        place = await self._catalog.create_location(
            _caller(), location_from_proto(request.location), request.request_id
        )
        return location_to_proto(place)

    async def UpdateLocation(self, request: pb.UpdateLocationRequest, context: Any) -> pb.Location:
        paths = [LOCATION_FIELDS.get(p, p) for p in request.update_mask.paths]
        place = await self._catalog.update_location(
            _caller(), request.location.id, paths, location_values(request.location)
        )
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
        created = await self._catalog.create_category(
            _caller(), category_from_proto(request.category), request.request_id
        )
        return category_to_proto(created)

    async def UpdateCategory(self, request: pb.UpdateCategoryRequest, context: Any) -> pb.Category:
        updated = await self._catalog.update_category(
            _caller(),
            request.category.id,
            list(request.update_mask.paths),
            category_from_proto(request.category),
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
        price_min = _optional(request, "price_min")
        price_max = _optional(request, "price_max")
        discovery.check_price_range(price_min, price_max)
        query = ServiceQuery(
            kind=SERVICE_KINDS.from_proto(request.kind),
            price_min=price_min,
            price_max=price_max,
            currency=request.currency.upper(),
            location_kind=LOCATION_KINDS.from_proto(request.location_kind),
            practitioner_id=request.practitioner_id,
            **_discovery(request),
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
            kind=SERVICE_KINDS.to_proto(service.kind),
            practitioner_id=quote.practitioner.id,
            practitioner_user_id=quote.practitioner.user_id,
            practitioner_tier=TIERS.to_proto(quote.practitioner.tier),
            unit_price=money(service.price_minor, service.currency),
            total=money(quote.total_minor, service.currency),
            quantity=quote.quantity,
            service_update_time=timestamp(service.updated_at),
        )

    async def CreateReview(self, request: pb.CreateReviewRequest, context: Any) -> pb.Review:
        rating, text = review_from_proto(request.review)
        view = await self._catalog.create_review(
            _caller(), request.parent, rating, text, request.request_id
        )
        return review_view_to_proto(view)

    async def ReplyToReview(self, request: pb.ReplyToReviewRequest, context: Any) -> pb.Review:
        view = await self._catalog.reply_to_review(
            _caller(), request.name, request.text, request.request_id
        )
        return review_view_to_proto(view)

    async def HideReview(self, request: pb.HideReviewRequest, context: Any) -> pb.Review:
        view = await self._catalog.hide_review(
            _caller(), request.name, request.hidden, request.reason
        )
        return review_view_to_proto(view)

    async def ListPractitionerReviews(
        self, request: pb.ListPractitionerReviewsRequest, context: Any
    ) -> pb.ListPractitionerReviewsResponse:
        page = await self._catalog.list_practitioner_reviews(
            current_principal(), request.parent, request.page_size, request.page_token
        )
        return pb.ListPractitionerReviewsResponse(
            reviews=[review_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ListServiceReviews(
        self, request: pb.ListServiceReviewsRequest, context: Any
    ) -> pb.ListServiceReviewsResponse:
        page = await self._catalog.list_service_reviews(
            current_principal(), request.parent, request.page_size, request.page_token
        )
        return pb.ListServiceReviewsResponse(
            reviews=[review_view_to_proto(v) for v in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )
