"""The embedded mode's rooms: kept in process, behind the same port as LiveKit's (no media
server runs here, so nobody can actually join one)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LocalRooms:
    """Rooms and who is in them, in memory; what was removed, for whoever asks."""

    url: str = ""
    rooms: dict[str, set[str]] = field(default_factory=dict)
    removed: list[tuple[str, str]] = field(default_factory=list)

    async def create_room(self, room: str) -> None:
        self.rooms.setdefault(room, set())

    async def delete_room(self, room: str) -> None:
        self.rooms.pop(room, None)

    async def remove_participant(self, room: str, identity: str) -> None:
        self.rooms.get(room, set()).discard(identity)
        self.removed.append((room, identity))

    async def close(self) -> None:
        """Nothing to let go of."""
