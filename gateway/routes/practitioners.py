"""/api/v1/practitioners: applying, profiles, locations, staff review and discovery."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Request
from google.protobuf.field_mask_pb2 import FieldMask
from starlette.responses import Response

from estuary.catalog.v1 import catalog_pb2 as pb
from gateway.auth import Caller, require_staff, require_user, verified_caller
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.catalog import (
    PRACTITIONER_STATUSES,
    ApplyBody,
    DiscoveryFilters,
    FeatureBody,
    LocationIn,
    LocationOut,
    LocationPatch,
    PractitionerOut,
    PractitionerPatch,
    PractitionerStatusName,
    RejectBody,
    location_to_proto,
)
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Limit, Page, page_of

# Tags per resource: the profiles and a practitioner's places of work, under one prefix.
router = GatewayRouter(prefix="/api/v1/practitioners")
admin_router = GatewayRouter(prefix="/api/v1/admin/practitioners", tags=["practitioners"])
PRACTITIONERS: list[str | Enum] = ["practitioners"]
LOCATIONS: list[str | Enum] = ["locations"]

PractitionerId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]
LocationId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


@router.post(
    "/apply",
    operation_id="practitioners.apply",
    tags=PRACTITIONERS,
    status_code=201,
    response_model=PractitionerOut,
    responses=responses(400, 409),
)
async def apply(
    body: ApplyBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Applies to become a practitioner; the profile waits for staff review."""
    practitioner = await api.catalog.ApplyAsPractitioner(
        pb.ApplyAsPractitionerRequest(
            practitioner=body.to_proto(), request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(PractitionerOut.from_proto(practitioner), 201)


@router.get(
    "/me",
    operation_id="practitioners.get_me",
    tags=PRACTITIONERS,
    response_model=PractitionerOut,
    responses=responses(404),
)
async def get_own_profile(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The caller's practitioner profile in any status, with onboarding progress."""
    practitioner = await api.catalog.GetPractitioner(
        pb.GetPractitionerRequest(name="practitioners/me"), metadata=caller.metadata()
    )
    return json_response(PractitionerOut.from_proto(practitioner))


@router.patch(
    "/me",
    operation_id="practitioners.update_me",
    tags=PRACTITIONERS,
    response_model=PractitionerOut,
    responses=responses(400, 404),
)
async def update_own_profile(
    body: PractitionerPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes profile fields; status, tier and ratings are not the practitioner's to set."""
    paths = sorted(body.model_fields_set)
    message = pb.Practitioner()
    for path in paths:
        value = getattr(body, path)
        if isinstance(value, list):
            getattr(message, path).extend(value)
        elif value is not None:
            setattr(message, path, value)
    practitioner = await api.catalog.UpdatePractitioner(
        pb.UpdatePractitionerRequest(practitioner=message, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(PractitionerOut.from_proto(practitioner))


@router.post(
    "/me/locations",
    operation_id="locations.create",
    tags=LOCATIONS,
    status_code=201,
    response_model=LocationOut,
    responses=responses(400, 404, 409),
)
async def add_location(
    body: LocationIn,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Adds a place of work (or the virtual one)."""
    location = await api.catalog.CreateLocation(
        pb.CreateLocationRequest(
            location=location_to_proto(body), request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(LocationOut.from_proto(location), 201)


@router.patch(
    "/me/locations/{location_id}",
    operation_id="locations.update",
    tags=LOCATIONS,
    response_model=LocationOut,
    responses=responses(400),
)
async def update_location(
    location_id: LocationId,
    body: LocationPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Changes an address or its coordinates."""
    paths = sorted(body.model_fields_set)
    message = pb.Location(id=location_id)
    for path in paths:
        value = getattr(body, path)
        if value is not None:
            setattr(message, path, value)
    location = await api.catalog.UpdateLocation(
        pb.UpdateLocationRequest(location=message, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(LocationOut.from_proto(location))


@router.delete(
    "/me/locations/{location_id}",
    operation_id="locations.delete",
    tags=LOCATIONS,
    status_code=204,
    responses=responses(409),
)
async def remove_location(
    location_id: LocationId,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Removes a location no active service uses."""
    await api.catalog.DeleteLocation(
        pb.DeleteLocationRequest(location_id=location_id), metadata=caller.metadata()
    )
    return Response(status_code=204)


@router.get(
    "",
    operation_id="practitioners.list",
    tags=PRACTITIONERS,
    response_model=Page[PractitionerOut],
    responses=responses(400),
)
async def discover_practitioners(
    request: Request,
    filters: Annotated[DiscoveryFilters, Depends(DiscoveryFilters.from_query)],
    featured: bool = False,
    api: Backends = Depends(backends),
) -> Response:
    """Approved practitioners: full-text search, language, rating and distance."""
    message = filters.fill(pb.ListPractitionersRequest(featured_only=featured))
    caller = await verified_caller(request)
    found = await api.catalog.ListPractitioners(
        message, metadata=caller.metadata() if caller else anonymous()
    )
    return json_response(practitioners_page(found))


@router.get(
    "/{practitioner_id}",
    operation_id="practitioners.get",
    tags=PRACTITIONERS,
    response_model=PractitionerOut,
)
async def get_practitioner(
    practitioner_id: PractitionerId, request: Request, api: Backends = Depends(backends)
) -> Response:
    """An approved practitioner's public profile with their active services."""
    caller = await verified_caller(request)
    practitioner = await api.catalog.GetPractitioner(
        pb.GetPractitionerRequest(name=f"practitioners/{practitioner_id}"),
        metadata=caller.metadata() if caller else anonymous(),
    )
    return json_response(PractitionerOut.from_proto(practitioner))


@router.post(
    "/{practitioner_id}/approve",
    operation_id="practitioners.approve",
    tags=PRACTITIONERS,
    response_model=PractitionerOut,
    responses=responses(409),
)
async def approve(
    practitioner_id: PractitionerId,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff approve a pending practitioner; they get the practitioner role. Staff cannot
    review their own application."""
    practitioner = await api.catalog.ApprovePractitioner(
        pb.ApprovePractitionerRequest(
            name=f"practitioners/{practitioner_id}", request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(PractitionerOut.from_proto(practitioner))


@router.post(
    "/{practitioner_id}/reject",
    operation_id="practitioners.reject",
    tags=PRACTITIONERS,
    response_model=PractitionerOut,
    responses=responses(409),
)
async def reject(
    practitioner_id: PractitionerId,
    body: RejectBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff reject a pending practitioner, with a reason they will see."""
    practitioner = await api.catalog.RejectPractitioner(
        pb.RejectPractitionerRequest(
            name=f"practitioners/{practitioner_id}",
            reason=body.reason,
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(PractitionerOut.from_proto(practitioner))


@router.post(
    "/{practitioner_id}/feature",
    operation_id="practitioners.feature",
    tags=PRACTITIONERS,
    response_model=PractitionerOut,
    responses=responses(409),
)
async def feature(
    practitioner_id: PractitionerId,
    body: FeatureBody,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff feature (or stop featuring) an approved practitioner."""
    practitioner = await api.catalog.FeaturePractitioner(
        pb.FeaturePractitionerRequest(
            name=f"practitioners/{practitioner_id}", featured=body.featured
        ),
        metadata=caller.metadata(),
    )
    return json_response(PractitionerOut.from_proto(practitioner))


@admin_router.get(
    "",
    operation_id="practitioners.list_applications",
    response_model=Page[PractitionerOut],
)
async def applications(
    status: PractitionerStatusName = "pending",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Practitioner applications by status, oldest first: the review queue."""
    found = await api.catalog.ListPractitionerApplications(
        pb.ListPractitionerApplicationsRequest(
            status=PRACTITIONER_STATUSES.to_proto(status),
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(practitioners_page(found))


def practitioners_page(
    found: pb.ListPractitionersResponse | pb.ListPractitionerApplicationsResponse,
) -> Page[PractitionerOut]:
    return page_of(
        [PractitionerOut.from_proto(p) for p in found.practitioners],
        found.next_page_token,
        found.total_size,
    )
