"""The live WebSocket, /ws: one per signed-in client, carrying new messages, read receipts,
typing and notifications as they happen.

The gateway keeps no state: each socket is bridged to a server-streaming call to messaging
(LiveService.StreamEvents), which ends the call, and so the socket, when the token expires or
the account is suspended; what the client sends (typing, read) becomes messaging's unary
calls. The access token comes at the handshake, in an Authorization header or, from a
browser (which cannot set headers on a WebSocket), as the subprotocol "bearer.<token>"
beside "estuary.v1": never in the URL, which proxies log. A reconnecting client hands back
the last cursor it saw the same two ways (a Resume-Cursor header, or the subprotocol
"resume.<cursor>") and is first replayed what it missed, then sent caught_up, or resync when
it must list what changed instead (docs/live.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any

import grpc
from starlette.types import Receive, Scope, Send

from chassis.errors import DomainError, Unauthenticated, rpc_failure
from chassis.grpc_client import call_metadata
from chassis.wire import instant
from estuary.messaging.v1 import messaging_pb2 as pb
from estuary.messaging.v1 import messaging_pb2_grpc
from gateway.auth import token_of_header
from gateway.backends import Backends
from gateway.schemas.common import ID_PATTERN
from gateway.schemas.messaging import MessageOut, NotificationOut

logger = logging.getLogger(__name__)

LIVE_PATH = "/ws"
SUBPROTOCOL = "estuary.v1"
TOKEN_SUBPROTOCOL_PREFIX = "bearer."
RESUME_HEADER = b"resume-cursor"
RESUME_SUBPROTOCOL_PREFIX = "resume."
MAX_FRAME_BYTES = 4096
# What one socket may send per second (typing, read, ping); more is answered RATE_LIMITED.
FRAMES_PER_SECOND = 20

# Closing codes: the 4000s are the application's (4000 + the HTTP status they stand for).
CLOSE_CODES = {
    grpc.StatusCode.UNAUTHENTICATED: 4401,
    grpc.StatusCode.PERMISSION_DENIED: 4403,
    grpc.StatusCode.NOT_FOUND: 4404,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 4429,
    grpc.StatusCode.UNAVAILABLE: 1013,
    grpc.StatusCode.DEADLINE_EXCEEDED: 1013,
}
INTERNAL_ERROR, TOO_BIG, NORMAL = 1011, 1009, 1000
CONVERSATION_ID = re.compile(ID_PATTERN)
# What a send raises once the client is gone, or after the socket's close was sent.
_GONE = (OSError, RuntimeError)
Metadata = tuple[tuple[str, str], ...]


def close_code_for(code: grpc.StatusCode) -> int:
    """The socket's closing code for the status its stream ended with."""
    return CLOSE_CODES.get(code, INTERNAL_ERROR)


def offered_token(authorization: str | None, subprotocols: list[str]) -> str | None:
    """The access token of the handshake: its Authorization header, else the subprotocol
    "bearer.<token>"."""
    token = token_of_header(authorization)
    if token:
        return token
    for offered in subprotocols:
        if offered.startswith(TOKEN_SUBPROTOCOL_PREFIX) and len(offered) > 7:
            return offered.removeprefix(TOKEN_SUBPROTOCOL_PREFIX)
    return None


def offered_cursor(resume_cursor: str | None, subprotocols: list[str]) -> str:
    """The cursor the client resumes from: its Resume-Cursor header, else the subprotocol
    "resume.<cursor>"; "" for none (messaging tells it apart from a cursor it issued)."""
    if resume_cursor:
        return resume_cursor.strip()
    for offered in subprotocols:
        if offered.startswith(RESUME_SUBPROTOCOL_PREFIX):
            return offered.removeprefix(RESUME_SUBPROTOCOL_PREFIX)
    return ""


def frame_of(event: pb.LiveEvent) -> dict[str, Any]:
    """A live event as the JSON frame the client reads (with its cursor, when it has one)."""
    frame = _frame_of(event)
    if event.cursor:
        frame["cursor"] = event.cursor
    return frame


def _frame_of(event: pb.LiveEvent) -> dict[str, Any]:
    kind = event.WhichOneof("event")
    if kind == "message":
        return {"type": "message", "message": _json(MessageOut.from_proto(event.message))}
    if kind == "notification":
        notification = NotificationOut.from_proto(event.notification)
        return {"type": "notification", "notification": _json(notification)}
    if kind == "read":
        last = event.read.receipt.last_read_message
        return {
            "type": "read",
            "conversation_id": event.read.conversation.removeprefix("conversations/"),
            "user_id": event.read.receipt.user_id,
            "last_read_message_id": last.rsplit("/", 1)[-1] if last else None,
        }
    if kind == "typing":
        return {
            "type": "typing",
            "conversation_id": event.typing.conversation.removeprefix("conversations/"),
            "user_id": event.typing.user_id,
        }
    if kind == "caught_up":
        return {"type": "caught_up"}
    if kind == "resync":
        reason = pb.ResyncReason.Name(event.resync.reason).removeprefix("RESYNC_REASON_")
        return {"type": "resync", "reason": reason}
    return {"type": "ready", "connected_at": instant(event.ready.connect_time).isoformat()}


