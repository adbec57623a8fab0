"""Reviews: a client reviews a completed booking (/api/v1/bookings/{id}/review), the
practitioner replies and staff hide (/api/v1/reviews/{id}/...), and anyone reads a service's
or a practitioner's reviews (/api/v1/services/{id}/reviews, /api/v1/practitioners/{id}/reviews).

The review hangs on the booking, not on the service: the right to review comes from a
completed booking, one booking has at most one review by its client, and the booking names
the service, so the client cannot send a service that does not match it.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Request
from starlette.responses import Response

from estuary.catalog.v1 import catalog_pb2 as pb
from gateway.auth import Caller, require_staff, require_user, verified_caller
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.catalog import ReplyBody, ReviewBody, ReviewHideBody, ReviewOut
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Limit, Page, page_of

router = GatewayRouter(prefix="/api/v1")
REVIEWS: list[str | Enum] = ["reviews"]

Id = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


@router.post(
    "/bookings/{booking_id}/review",
    operation_id="reviews.create",
    tags=REVIEWS,
    status_code=201,
    response_model=ReviewOut,
    responses=responses(409),
)
async def create_review(
    booking_id: Id,
    body: ReviewBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The client of a completed booking reviews it: 1-5 stars and a text, once, within the
    review window after the session; never changed afterwards. 404 until the booking is
    known completed, 403 for someone else's booking, 409 once reviewed."""
    review = await api.catalog.CreateReview(
        pb.CreateReviewRequest(
            parent=f"bookings/{booking_id}",
            review=pb.Review(rating=body.rating, text=body.text),
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(ReviewOut.from_proto(review), 201)


@router.post(
    "/reviews/{review_id}/reply",
    operation_id="reviews.reply",
    tags=REVIEWS,
    response_model=ReviewOut,
    responses=responses(409),
)
async def reply_to_review(
    review_id: Id,
    body: ReplyBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The practitioner of the reviewed service answers, once."""
    review = await api.catalog.ReplyToReview(
        pb.ReplyToReviewRequest(
            name=f"reviews/{review_id}", text=body.text, request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(ReviewOut.from_proto(review))


@router.post(
    "/reviews/{review_id}/hide",
    operation_id="reviews.hide",
    tags=REVIEWS,
    response_model=ReviewOut,
    responses=responses(409),
)
async def hide_review(
    review_id: Id,
    body: ReviewHideBody,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff hide an abusive review (its stars leave the ratings) or show it again; never a
    review of their own practice."""
    review = await api.catalog.HideReview(
        pb.HideReviewRequest(name=f"reviews/{review_id}", hidden=body.hidden, reason=body.reason),
        metadata=caller.metadata(),
    )
    return json_response(ReviewOut.from_proto(review))


@router.get(
    "/services/{service_id}/reviews",
    operation_id="reviews.list_for_service",
    tags=REVIEWS,
    response_model=Page[ReviewOut],
)
async def list_service_reviews(
    service_id: Id,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    api: Backends = Depends(backends),
) -> Response:
    """A service's reviews, newest first: public while it is on sale."""
    caller = await verified_caller(request)
    found = await api.catalog.ListServiceReviews(
        pb.ListServiceReviewsRequest(
            parent=f"services/{service_id}", page_size=limit, page_token=cursor or ""
        ),
        metadata=caller.metadata() if caller else anonymous(),
    )
    return json_response(reviews_page(found))


@router.get(
    "/practitioners/{practitioner_id}/reviews",
    operation_id="reviews.list_for_practitioner",
    tags=REVIEWS,
    response_model=Page[ReviewOut],
)
async def list_practitioner_reviews(
    practitioner_id: Id,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    api: Backends = Depends(backends),
) -> Response:
    """A practitioner's reviews, of all their services, newest first: public while they are
    listed."""
    caller = await verified_caller(request)
    found = await api.catalog.ListPractitionerReviews(
        pb.ListPractitionerReviewsRequest(
            parent=f"practitioners/{practitioner_id}", page_size=limit, page_token=cursor or ""
        ),
        metadata=caller.metadata() if caller else anonymous(),
    )
    return json_response(reviews_page(found))


def reviews_page(
    found: pb.ListServiceReviewsResponse | pb.ListPractitionerReviewsResponse,
) -> Page[ReviewOut]:
    return page_of(
        [ReviewOut.from_proto(r) for r in found.reviews], found.next_page_token, found.total_size
    )
