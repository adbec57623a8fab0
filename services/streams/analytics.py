"""Creator analytics: a stream's owner (or staff) reads its followers per tier level on each
day of a window and what readers did with its recent posts. Anyone else is refused as for any
owner-only change of a stream (PERMISSION_DENIED NOT_STREAM_OWNER)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chassis.auth.principal import Principal
from chassis.clock import Clock
from chassis.errors import InvalidArgument, PermissionDenied
from chassis.ids import is_uuid
from services.streams.desk import stream_of
from services.streams.domain.analytics import (
    MAX_POSTS,
    StreamAnalytics,
    day_end,
    day_start,
    followers_by_day,
    window,
    window_days,
)
from services.streams.uow import StreamsUnitOfWork


def analytics_name_in(field: str, name: str) -> str:
    """The stream id of "streams/{id}/analytics"."""
    parts = name.split("/")
    if len(parts) != 3 or (parts[0], parts[2]) != ("streams", "analytics") or not is_uuid(parts[1]):
        raise InvalidArgument.field(field, "must be streams/{id}/analytics", "invalid")
    return parts[1]


@dataclass
class AnalyticsDesk:
    """What a stream's owner learns of its readers."""

    unit_of_work: Callable[..., StreamsUnitOfWork]
    clock: Clock

    async def analytics(self, caller: Principal, name: str, days: int) -> StreamAnalytics:
        """Followers per level at the end of each of the last `days` UTC days (today last),
        and the engagement of the posts published in them (newest first, at most 100)."""
        stream_id = analytics_name_in("name", name)
        days = window_days(days)
        first, last = window(self.clock.now(), days)
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
            if not (stream.owned_by(caller.user_id) or caller.is_staff):
                raise PermissionDenied(
                    "only the stream's owner reads its analytics", reason="NOT_STREAM_OWNER"
                )
            changes = await uow.analytics.follow_changes(stream_id, day_end(last))
            engagement = await uow.analytics.engagement(stream_id, day_start(first), MAX_POSTS)
        levels = [t.level for t in stream.tiers]
        return StreamAnalytics(
            stream_id, tuple(followers_by_day(changes, levels, first, last)), tuple(engagement)
        )
