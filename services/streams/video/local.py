"""The embedded mode's rooms: kept in process, behind the same port as LiveKit's (no media
server runs here, so nobody can actually join one)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LocalRooms:
    """Rooms and who is in them, in memory."""

    rooms: dict[str, set[str]] = field(default_factory=dict)

    async def create_room(self, room: str) -> None:
        self.rooms.setdefault(room, set())

    async def delete_room(self, room: str) -> None:
        self.rooms.pop(room, None)

    async def remove_participant(self, room: str, identity: str) -> None:
        self.rooms.get(room, set()).discard(identity)

    async def close(self) -> None:
        """Nothing to let go of."""
