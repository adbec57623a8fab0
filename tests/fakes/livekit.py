"""A small fake of LiveKit's server for what streams uses: its RoomService over Twirp, and
the signed webhooks it sends when participants join and leave.

It speaks LiveKit's wire format as livekit-api sends and reads it: POST
/twirp/livekit.RoomService/<Method> with a protobuf body (livekit-protocol's messages), an
HS256 bearer token signed with the API secret whose video grants must allow the call
(roomCreate for CreateRoom and DeleteRoom, roomAdmin on the very room for RemoveParticipant),
and errors as Twirp JSON ({"code", "msg"}) with Twirp's HTTP statuses.
Its webhooks are a JSON body (the WebhookEvent's proto3 JSON) with an Authorization header: a
JWT signed with the API secret whose sha256 claim is the body's base64 digest. It runs on the
test's own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from aiohttp import web
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import DecodeError, Message
from livekit.api import AccessToken, TokenVerifier
from livekit.protocol.models import ParticipantInfo, Room
from livekit.protocol.room import (
    CreateRoomRequest,
    DeleteRoomRequest,
    DeleteRoomResponse,
    RemoveParticipantResponse,
    RoomParticipantIdentity,
)
from livekit.protocol.webhook import WebhookEvent

API_KEY = "APIfakeLiveKitKey"
API_SECRET = "a-fake-livekit-secret-of-forty-characters!"
WEBHOOK_TTL = timedelta(minutes=5)
# Twirp's error codes and the HTTP statuses it answers them with.
STATUS = {
    "malformed": 400,
    "invalid_argument": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "bad_route": 404,
}

Delivery = Callable[[bytes, str], Awaitable[Any]]


class TwirpFailure(Exception):
    """An answer in Twirp's error format."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def signed_webhook(event: WebhookEvent, secret: str = API_SECRET) -> tuple[bytes, str]:
    """A webhook as LiveKit sends it: its JSON body and its Authorization header."""
    body = MessageToJson(event).encode()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = AccessToken(API_KEY, secret).with_sha256(digest).with_ttl(WEBHOOK_TTL).to_jwt()
    return body, token


