"""Streams' business rules on plain values: a stream, its tiers by level, posts and who
reads what. A reader at level n reads whole every post of level n or below; the others show
their title and level only (a locked teaser)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.money import Money
from chassis.validation import Violations
from services.streams.domain.engagement import Poll
from services.streams.domain.media import PostKind, PostMedium

STREAM_PREFIX = "streams/"
FREE_LEVEL = 0
FREE_TIER_NAME = "Free"
# The free tier's price is nothing; its currency only follows the paid tiers' convention.
FREE_TIER_CURRENCY = "EUR"
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_TIER_NAME = 60
MAX_BODY = 20000
# How far ahead a draft may be scheduled: a creator plans a season, not a decade.
MAX_SCHEDULE_AHEAD = timedelta(days=366)


class PostState(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


@dataclass(frozen=True)
class Tier:
    stream_id: str
    level: int
    display_name: str
    price: Money


@dataclass(frozen=True)
class Stream:
    id: str
    owner_user_id: str
    title: str
    description: str
    created_at: datetime
    updated_at: datetime
    tiers: tuple[Tier, ...] = ()
    # When its creator's account was erased (None: open); a closed stream is gone for readers.
    closed_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def owned_by(self, user_id: str) -> bool:
        return self.owner_user_id == user_id

    def has_level(self, level: int) -> bool:
        return any(t.level == level for t in self.tiers)

    @property
    def next_level(self) -> int:
        return max((t.level for t in self.tiers), default=FREE_LEVEL) + 1


@dataclass(frozen=True)
class Post:
    id: str
    stream_id: str
    title: str
    body: str
    level: int
    state: PostState
    created_at: datetime
    published_at: datetime | None = None
    # A draft's time to go out by itself (None: only when its owner publishes it).
    scheduled_for: datetime | None = None
    locked: bool = False
    poll: Poll | None = None
    # What readers did with it, as one reader reads it (counts and that reader's own marks).
    like_count: int = 0
    comment_count: int = 0
    liked_by_me: bool = False
    saved_by_me: bool = False
    # A one-off price for reading it whole whatever the tier (None: not sold alone), and
    # whether this reader bought it (through payments).
    unlock_price: Money | None = None
    unlocked: bool = False
    kind: PostKind = PostKind.TEXT
    # Its uploads in order (none on a text post, and none on a locked teaser).
    media: tuple[PostMedium, ...] = ()

    def publish(self, now: datetime) -> Post:
        """The post published now; a post already out cannot be published again."""
        if self.state is not PostState.DRAFT:
            raise FailedPrecondition("the post is already published", reason="POST_PUBLISHED")
        return replace(self, state=PostState.PUBLISHED, published_at=now, scheduled_for=None)

    def schedule(self, at: datetime | None, now: datetime, field: str) -> Post:
        """The draft set to go out by itself at `at` (None: not by itself any more)."""
        if self.state is not PostState.DRAFT:
            raise FailedPrecondition("the post is already published", reason="POST_PUBLISHED")
        return replace(self, scheduled_for=schedule_time(at, now, field))

    def due(self, now: datetime) -> bool:
        """Whether a scheduled draft's time has come."""
        return (
            self.state is PostState.DRAFT
            and self.scheduled_for is not None
            and self.scheduled_for <= now
        )

    def as_read_at(self, level: int | None) -> Post:
        """The post as a reader at `level` sees it (None: not a follower): whole when
        entitled to it, else a teaser (title, level, kind and unlock price) without its
        body, poll or media."""
        if self.readable_at(level):
            return self
        return replace(self, body="", poll=None, media=(), locked=True)

    def readable_at(self, level: int | None) -> bool:
        """Whether a reader at `level` (None: not a follower) reads it whole: at or above
        its level, or having unlocked it."""
        return entitled(self.level, level, unlocked=self.unlocked)


