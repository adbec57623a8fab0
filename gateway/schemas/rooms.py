"""Bodies of the video room routes: a stream's live, and the join tokens of lives and of
virtual bookings' session rooms."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from chassis.wire import instant
from estuary.streams.v1 import rooms_pb2 as pb
from gateway.schemas.common import INT32_MAX, Int32, StrictBody, examples
from gateway.schemas.streams import STREAM_ID

LIVE = {
    "stream_id": STREAM_ID,
    "room": "live-0b9f0c3e-5a55-4c57-9d3b-7f7b8f3c2a14",
    "level": 1,
    "started_at": "2026-03-10T18:00:00Z",
}


class LiveBody(StrictBody):
    model_config = examples({"level": 1})
    level: Int32 = Field(
        0, ge=0, description="The least tier level that may watch (0: every follower)."
    )


class LiveOut(BaseModel):
    """Your stream is live: its room, who may watch it, since when."""

    model_config = examples(LIVE)
    stream_id: str
    room: str = Field(description="The LiveKit room the live runs in.")
    level: int = Field(ge=0, le=INT32_MAX, description="The least tier level that may watch.")
    started_at: datetime

    @classmethod
    def from_proto(cls, stream_id: str, live: pb.Live) -> LiveOut:
        return cls.model_construct(
            stream_id=stream_id,
            room=live.room,
            level=live.level,
            started_at=instant(live.start_time),
        )


class RoomTokenOut(BaseModel):
    """What a LiveKit client SDK joins a room with: connect to url with token."""

    model_config = examples(
        {
            "room": LIVE["room"],
            "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
            "url": "wss://video.example.com",
            "identity": "5f0c8f64-2f2e-4f8e-8a8e-0c1f1f6f2b7e",
            "can_publish": False,
            "expires_at": "2026-03-10T18:05:00Z",
        }
    )
    room: str
    token: str = Field(description="A signed join token for this room alone.")
    url: str = Field(description="Where LiveKit is; empty in the embedded mode (no video).")
    identity: str = Field(description="Your identity in the room: your user id.")
    can_publish: bool = Field(description="Whether you may send audio and video.")
    expires_at: datetime = Field(
        description="Join before then; once in, you stay until you leave or lose access."
    )

    @classmethod
    def from_proto(cls, token: pb.RoomToken) -> RoomTokenOut:
        return cls.model_construct(
            room=token.room,
            token=token.token,
            url=token.url,
            identity=token.identity,
            can_publish=token.can_publish,
            expires_at=instant(token.expire_time),
        )
