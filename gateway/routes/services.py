"""/api/v1/services: categories, a practitioner's services, and discovery."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from google.protobuf.field_mask_pb2 import FieldMask
from starlette.responses import Response

from estuary.catalog.v1 import catalog_pb2 as pb
from gateway.auth import Caller, require_staff, require_user, verified_caller
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.catalog import (
    LOCATION_KINDS,
    SERVICE_KINDS,
    CategoryBody,
    CategoryList,
    CategoryOut,
    CategoryPatch,
    DiscoveryFilters,
    KindName,
    LocationKindName,
    ServiceCreate,
    ServiceFields,
    ServiceOut,
)
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Int64, Limit, Page, page_of

# Tags per resource: the category tree and the services, under one prefix.
router = GatewayRouter(prefix="/api/v1/services")
SERVICES: list[str | Enum] = ["services"]
CATEGORIES: list[str | Enum] = ["categories"]

Id = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


@router.get(
    "/categories", operation_id="categories.list", tags=CATEGORIES, response_model=CategoryList
)
async def list_categories(api: Backends = Depends(backends)) -> Response:
    """The category tree, parents before children."""
    found = await api.catalog.ListCategories(pb.ListCategoriesRequest(), metadata=anonymous())
    return json_response(
        CategoryList(results=[CategoryOut.from_proto(c) for c in found.categories])
    )


@router.post(
    "/categories",
    operation_id="categories.create",
    tags=CATEGORIES,
    status_code=201,
    response_model=CategoryOut,
    responses=responses(404, 409),
)
async def create_category(
    body: CategoryBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff add a category, at the top or under a parent."""
    category = await api.catalog.CreateCategory(
        pb.CreateCategoryRequest(
            category=pb.Category(
                slug=body.slug,
                name=body.name,
                description=body.description,
                parent_id=body.parent_id or "",
                position=body.position,
            ),
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(CategoryOut.from_proto(category), 201)


@router.patch(
    "/categories/{category_id}",
    operation_id="categories.update",
    tags=CATEGORIES,
    response_model=CategoryOut,
    responses=responses(409),
)
async def update_category(
    category_id: Id,
    body: CategoryPatch,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff rename, re-slug or move a category (its subtree moves with it)."""
    paths = sorted(body.model_fields_set)
    message = pb.Category(id=category_id)
    for path in paths:
        value = getattr(body, path)
        if value is not None:
            setattr(message, path, value)
    category = await api.catalog.UpdateCategory(
        pb.UpdateCategoryRequest(category=message, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(CategoryOut.from_proto(category))


@router.delete(
    "/categories/{category_id}",
    operation_id="categories.delete",
    tags=CATEGORIES,
    status_code=204,
    responses=responses(409),
)
async def delete_category(
    category_id: Id, caller: Caller = Depends(require_staff), api: Backends = Depends(backends)
) -> Response:
    """Staff remove an empty category."""
    await api.catalog.DeleteCategory(
        pb.DeleteCategoryRequest(category_id=category_id), metadata=caller.metadata()
    )
    return Response(status_code=204)


@router.post(
    "",
    operation_id="services.create",
    tags=SERVICES,
    status_code=201,
    response_model=ServiceOut,
    responses=responses(404, 409),
)
async def create_service(
    body: ServiceCreate,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """An approved practitioner puts a service on sale (within their plan's limit)."""
    service = await api.catalog.CreateService(
        pb.CreateServiceRequest(service=body.to_proto(body.kind), request_id=idempotency_key or ""),
        metadata=caller.metadata(),
    )
    return json_response(ServiceOut.from_proto(service), 201)


@router.get(
    "",
    operation_id="services.list",
    tags=SERVICES,
    response_model=Page[ServiceOut],
    responses=responses(400),
)
async def discover_services(
    request: Request,
    filters: Annotated[DiscoveryFilters, Depends(DiscoveryFilters.from_query)],
    category: Annotated[
        str, Query(max_length=80, description="Id or slug; with subcategories.")
    ] = "",
    kind: KindName | None = None,
    price_min: Annotated[Int64 | None, Query(ge=0, description="Minor units.")] = None,
    price_max: Annotated[Int64 | None, Query(ge=0, description="Minor units.")] = None,
    currency: Annotated[str, Query(max_length=3)] = "",
    location: Annotated[LocationKindName | None, Query(description="virtual or in_person")] = None,
    practitioner_id: Annotated[str, Query(max_length=36)] = "",
    api: Backends = Depends(backends),
) -> Response:
    """Services on sale: search and filters combine; sorted as asked; paged by cursor."""
    message = filters.fill(
        pb.ListServicesRequest(
            category=category,
            kind=SERVICE_KINDS.to_proto(kind) if kind else pb.SERVICE_KIND_UNSPECIFIED,
            currency=currency,
            location_kind=(
                LOCATION_KINDS.to_proto(location) if location else pb.LOCATION_KIND_UNSPECIFIED
            ),
            practitioner_id=practitioner_id,
        )
    )
    if price_min is not None:
        message.price_min = price_min
    if price_max is not None:
        message.price_max = price_max
    caller = await verified_caller(request)
    found = await api.catalog.ListServices(
        message, metadata=caller.metadata() if caller else anonymous()
    )
    return json_response(services_page(found))


@router.get(
    "/mine",
    operation_id="services.list_mine",
    tags=SERVICES,
    response_model=Page[ServiceOut],
    responses=responses(404),  # no practitioner profile yet
)
async def list_own_services(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The caller's own services, archived ones included, newest first."""
    found = await api.catalog.ListOwnServices(
        pb.ListOwnServicesRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(services_page(found))


def services_page(found: pb.ListServicesResponse | pb.ListOwnServicesResponse) -> Page[ServiceOut]:
    return page_of(
        [ServiceOut.from_proto(s) for s in found.services],
        found.next_page_token,
        found.total_size,
    )


@router.get("/{service_id}", operation_id="services.get", tags=SERVICES, response_model=ServiceOut)
async def get_service(
    service_id: Id, request: Request, api: Backends = Depends(backends)
) -> Response:
    """One service; archived ones only for their practitioner and staff."""
    caller = await verified_caller(request)
    service = await api.catalog.GetService(
        pb.GetServiceRequest(name=f"services/{service_id}"),
        metadata=caller.metadata() if caller else anonymous(),
    )
    return json_response(ServiceOut.from_proto(service))


@router.patch(
    "/{service_id}",
    operation_id="services.update",
    tags=SERVICES,
    response_model=ServiceOut,
    responses=responses(409),
)
async def update_service(
    service_id: Id,
    body: ServiceFields,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes the fields present; the kind cannot change."""
    paths = sorted(body.model_fields_set)
    message = body.to_proto()
    message.name = f"services/{service_id}"
    service = await api.catalog.UpdateService(
        pb.UpdateServiceRequest(service=message, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(ServiceOut.from_proto(service))


@router.post(
    "/{service_id}/archive",
    operation_id="services.archive",
    tags=SERVICES,
    response_model=ServiceOut,
    responses=responses(409),
)
async def archive_service(
    service_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Withdraws a service from sale."""
    service = await api.catalog.ArchiveService(
        pb.ArchiveServiceRequest(name=f"services/{service_id}"), metadata=caller.metadata()
    )
    return json_response(ServiceOut.from_proto(service))