@dataclass
class FakeLiveKit:
    """LiveKit's RoomService and webhooks; what it was asked, for the test to read."""

    api_key: str = API_KEY
    api_secret: str = API_SECRET
    deliver: Delivery | None = None
    rooms: dict[str, Room] = field(default_factory=dict)
    participants: dict[str, dict[str, ParticipantInfo]] = field(default_factory=dict)
    calls: list[tuple[str, Message]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _webhooks: int = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/twirp/livekit.RoomService/{method}", self._room_service)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self) -> dict[str, str]:
        """Streams' settings for rooms on this fake (once it listens)."""
        return {
            "livekit_url": self.url,
            "livekit_api_key": self.api_key,
            "livekit_api_secret": self.api_secret,
        }

    def called(self, method: str) -> list[Any]:
        """The requests of one method, in order."""
        return [request for name, request in self.calls if name == method]

    async def join(self, room: str, identity: str) -> Any:
        """A participant joins (as a client SDK would with a token): the participant_joined
        webhook goes out; what the delivery answered."""
        if room not in self.rooms:
            # LiveKit makes a room on the first join; the webhook says so all the same.
            self.rooms[room] = Room(name=room, sid=f"RM_{room}")
        joined = int(time.time())
        info = ParticipantInfo(
            sid=f"PA_{identity}", identity=identity, joined_at=joined, joined_at_ms=joined * 1000
        )
        self.participants.setdefault(room, {})[identity] = info
        return await self._send("participant_joined", room, info)

    async def leave(self, room: str, identity: str) -> Any:
        """A participant leaves: the participant_left webhook goes out."""
        info = self.participants.get(room, {}).pop(identity, None)
        return await self._send(
            "participant_left", room, info or ParticipantInfo(identity=identity)
        )

    def webhook(self, kind: str, room: str, identity: str) -> WebhookEvent:
        """A webhook event of this server (a new id each), unsent."""
        self._webhooks += 1
        return WebhookEvent(
            event=kind,
            id=f"EV_fake{self._webhooks:06d}",
            created_at=int(time.time()),
            room=self.rooms.get(room, Room(name=room)),
            participant=ParticipantInfo(identity=identity),
        )

    async def _send(self, kind: str, room: str, info: ParticipantInfo) -> Any:
        event = self.webhook(kind, room, info.identity)
        event.participant.CopyFrom(info)
        body, token = signed_webhook(event, self.api_secret)
        assert self.deliver is not None, "the fake has nowhere to send webhooks"
        return await self.deliver(body, token)

    async def _room_service(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            grants = self._grants(request.headers.get("Authorization", ""))
            handler = self._handlers().get(method)
            if handler is None:
                raise TwirpFailure("bad_route", f"no method {method}")
            kind, answer = handler
            try:
                message = kind.FromString(await request.read())
            except DecodeError as error:
                raise TwirpFailure("malformed", f"not a {kind.__name__}: {error}") from None
            self.calls.append((method, message))
            reply = answer(grants, message)
        except TwirpFailure as failure:
            return web.json_response(
                {"code": failure.code, "msg": failure.msg}, status=STATUS[failure.code]
            )
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    def _grants(self, authorization: str) -> dict[str, Any]:
        token = authorization.removeprefix("Bearer ").strip()
        if not token:
            raise TwirpFailure("unauthenticated", "no authorization token")
        try:
            TokenVerifier(self.api_key, self.api_secret).verify(token)
        except (jwt.PyJWTError, ValueError) as error:
            raise TwirpFailure("unauthenticated", f"invalid token: {error}") from None
        claims = jwt.decode(token, options={"verify_signature": False})
        return dict(claims.get("video") or {})

    def _handlers(self) -> dict[str, tuple[type[Message], Callable[[dict, Any], Message]]]:
        return {
            "CreateRoom": (CreateRoomRequest, self._create_room),
            "DeleteRoom": (DeleteRoomRequest, self._delete_room),
            "RemoveParticipant": (RoomParticipantIdentity, self._remove_participant),
        }

    @staticmethod
    def _require(grants: dict[str, Any], grant: str, room: str | None = None) -> None:
        if not grants.get(grant) or (room is not None and grants.get("room") != room):
            raise TwirpFailure("permission_denied", f"the token lacks the {grant} grant")

    def _create_room(self, grants: dict[str, Any], request: CreateRoomRequest) -> Room:
        self._require(grants, "roomCreate")
        if not request.name:
            raise TwirpFailure("invalid_argument", "a room needs a name")
        # As LiveKit: creating a room that exists answers it unchanged.
        return self.rooms.setdefault(
            request.name,
            Room(
                name=request.name,
                sid=f"RM_{request.name}",
                empty_timeout=request.empty_timeout,
                creation_time=int(time.time()),
            ),
        )

    def _delete_room(self, grants: dict[str, Any], request: DeleteRoomRequest) -> Message:
        self._require(grants, "roomCreate")
        if self.rooms.pop(request.room, None) is None:
            raise TwirpFailure("not_found", "room not found")
        self.participants.pop(request.room, None)
        return DeleteRoomResponse()

    def _remove_participant(
        self, grants: dict[str, Any], request: RoomParticipantIdentity
    ) -> Message:
        self._require(grants, "roomAdmin", request.room)
        if self.participants.get(request.room, {}).pop(request.identity, None) is None:
            raise TwirpFailure("not_found", "participant not found")
        return RemoveParticipantResponse()


class LiveKitInThread:
    """The fake on an event loop of its own thread: for a stack of processes that outlives
    any one test's event loop (the production shape's, shared by a session's tests)."""

    def __init__(self) -> None:
        self.fake = FakeLiveKit()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> FakeLiveKit:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(timeout=30)
        return self.fake

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def settings(self) -> dict[str, str]:
        return self.fake.settings()
