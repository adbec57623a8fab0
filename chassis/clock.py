"""Time: always aware UTC instants. Services take a Clock so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC instant."""
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when told to, for tests of expiry and schedules."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Moves time forward."""
        self._now += delta
