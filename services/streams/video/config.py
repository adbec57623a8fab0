"""Which video rooms run, from configuration: LiveKit when its URL, API key and secret are
all set; none of them, the embedded rooms with tokens signed locally. Anything in between is
refused at start, naming the setting."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from services.streams.video.livekit import LiveKitRooms
from services.streams.video.local import LocalRooms
from services.streams.video.port import RoomKeys, RoomService

URL_SETTING = "ESTUARY_LIVEKIT_URL"
KEY_SETTING = "ESTUARY_LIVEKIT_API_KEY"
SECRET_SETTING = "ESTUARY_LIVEKIT_API_SECRET"
# LiveKit's server refuses secrets shorter than this.
MIN_SECRET = 32
EMBEDDED_KEY = "estuary-embedded"


class RoomsMisconfigured(ValueError):
    """The LiveKit settings do not make a room service; the message names the setting."""


def room_service(
    *, url: str, api_key: str, api_secret: str, empty_timeout_seconds: int
) -> tuple[RoomService, RoomKeys, str]:
    """The room service, the keys that sign its tokens and the URL clients join at."""
    given = {
        URL_SETTING: url.strip(),
        KEY_SETTING: api_key.strip(),
        SECRET_SETTING: api_secret.strip(),
    }
    missing = [name for name, value in given.items() if not value]
    if not any(given.values()):
        # A secret of this process alone: nothing outside it can sign as LiveKit.
        return LocalRooms(), RoomKeys(EMBEDDED_KEY, secrets.token_urlsafe(32)), ""
    if missing:
        raise RoomsMisconfigured(
            f"{', '.join(missing)} must be set as well: LiveKit needs its URL, API key and "
            "secret (or unset all three for the embedded rooms)"
        )
    address = urlsplit(given[URL_SETTING])
    if address.scheme not in ("http", "https", "ws", "wss") or not address.netloc:
        raise RoomsMisconfigured(
            f"{URL_SETTING} must be LiveKit's address, such as wss://video.example.com"
        )
    if len(given[SECRET_SETTING]) < MIN_SECRET:
        raise RoomsMisconfigured(f"{SECRET_SETTING} must be at least {MIN_SECRET} characters")
    keys = RoomKeys(given[KEY_SETTING], given[SECRET_SETTING])
    rooms = LiveKitRooms(given[URL_SETTING], keys, empty_timeout_seconds=empty_timeout_seconds)
    return rooms, keys, given[URL_SETTING]