def _json(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json")
    return dumped


async def live(scope: Scope, receive: Receive, send: Send) -> None:
    """The signed-in client's live updates (see the module's docstring): a raw ASGI app,
    which gateway.app serves ahead of FastAPI's routing and middleware. A socket's coroutine
    lives as long as the socket; served through them, it kept their dozen frames, a Starlette
    WebSocket and a second task alive for each idle socket, a third of its memory
    (docs/performance.md). It holds the handshake's scope, one gRPC stream and one task that
    forwards it."""
    if (await receive())["type"] != "websocket.connect":
        return
    opened = await _handshake(scope, send)
    if opened is None:
        return
    metadata, resume = opened
    api: Backends = scope["app"].state.backends
    stream = messaging_pb2_grpc.LiveServiceStub(api.stream_channel("messaging")).StreamEvents(
        pb.StreamEventsRequest(resume_cursor=resume), metadata=metadata
    )
    pump = asyncio.create_task(_forward(send, stream))
    try:
        closing = await _client_frames(receive, send, api, metadata, pump)
    finally:
        stream.cancel()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
    if closing is not None:
        await _close(send, *closing)


async def _handshake(scope: Scope, send: Send) -> tuple[Metadata, str] | None:
    """Accepts the socket; the verified caller's metadata for the backends and the cursor
    to resume from, or None when the token is refused (the socket then closes 4401). Its
    own coroutine, so that what only the handshake needs is not kept for the socket's life."""
    subprotocols: list[str] = scope.get("subprotocols") or []
    accepted = {
        "type": "websocket.accept",
        "subprotocol": SUBPROTOCOL if SUBPROTOCOL in subprotocols else None,
    }
    authorization, resume_cursor = _handshake_headers(scope["headers"])
    try:
        token = offered_token(authorization, subprotocols)
        if token is None:
            raise Unauthenticated(
                "the socket needs an access token: an Authorization header, or the "
                f"subprotocol {TOKEN_SUBPROTOCOL_PREFIX}<token>"
            )
        principal = await scope["app"].state.verifier.verify(token)
        if not principal.is_user:
            raise Unauthenticated("the socket is for a signed-in user")
    except DomainError as refused:
        # Accepted only to say why: a refused handshake shows a browser no reason at all.
        await send(accepted)
        await _close(send, 4401, refused.reason)
        return None
    await send(accepted)
    return call_metadata(token), offered_cursor(resume_cursor, subprotocols)


def _handshake_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The handshake's Authorization and Resume-Cursor headers."""
    authorization = resume_cursor = None
    for name, value in headers:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == RESUME_HEADER:
            resume_cursor = value.decode("latin-1")
    return authorization, resume_cursor


async def _forward(send: Send, stream: Any) -> None:
    """Messaging's live events to the socket; when the stream ends, the socket closes with
    the code its status calls for (the client's frames then end in its disconnect)."""
    try:
        while (event := await stream.read()) is not grpc.aio.EOF:
            await send({"type": "websocket.send", "text": json.dumps(frame_of(event))})
    except grpc.aio.AioRpcError as ended:
        failure = rpc_failure(ended)
        await _close(send, close_code_for(failure.code), failure.reason)
    except _GONE:
        return
    except Exception:
        logger.exception("a live socket's stream failed")
        await _close(send, INTERNAL_ERROR, "INTERNAL")
    else:
        await _close(send, NORMAL, "STREAM_ENDED")


async def _client_frames(
    receive: Receive, send: Send, api: Backends, metadata: Metadata, pump: asyncio.Task[None]
) -> tuple[int, str] | None:
    """What the client sends, until it goes away (None) or breaks the rules (a closing)."""
    window, sent = time.monotonic(), 0
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return None
        if pump.done():
            # The socket is closing on the stream's terms; the client's close ends this.
            continue
        text = message.get("text")
        if text is None:
            if len(message.get("bytes") or b"") > MAX_FRAME_BYTES:
                return TOO_BIG, "FRAME_TOO_LARGE"
            await _error(send, "INVALID_FRAME", "frames are text: one JSON object each")
            continue
        if len(text.encode()) > MAX_FRAME_BYTES:
            return TOO_BIG, "FRAME_TOO_LARGE"
        if time.monotonic() - window >= 1.0:
            window, sent = time.monotonic(), 0
        sent += 1
        if sent > FRAMES_PER_SECOND:
            await _error(send, "RATE_LIMITED", f"at most {FRAMES_PER_SECOND} frames a second")
            continue
        await _answer(send, api, metadata, text)


async def _answer(send: Send, api: Backends, metadata: Metadata, text: str) -> None:
    """One client frame: ping, typing or read (an error frame names what was wrong)."""
    try:
        frame = json.loads(text)
    except ValueError:
        await _error(send, "INVALID_FRAME", "a frame is one JSON object")
        return
    kind = frame.get("type") if isinstance(frame, dict) else None
    if kind == "ping":
        await _send(send, {"type": "pong"})
        return
    if kind not in ("typing", "read"):
        await _error(send, "INVALID_FRAME", "type must be ping, typing or read", "type")
        return
    conversation_id = frame.get("conversation_id")
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
        await _error(
            send,
            "INVALID_FRAME",
            "conversation_id must be a conversation's id",
            "conversation_id",
        )
        return
    name = f"conversations/{conversation_id}"
    # Answered by the live updates themselves (the others', and the caller's other devices').
    try:
        if kind == "typing":
            await api.conversations.SendTyping(
                pb.SendTypingRequest(conversation=name), metadata=metadata
            )
        else:
            await api.conversations.MarkConversationRead(
                pb.MarkConversationReadRequest(name=name), metadata=metadata
            )
    except grpc.aio.AioRpcError as refused:
        failure = rpc_failure(refused)
        await _error(send, failure.reason, failure.message)


async def _error(send: Send, code: str, detail: str, field: str | None = None) -> None:
    frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if field:
        frame["field"] = field
    await _send(send, frame)


async def _send(send: Send, frame: dict[str, Any]) -> None:
    with contextlib.suppress(*_GONE):
        await send({"type": "websocket.send", "text": json.dumps(frame)})


async def _close(send: Send, code: int, reason: str) -> None:
    with contextlib.suppress(*_GONE):
        await send({"type": "websocket.close", "code": code, "reason": reason[:120]})
