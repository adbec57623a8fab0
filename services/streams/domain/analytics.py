"""A stream owner's analytics: followers per tier level on each day of a window (from every
change of who follows at which level), and what readers did with each post. Days are UTC
days; a follower counts on a day at the level they held at its end. Revenue (subscriptions,
tips, unlocks, from payments' events) is a section of its own beside these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from chassis.errors import InvalidArgument

DEFAULT_DAYS = 30
MAX_DAYS = 366
# The posts whose engagement one answer lists, newest published first.
MAX_POSTS = 100


@dataclass(frozen=True)
class FollowChange:
    """Someone began following, moved to another level (level), or stopped (None)."""

    user_id: str
    level: int | None
    at: datetime


@dataclass(frozen=True)
class SubscriberDay:
    """Followers per level at the end of one UTC day, every level of the stream named."""

    day: date
    by_level: tuple[tuple[int, int], ...]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.by_level)


@dataclass(frozen=True)
class PostEngagement:
    """What readers did with one published post."""

    post_id: str
    title: str
    level: int
    published_at: datetime
    likes: int
    saves: int
    comments: int
    poll_votes: int


@dataclass(frozen=True)
class StreamAnalytics:
    stream_id: str
    subscribers: tuple[SubscriberDay, ...]
    posts: tuple[PostEngagement, ...]


def window_days(days: int, field: str = "days") -> int:
    """How many days the window spans: 1 to 366 (0: 30)."""
    if days == 0:
        return DEFAULT_DAYS
    if not 1 <= days <= MAX_DAYS:
        raise InvalidArgument.field(field, f"must be between 1 and {MAX_DAYS}", "out_of_range")
    return days


def window(now: datetime, days: int) -> tuple[date, date]:
    """The first and last UTC day of a window of `days` ending today."""
    last = now.astimezone(UTC).date()
    return last - timedelta(days=days - 1), last


def day_start(day: date) -> datetime:
    """The instant a UTC day begins."""
    return datetime.combine(day, time(), UTC)


def day_end(day: date) -> datetime:
    """The instant a UTC day ends (the next one's start)."""
    return day_start(day + timedelta(days=1))


def followers_by_day(
    changes: Iterable[FollowChange], levels: Sequence[int], first: date, last: date
) -> list[SubscriberDay]:
    """Followers per level at the end of each day from first to last, replaying the changes
    in the order they happened."""
    held: dict[str, int] = {}
    counts = dict.fromkeys(levels, 0)
    pending = iter(changes)
    change = next(pending, None)
    found = []
    day = first
    while day <= last:
        end = day_end(day)
        while change is not None and change.at < end:
            before = held.pop(change.user_id, None)
            if before is not None:
                counts[before] -= 1
            if change.level is not None:
                held[change.user_id] = change.level
                counts[change.level] = counts.get(change.level, 0) + 1
            change = next(pending, None)
        found.append(SubscriberDay(day, tuple(sorted(counts.items()))))
        day += timedelta(days=1)
    return found
