"""Streams' repositories: every query its handlers make. The unit of work holds one of each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import insert_ignoring_conflicts
from chassis.money import Money
from services.streams.domain.streams import Follow, Post, PostState, Stream, Tier
from services.streams.tables import follows, posts, streams, tiers

MICROS = 1_000_000


def feed_key(post: Post) -> list[Any]:
    """A feed post's sort key, as its cursor carries it: publish time (µs) and id."""
    assert post.published_at is not None
    return [round(post.published_at.timestamp() * MICROS), post.id]


def _tier(row: Any) -> Tier:
    return Tier(row.stream_id, row.level, row.display_name, Money(row.price_minor, row.currency))


def _post(row: Any) -> Post:
    return Post(
        row.id,
        row.stream_id,
        row.title,
        row.body,
        row.level,
        PostState(row.state),
        row.created_at,
        row.published_at,
    )


class Streams:
    """Streams and their tiers."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, stream: Stream) -> None:
        await self._c.execute(
            streams.insert().values(
                id=stream.id,
                owner_user_id=stream.owner_user_id,
                title=stream.title,
                description=stream.description,
                created_at=stream.created_at,
                updated_at=stream.updated_at,
            )
        )
        for tier in stream.tiers:
            await self.add_tier(tier)

    async def get(self, stream_id: str) -> Stream | None:
        row = (await self._c.execute(sa.select(streams).where(streams.c.id == stream_id))).first()
        if row is None:
            return None
        found = (
            await self._c.execute(
                sa.select(tiers).where(tiers.c.stream_id == stream_id).order_by(tiers.c.level)
            )
        ).all()
        return Stream(
            row.id,
            row.owner_user_id,
            row.title,
            row.description,
            row.created_at,
            row.updated_at,
            tuple(_tier(t) for t in found),
        )

    async def update(self, stream: Stream) -> None:
        await self._c.execute(
            streams.update()
            .where(streams.c.id == stream.id)
            .values(
                title=stream.title, description=stream.description, updated_at=stream.updated_at
            )
        )

    async def add_tier(self, tier: Tier) -> None:
        await self._c.execute(
            tiers.insert().values(
                stream_id=tier.stream_id,
                level=tier.level,
                display_name=tier.display_name,
                price_minor=tier.price.amount_minor,
                currency=tier.price.currency,
            )
        )

    async def update_tier(self, tier: Tier) -> None:
        await self._c.execute(
            tiers.update()
            .where(tiers.c.stream_id == tier.stream_id, tiers.c.level == tier.level)
            .values(
                display_name=tier.display_name,
                price_minor=tier.price.amount_minor,
                currency=tier.price.currency,
            )
        )


class Posts:
    """Posts, drafts and published."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, post: Post) -> None:
        await self._c.execute(
            posts.insert().values(
                id=post.id,
                stream_id=post.stream_id,
                title=post.title,
                body=post.body,
                level=post.level,
                state=post.state.value,
                created_at=post.created_at,
                published_at=post.published_at,
            )
        )

    async def get(self, stream_id: str, post_id: str) -> Post | None:
        row = (
            await self._c.execute(
                sa.select(posts).where(posts.c.id == post_id, posts.c.stream_id == stream_id)
            )
        ).first()
        return None if row is None else _post(row)

    async def update(self, post: Post) -> None:
        await self._c.execute(
            posts.update()
            .where(posts.c.id == post.id)
            .values(title=post.title, body=post.body, level=post.level)
        )

    async def publish(self, post: Post) -> bool:
        """Marks a draft published; False if it was not a draft any more (another call won)."""
        result = await self._c.execute(
            posts.update()
            .where(posts.c.id == post.id, posts.c.state == PostState.DRAFT.value)
            .values(state=PostState.PUBLISHED.value, published_at=post.published_at)
        )
        return result.rowcount == 1

    async def page(
        self, stream_id: str, *, drafts: bool, before: str | None, fetch: int
    ) -> tuple[list[Post], int]:
        """A stream's posts newest first (id order), with drafts or without; and how many."""
        conditions = [posts.c.stream_id == stream_id]
        if not drafts:
            conditions.append(posts.c.state == PostState.PUBLISHED.value)
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(posts).where(*conditions))
        ).scalar_one()
        if before is not None:
            conditions.append(posts.c.id < before)
        rows = await self._c.execute(
            sa.select(posts).where(*conditions).order_by(posts.c.id.desc()).limit(fetch)
        )
        return [_post(r) for r in rows], total

    async def feed(
        self, user_id: str, *, after: tuple[datetime, str] | None, fetch: int
    ) -> tuple[list[tuple[Post, int]], int]:
        """The published posts of the streams a user follows, newest first, each with the
        level the user reads that stream at; and how many there are."""
        joined = posts.join(
            follows, sa.and_(follows.c.stream_id == posts.c.stream_id, follows.c.user_id == user_id)
        )
        conditions = [posts.c.state == PostState.PUBLISHED.value]
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(joined).where(*conditions))
        ).scalar_one()
        if after is not None:
            published, last_id = after
            conditions.append(
                sa.or_(
                    posts.c.published_at < published,
                    sa.and_(posts.c.published_at == published, posts.c.id < last_id),
                )
            )
        rows = await self._c.execute(
            sa.select(posts, follows.c.level.label("reader_level"))
            .select_from(joined)
            .where(*conditions)
            .order_by(posts.c.published_at.desc(), posts.c.id.desc())
            .limit(fetch)
        )
        return [(_post(r), r.reader_level) for r in rows], total


class Follows:
    """Who follows which stream, at which level."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self._c = connection
        self._dialect = dialect

    async def add(self, follow: Follow) -> None:
        """Records a follow unless the user already follows the stream (their level stays)."""
        await self._c.execute(
            insert_ignoring_conflicts(self._dialect, follows, ["stream_id", "user_id"]).values(
                stream_id=follow.stream_id,
                user_id=follow.user_id,
                level=follow.level,
                created_at=follow.created_at,
            )
        )

    async def get(self, stream_id: str, user_id: str) -> Follow | None:
        row = (
            await self._c.execute(
                sa.select(follows).where(
                    follows.c.stream_id == stream_id, follows.c.user_id == user_id
                )
            )
        ).first()
        return (
            None if row is None else Follow(row.stream_id, row.user_id, row.level, row.created_at)
        )

    async def remove(self, stream_id: str, user_id: str) -> None:
        await self._c.execute(
            follows.delete().where(follows.c.stream_id == stream_id, follows.c.user_id == user_id)
        )

    async def forget(self, user_id: str) -> None:
        """Removes every follow of an erased user."""
        await self._c.execute(follows.delete().where(follows.c.user_id == user_id))
