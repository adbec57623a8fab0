"""What streams needs of a video server: rooms made and closed, a participant removed, join
tokens signed and webhooks verified with the API key and secret. LiveKit runs it in the
production shape (livekit.py); the embedded mode keeps rooms in process (local.py)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import jwt
from google.protobuf.json_format import ParseError
from livekit.api import AccessToken, TokenVerifier, VideoGrants, WebhookReceiver
from livekit.protocol.webhook import WebhookEvent

from services.streams.domain.rooms import Admission


class RoomServiceError(Exception):
    """The video server did not do what was asked (unreachable, or it refused)."""


class RoomService(Protocol):
    """LiveKit's RoomService, as far as streams uses it."""

    async def create_room(self, room: str) -> None:
        """Makes the room (a room that exists already stays as it is)."""

    async def delete_room(self, room: str) -> None:
        """Closes the room, sending everyone in it away (a room already gone is fine)."""

    async def remove_participant(self, room: str, identity: str) -> None:
        """Sends one participant away (one no longer there is fine)."""

    async def close(self) -> None:
        """Lets go of connections."""


class WebhookRejected(Exception):
    """A webhook not signed with our secret over its body, expired, or not a webhook."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RoomKeys:
    """The API key and secret: they sign join tokens and verify LiveKit's webhooks."""

    api_key: str
    api_secret: str = field(repr=False)

    def token(self, admission: Admission, ttl: timedelta) -> tuple[str, datetime]:
        """A join token for one room only, and when it expires. Publishing is off unless the
        role publishes (VideoGrants allows it by default)."""
        grants = VideoGrants(
            room_join=True,
            room=admission.room,
            can_publish=admission.can_publish,
            can_publish_data=admission.can_publish,
            can_subscribe=True,
        )
        token = (
            AccessToken(self.api_key, self.api_secret)
            .with_identity(admission.user_id)
            .with_grants(grants)
            .with_ttl(ttl)
            .to_jwt()
        )
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        return token, datetime.fromtimestamp(expires, UTC)

    def webhook(self, body: bytes, authorization: str) -> WebhookEvent:
        """The webhook, if it was signed with our key and secret over this very body."""
        auth = authorization.removeprefix("Bearer ").strip()
        if not auth:
            raise WebhookRejected("unsigned", "no Authorization header")
        try:
            text = body.decode()
        except UnicodeDecodeError:
            raise WebhookRejected("malformed", "the body is not UTF-8") from None
        receiver = WebhookReceiver(TokenVerifier(self.api_key, self.api_secret))
        try:
            return receiver.receive(text, auth)
        except jwt.ExpiredSignatureError:
            raise WebhookRejected("expired", "the webhook's signature has expired") from None
        except jwt.PyJWTError as error:
            raise WebhookRejected("bad_signature", f"bad signature: {error}") from None
        except ParseError as error:
            raise WebhookRejected("malformed", f"not a LiveKit webhook: {error}") from None
        except Exception as error:  # WebhookReceiver raises a bare Exception on a bad hash
            raise WebhookRejected("bad_signature", f"bad signature: {error}") from None


def body_hash(body: bytes) -> str:
    """The sha256 claim a webhook's signature carries: the body's digest in base64."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()
