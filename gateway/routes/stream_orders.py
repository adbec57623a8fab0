"""Paying creators at the edge: tips to a stream or one of its posts
(/api/v1/streams/{id}/tips, /api/v1/streams/{id}/posts/{id}/tips) and a post's one-off
unlock (/api/v1/streams/{id}/posts/{id}/unlock), through payments' stream orders;
subscriptions to a stream's paid tier (/api/v1/streams/{id}/subscriptions,
/api/v1/stream-subscriptions/{id}, /api/v1/me/stream-subscriptions), payments' stream
subscriptions; and the revenue they brought the creator (/api/v1/streams/{id}/revenue,
streams'). What is sold, to whom and for how much is streams' and payments' to decide."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path
from starlette.responses import Response

from estuary.payments.v1 import events_pb2
from estuary.payments.v1 import payments_pb2 as pb
from estuary.streams.v1 import streams_pb2 as streams_pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, backends, json_response
from gateway.schemas.common import DEFAULT_LIMIT, ID_PATTERN, Cursor, Limit, Page, page_of
from gateway.schemas.stream_orders import (
    StreamLevelBody,
    StreamOrderOut,
    StreamRevenueOut,
    StreamSubscribeBody,
    StreamSubscriptionOut,
    TipBody,
)

router = GatewayRouter(prefix="/api/v1")
STREAM_ORDERS: list[str | Enum] = ["stream_orders"]
STREAM_SUBSCRIPTIONS: list[str | Enum] = ["stream_subscriptions"]

Id = Annotated[str, Path(pattern=ID_PATTERN)]


async def _tip(
    api: Backends, caller: Caller, target: str, body: TipBody, idempotency_key: str | None
) -> Response:
    made = await api.payments.CreateStreamOrder(
        pb.CreateStreamOrderRequest(
            kind=events_pb2.STREAM_ORDER_KIND_TIP,
            target=target,
            amount=body.amount.to_proto(),
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(StreamOrderOut.from_proto(made), 201)


@router.post(
    "/streams/{stream_id}/tips",
    operation_id="stream_orders.tip_stream",
    tags=STREAM_ORDERS,
    status_code=201,
    response_model=StreamOrderOut,
    responses=responses(400, 404, 409),
)
async def tip_stream(
    stream_id: Id,
    body: TipBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Tips the stream's creator: your credits pay first, the rest is a payment intent to
    confirm with its client_secret (status paid at once when credits covered it). The
    creator earns it less the platform's commission once it is paid. 400 naming
    amount.amount_minor outside the bounds (1.00 to 500.00 by default) or amount.currency
    not the stream's; 404 for a stream that does not exist; 409 OWN_STREAM for your own. A
    retry with the same Idempotency-Key answers the same tip."""
    return await _tip(api, caller, f"streams/{stream_id}", body, idempotency_key)