def entitled(post_level: int, reader_level: int | None, *, unlocked: bool = False) -> bool:
    """The one rule of who reads a post whole (its text, poll and media): a reader following
    its stream at the post's level or above (its owner reads at every level), or one who
    unlocked that post (a pay-per-post purchase). Everyone else gets a locked teaser."""
    return unlocked or (reader_level is not None and reader_level >= post_level)


@dataclass(frozen=True)
class Follow:
    stream_id: str
    user_id: str
    level: int
    created_at: datetime


@dataclass(frozen=True)
class PostPublished:
    """A draft went out: its followers' feeds show it."""

    post: Post
    owner_user_id: str


@dataclass(frozen=True)
class TierRepriced:
    """A paid tier's monthly price changed: its subscribers pay it from their next renewal."""

    tier: Tier
    at: datetime


def repricing(before: Tier, after: Tier, at: datetime) -> TierRepriced | None:
    """The change of price between two states of a tier; None if its price stayed (a rename,
    or the same price set again)."""
    return None if after.price == before.price else TierRepriced(after, at)


def schedule_time(at: datetime | None, now: datetime, field: str) -> datetime | None:
    """A publishing time: in the future, at most a year and a day ahead (None: none)."""
    if at is None:
        return None
    if at <= now:
        raise InvalidArgument.field(field, "must be in the future", "in_the_past")
    if at > now + MAX_SCHEDULE_AHEAD:
        raise InvalidArgument.field(
            field, f"must be at most {MAX_SCHEDULE_AHEAD.days} days ahead", "too_far_ahead"
        )
    return at


def _title(v: Violations, title: str, field: str) -> str:
    """A title of 1 to 200 characters, trimmed; what is wrong with it goes to v."""
    title = title.strip()
    if not title:
        v.add(field, "must not be empty", "required")
    elif len(title) > MAX_TITLE:
        v.add(field, f"must be at most {MAX_TITLE} characters", "too_long")
    return title


def stream_fields(title: str, description: str, *, prefix: str = "stream") -> tuple[str, str]:
    """A stream's title (1 to 200 characters) and description (up to 2000), trimmed."""
    v = Violations()
    title = _title(v, title, f"{prefix}.title")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        v.add(f"{prefix}.description", f"must be at most {MAX_DESCRIPTION} characters", "too_long")
    v.raise_if_any()
    return title, description


def tier_name(display_name: str, field: str = "tier.display_name") -> str:
    """A tier's own name: 1 to 60 characters, trimmed."""
    name = display_name.strip()
    if not name:
        raise InvalidArgument.field(field, "must not be empty", "required")
    if len(name) > MAX_TIER_NAME:
        raise InvalidArgument.field(
            field, f"must be at most {MAX_TIER_NAME} characters", "too_long"
        )
    return name


def paid_price(price: Money, field: str = "tier.price") -> Money:
    """A paid tier's monthly price: above nothing (level 0 alone is free)."""
    if price.amount_minor <= 0:
        raise InvalidArgument.field(f"{field}.amount_minor", "must be above 0", "out_of_range")
    return price


def post_fields(title: str, body: str, *, prefix: str = "post") -> tuple[str, str]:
    """A post's title (1 to 200 characters, trimmed) and text (1 to 20000)."""
    v = Violations()
    title = _title(v, title, f"{prefix}.title")
    if not body.strip():
        v.add(f"{prefix}.body", "must not be empty", "required")
    elif len(body) > MAX_BODY:
        v.add(f"{prefix}.body", f"must be at most {MAX_BODY} characters", "too_long")
    v.raise_if_any()
    return title, body


def post_unlock_price(price: Money | None, field: str = "post.unlock_price") -> Money | None:
    """A post's one-off price: above nothing (None: not sold alone)."""
    return None if price is None else paid_price(price, field)


def post_level(stream: Stream, level: int, field: str = "post.level") -> int:
    """A level the stream has a tier at."""
    if not stream.has_level(level):
        raise InvalidArgument.field(field, "is not a tier level of this stream", "not_found")
    return level
