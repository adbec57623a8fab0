"""LiveKit's RoomService through livekit-api (LiveKitAPI over its Twirp protocol)."""

from __future__ import annotations

import aiohttp
from livekit.api import LiveKitAPI, TwirpError
from livekit.protocol.room import CreateRoomRequest, DeleteRoomRequest, RoomParticipantIdentity

from services.streams.video.port import RoomKeys, RoomServiceError

NOT_FOUND = "not_found"


class LiveKitRooms:
    """Rooms on a LiveKit server at `url`."""

    def __init__(self, url: str, keys: RoomKeys, *, empty_timeout_seconds: int) -> None:
        self.url = url
        self._keys = keys
        self._empty_timeout = empty_timeout_seconds
        self._api: LiveKitAPI | None = None

    def _client(self) -> LiveKitAPI:
        # Made at the first call: its HTTP session belongs to the running event loop.
        if self._api is None:
            self._api = LiveKitAPI(
                self.url,
                self._keys.api_key,
                self._keys.api_secret,
                timeout=aiohttp.ClientTimeout(total=10),
                failover=False,
            )
        return self._api

    async def create_room(self, room: str) -> None:
        await self._call(
            self._client().room.create_room(
                CreateRoomRequest(name=room, empty_timeout=self._empty_timeout)
            )
        )

    async def delete_room(self, room: str) -> None:
        await self._call(self._client().room.delete_room(DeleteRoomRequest(room=room)))

    async def remove_participant(self, room: str, identity: str) -> None:
        await self._call(
            self._client().room.remove_participant(
                RoomParticipantIdentity(room=room, identity=identity)
            )
        )

    async def close(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    @staticmethod
    async def _call(call: object) -> None:
        try:
            await call  # type: ignore[misc]
        except TwirpError as error:
            if error.code == NOT_FOUND:
                return  # the room or participant is gone already: what was asked
            raise RoomServiceError(f"LiveKit refused: {error.code}: {error.message}") from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise RoomServiceError(f"LiveKit did not answer: {error!r}") from error