@router.post(
    "/streams/{stream_id}/posts/{post_id}/tips",
    operation_id="stream_orders.tip_post",
    tags=STREAM_ORDERS,
    status_code=201,
    response_model=StreamOrderOut,
    responses=responses(400, 404, 409),
)
async def tip_post(
    stream_id: Id,
    post_id: Id,
    body: TipBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Tips the creator on one of their published posts (it counts in the post's tips), as
    a tip to the stream is paid; 404 for a draft or a post that does not exist."""
    return await _tip(api, caller, f"streams/{stream_id}/posts/{post_id}", body, idempotency_key)


@router.post(
    "/streams/{stream_id}/posts/{post_id}/unlock",
    operation_id="stream_orders.unlock_post",
    tags=STREAM_ORDERS,
    status_code=201,
    response_model=StreamOrderOut,
    responses=responses(404, 409),
)
async def unlock_post(
    stream_id: Id,
    post_id: Id,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Buys a post at its one-off price (the stream's, never yours): once paid it reads
    whole for you whatever your tier. Paid as a tip is; one order per buyer and post (asking
    again answers it). 404 for a draft or a post that does not exist; 409 NOT_FOR_SALE for
    a post without an unlock price, OWN_STREAM for your own."""
    made = await api.payments.CreateStreamOrder(
        pb.CreateStreamOrderRequest(
            kind=events_pb2.STREAM_ORDER_KIND_UNLOCK,
            target=f"streams/{stream_id}/posts/{post_id}",
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(StreamOrderOut.from_proto(made), 201)


@router.post(
    "/streams/{stream_id}/subscriptions",
    operation_id="stream_subscriptions.create",
    tags=STREAM_SUBSCRIPTIONS,
    status_code=201,
    response_model=StreamSubscriptionOut,
    responses=responses(400, 404, 409),
)
async def subscribe_to_stream(
    stream_id: Id,
    body: StreamSubscribeBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Subscribes you to one of the stream's paid tiers at its monthly price (the stream's,
    never yours; kept while your subscription lives), the first month charged to the payment
    method at once: the tier's posts are yours when it is paid. 404 for a tier the stream
    does not sell (the free tier included); 409 SUBSCRIPTION_EXISTS when you subscribe to the
    stream already (change its level instead), PAYMENT_DECLINED when the first payment is
    refused (nothing charged or granted; try another card), OWN_STREAM for your own. A retry
    with the same Idempotency-Key answers the same subscription."""
    made = await api.payments.CreateStreamSubscription(
        pb.CreateStreamSubscriptionRequest(
            tier=f"streams/{stream_id}/tiers/{body.level}",
            payment_method=body.payment_method,
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(StreamSubscriptionOut.from_proto(made), 201)


@router.get(
    "/me/stream-subscriptions",
    operation_id="stream_subscriptions.list",
    tags=STREAM_SUBSCRIPTIONS,
    response_model=Page[StreamSubscriptionOut],
    responses=responses(400),
)
async def list_stream_subscriptions(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your subscriptions to streams' paid tiers, live or ended, newest first."""
    found = await api.payments.ListStreamSubscriptions(
        pb.ListStreamSubscriptionsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [StreamSubscriptionOut.from_proto(s) for s in found.stream_subscriptions],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/stream-subscriptions/{subscription_id}",
    operation_id="stream_subscriptions.get",
    tags=STREAM_SUBSCRIPTIONS,
    response_model=StreamSubscriptionOut,
    responses=responses(404),
)
async def get_stream_subscription(
    subscription_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """One of your stream subscriptions; 404 for anyone else's."""
    found = await api.payments.GetStreamSubscription(
        pb.GetStreamSubscriptionRequest(name=f"streamSubscriptions/{subscription_id}"),
        metadata=caller.metadata(),
    )
    return json_response(StreamSubscriptionOut.from_proto(found))


@router.patch(
    "/stream-subscriptions/{subscription_id}",
    operation_id="stream_subscriptions.change_level",
    tags=STREAM_SUBSCRIPTIONS,
    response_model=StreamSubscriptionOut,
    responses=responses(400, 404, 409),
)
async def change_stream_level(
    subscription_id: Id,
    body: StreamLevelBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Moves your subscription to another paid tier of its stream: up at once (the rest of
    the period charged now), down from the next period (the paid level kept); the level you
    hold undoes a downgrade asked for. 404 for anyone else's subscription or a tier the
    stream does not sell; 409 SUBSCRIPTION_ENDING once cancelled or ended,
    SUBSCRIPTION_PAST_DUE while a renewal is unpaid, PAYMENT_DECLINED when an upgrade's charge
    is refused."""
    changed = await api.payments.UpdateStreamSubscription(
        pb.UpdateStreamSubscriptionRequest(
            name=f"streamSubscriptions/{subscription_id}", level=body.level
        ),
        metadata=caller.metadata(),
    )
    return json_response(StreamSubscriptionOut.from_proto(changed))


@router.post(
    "/stream-subscriptions/{subscription_id}/cancel",
    operation_id="stream_subscriptions.cancel",
    tags=STREAM_SUBSCRIPTIONS,
    response_model=StreamSubscriptionOut,
    responses=responses(404, 409),
)
async def cancel_stream_subscription(
    subscription_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Cancels your subscription at the end of its paid period: you keep its level until
    then, then the free tier. Asking again changes nothing. 404 for anyone else's; 409
    SUBSCRIPTION_ENDING once it has ended."""
    cancelled = await api.payments.CancelStreamSubscription(
        pb.CancelStreamSubscriptionRequest(name=f"streamSubscriptions/{subscription_id}"),
        metadata=caller.metadata(),
    )
    return json_response(StreamSubscriptionOut.from_proto(cancelled))


@router.get(
    "/streams/{stream_id}/revenue",
    operation_id="stream_orders.revenue",
    tags=STREAM_ORDERS,
    response_model=StreamRevenueOut,
    responses=responses(403, 404),
)
async def stream_revenue(
    stream_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """What your stream's readers paid you, tips and unlocks, as payments reported them
    paid: in all, per month and per post, each per currency, gross and your share less the
    commission. 403 NOT_STREAM_OWNER for anyone but the stream's owner."""
    revenue = await api.streams.GetStreamRevenue(
        streams_pb.GetStreamRevenueRequest(name=f"streams/{stream_id}/revenue"),
        metadata=caller.metadata(),
    )
    return json_response(StreamRevenueOut.from_proto(revenue))
