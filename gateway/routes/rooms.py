"""Video rooms at the edge: a stream's live (/api/v1/streams/{id}/live), join tokens for it
and for a virtual booking's session room (/api/v1/bookings/{id}/room/token), and LiveKit's
webhooks (/api/v1/webhooks/livekit). Who may enter which room is the streams service's to
decide."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from starlette.responses import Response

from estuary.streams.v1 import rooms_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, anonymous, backends, json_response
from gateway.schemas.common import ID_PATTERN
from gateway.schemas.payments import WebhookReceived
from gateway.schemas.rooms import LiveBody, LiveOut, RoomTokenOut

router = GatewayRouter(prefix="/api/v1")
LIVE: list[str | Enum] = ["live"]
SESSION_ROOMS: list[str | Enum] = ["session_rooms"]
WEBHOOKS: list[str | Enum] = ["webhooks"]

Id = Annotated[str, Path(pattern=ID_PATTERN)]


def _live(stream_id: str) -> str:
    return f"streams/{stream_id}/live"


@router.post(
    "/streams/{stream_id}/live",
    operation_id="live.start",
    tags=LIVE,
    status_code=201,
    response_model=LiveOut,
    responses=responses(400, 403, 404, 409, 503),
)
async def start_live(
    stream_id: Id,
    body: LiveBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Goes live on your stream for followers at `level` and above: its LiveKit room is
    made. 403 NOT_STREAM_OWNER for another's stream; 409 LIVE_IN_PROGRESS while one runs;
    503 when LiveKit does not answer (nothing is recorded: retry)."""
    live = await api.rooms.StartLive(
        pb.StartLiveRequest(parent=f"streams/{stream_id}", level=body.level),
        metadata=caller.metadata(),
    )
    return json_response(LiveOut.from_proto(stream_id, live), 201)


@router.delete(
    "/streams/{stream_id}/live",
    operation_id="live.end",
    tags=LIVE,
    status_code=204,
    responses=responses(400, 403, 404, 503),
)
async def end_live(
    stream_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Ends your stream's live: its room closes and everyone in it leaves. 404
    LIVE_NOT_FOUND when it is not live."""
    await api.rooms.EndLive(pb.EndLiveRequest(name=_live(stream_id)), metadata=caller.metadata())
    return Response(status_code=204)


@router.post(
    "/streams/{stream_id}/live/token",
    operation_id="live.create_token",
    tags=LIVE,
    response_model=RoomTokenOut,
    responses=responses(400, 403, 404),
)
async def create_live_token(
    stream_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """A token to join the stream's live: its owner publishes, a follower at or above the
    live's level watches (cannot publish). 403 NOT_A_FOLLOWER or TIER_TOO_LOW; 404
    LIVE_NOT_FOUND when the stream is not live."""
    token = await api.rooms.CreateLiveToken(
        pb.CreateLiveTokenRequest(name=_live(stream_id)), metadata=caller.metadata()
    )
    return json_response(RoomTokenOut.from_proto(token))


@router.post(
    "/bookings/{booking_id}/room/token",
    operation_id="session_rooms.create_token",
    tags=SESSION_ROOMS,
    response_model=RoomTokenOut,
    responses=responses(400, 403, 404, 409),
)
async def create_session_token(
    booking_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """A token to join a confirmed virtual booking's session room, for its practitioner or
    client, from shortly before a meeting starts until it ends. 403 NOT_A_PARTICIPANT; 404
    ROOM_NOT_FOUND (not a confirmed virtual booking, or cancelled); 409 ROOM_NOT_OPEN_YET or
    SESSION_ENDED."""
    token = await api.rooms.CreateSessionToken(
        pb.CreateSessionTokenRequest(booking=f"bookings/{booking_id}"),
        metadata=caller.metadata(),
    )
    return json_response(RoomTokenOut.from_proto(token))


@router.post(
    "/webhooks/livekit",
    operation_id="webhooks.livekit",
    tags=WEBHOOKS,
    response_model=WebhookReceived,
    responses=responses(400, 401),
)
async def livekit_webhook(
    request: Request,
    authorization: Annotated[str | None, Header(max_length=4000)] = None,
    api: Backends = Depends(backends),
) -> Response:
    """LiveKit's webhooks (the raw body, signed in Authorization with the API secret over its
    sha256): verified by streams and applied once each. 401 WEBHOOK_BAD_SIGNATURE,
    WEBHOOK_UNSIGNED or WEBHOOK_EXPIRED, 400 WEBHOOK_MALFORMED, and nothing applied."""
    received = await api.rooms.ReceiveLiveKitWebhook(
        pb.ReceiveLiveKitWebhookRequest(
            payload=await request.body(), authorization=authorization or ""
        ),
        metadata=anonymous(),
    )
    return json_response(
        WebhookReceived.model_construct(event_id=received.event_id, applied=received.applied)
    )
