"""Streams' repositories: every query its handlers make. The unit of work holds one of each."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus
from chassis.db import insert_ignoring_conflicts
from chassis.ids import new_id
from chassis.money import Money
from chassis.tables import account_statuses
from services.streams.domain.analytics import FollowChange, PostEngagement
from services.streams.domain.engagement import Comment, Poll, PollOption
from services.streams.domain.media import MediaUpload, PostKind, PostMedium
from services.streams.domain.rooms import Live, Meeting, RoomRole, SessionRoom
from services.streams.domain.sales import Sale, SaleKind
from services.streams.domain.streams import Follow, Post, PostState, Stream, Tier
from services.streams.domain.subscriptions import StreamSubscription, SubscriptionStatus
from services.streams.tables import (
    comments,
    follow_history,
    follows,
    lives,
    poll_options,
    poll_votes,
    post_likes,
    post_media,
    post_saves,
    posts,
    room_presence,
    session_attendance,
    session_meetings,
    session_rooms,
    stream_sales,
    stream_subscriptions,
    streams,
    tiers,
)

MICROS = 1_000_000


def feed_key(post: Post) -> list[Any]:
    """A feed post's sort key, as its cursor carries it: publish time (µs) and id."""
    assert post.published_at is not None
    return [round(post.published_at.timestamp() * MICROS), post.id]


def saved_key(saved: tuple[Post, int | None, datetime]) -> list[Any]:
    """A saved post's sort key, as its cursor carries it: when it was saved (µs) and its id."""
    return [round(saved[2].timestamp() * MICROS), saved[0].id]


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
        row.scheduled_for,
        kind=PostKind(row.kind),
        unlock_price=None
        if row.unlock_price_minor is None
        else Money(row.unlock_price_minor, row.unlock_currency),
    )


def _unlock_price(post: Post) -> dict[str, Any]:
    price = post.unlock_price
    return {
        "unlock_price_minor": None if price is None else price.amount_minor,
        "unlock_currency": None if price is None else price.currency,
    }


class Streams:
    """Streams and their tiers."""

    def __init__(self, connection: AsyncConnection, *, held: bool) -> None:
        self._c = connection
        # In a write, a stream read stays held (FOR KEY SHARE on PostgreSQL; SQLite has one
        # writer) until commit: closing it waits for that write, then erases what it added,
        # and a write that comes after finds it closed.
        self._held = held

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
        """The stream, closed or open."""
        query = sa.select(streams).where(streams.c.id == stream_id)
        if self._held:
            query = query.with_for_update(read=True, key_share=True)
        row = (await self._c.execute(query)).first()
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
            row.closed_at,
        )

    async def owned_by(self, user_id: str) -> list[str]:
        """The ids of the streams a user owns, closed or open."""
        found = await self._c.execute(
            sa.select(streams.c.id).where(streams.c.owner_user_id == user_id)
        )
        return list(found.scalars())

    async def close_owned_by(self, user_id: str, at: datetime) -> list[str]:
        """Closes an erased creator's open streams, their title, description and tiers'
        names erased; the ids of those it closed (none the second time). Each is locked
        first (FOR UPDATE, which a write's hold on it blocks), so a write in flight on it
        commits before, and what it wrote is there to erase."""
        found = await self._c.execute(
            sa.select(streams.c.id)
            .where(streams.c.owner_user_id == user_id, streams.c.closed_at.is_(None))
            .with_for_update()
        )
        closing = list(found.scalars())
        if closing:
            await self._c.execute(
                streams.update()
                .where(streams.c.id.in_(closing))
                .values(title="", description="", closed_at=at)
            )
            await self._c.execute(
                tiers.update().where(tiers.c.stream_id.in_(closing)).values(display_name="")
            )
        return closing

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
                scheduled_for=post.scheduled_for,
                kind=post.kind.value,
                **_unlock_price(post),
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
            .values(
                title=post.title,
                body=post.body,
                level=post.level,
                kind=post.kind.value,
                **_unlock_price(post),
            )
        )

    async def reschedule(self, post: Post) -> bool:
        """Sets a draft's publishing time; False if it was published meanwhile."""
        result = await self._c.execute(
            posts.update()
            .where(posts.c.id == post.id, posts.c.state == PostState.DRAFT.value)
            .values(scheduled_for=post.scheduled_for)
        )
        return result.rowcount == 1

    async def publish(self, post: Post, *, scheduled_for: datetime | None = None) -> bool:
        """Marks a draft published; False if it was not a draft any more (another call won).
        With `scheduled_for`, only while the draft is still scheduled for that time (its
        owner may have moved or cleared it since it was found due)."""
        conditions = [posts.c.id == post.id, posts.c.state == PostState.DRAFT.value]
        if scheduled_for is not None:
            conditions.append(posts.c.scheduled_for == scheduled_for)
        result = await self._c.execute(
            posts.update()
            .where(*conditions)
            .values(
                state=PostState.PUBLISHED.value, published_at=post.published_at, scheduled_for=None
            )
        )
        return result.rowcount == 1

    async def erase(self, stream_id: str) -> list[str]:
        """Erases the words of a closed stream's posts (titles, text, poll options) and
        leaves none scheduled to go out; the posts' ids."""
        erased = await self._c.execute(
            posts.update()
            .where(posts.c.stream_id == stream_id)
            .values(title="", body="", scheduled_for=None)
            .returning(posts.c.id)
        )
        ids = list(erased.scalars())
        if ids:
            await self._c.execute(
                poll_options.update().where(poll_options.c.post_id.in_(ids)).values(text="")
            )
        return ids

    async def due(self, now: datetime, limit: int) -> list[Post]:
        """Scheduled drafts whose time has come, the longest overdue first."""
        rows = await self._c.execute(
            sa.select(posts)
            .where(
                posts.c.scheduled_for <= now,
                posts.c.state == PostState.DRAFT.value,
            )
            .order_by(posts.c.scheduled_for, posts.c.id)
            .limit(limit)
        )
        return [_post(r) for r in rows]

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
        level the user reads that stream at; and how many there are (counted in the same
        statement, once)."""
        joined = posts.join(
            follows, sa.and_(follows.c.stream_id == posts.c.stream_id, follows.c.user_id == user_id)
        )
        conditions = [posts.c.state == PostState.PUBLISHED.value]
        total = sa.select(sa.func.count()).select_from(joined).where(*conditions).scalar_subquery()
        if after is not None:
            published, last_id = after
            conditions.append(
                sa.or_(
                    posts.c.published_at < published,
                    sa.and_(posts.c.published_at == published, posts.c.id < last_id),
                )
            )
        rows = (
            await self._c.execute(
                sa.select(posts, follows.c.level.label("reader_level"), total.label("total"))
                .select_from(joined)
                .where(*conditions)
                .order_by(posts.c.published_at.desc(), posts.c.id.desc())
                .limit(fetch)
            )
        ).all()
        if rows:
            count = rows[0].total
        elif after is None:
            count = 0
        else:
            # Past the last page: nothing carried the count.
            count = (await self._c.execute(sa.select(total))).scalar_one()
        return [(_post(r), r.reader_level) for r in rows], count


class Follows:
    """Who follows which stream, at which level."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self._c = connection
        self._dialect = dialect

    async def add(self, follow: Follow) -> None:
        """Records a follow unless the user already follows the stream (their level stays)."""
        made = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, follows, ["stream_id", "user_id"])
            .values(
                stream_id=follow.stream_id,
                user_id=follow.user_id,
                level=follow.level,
                created_at=follow.created_at,
            )
            .returning(follows.c.user_id)
        )
        if made.first() is not None:
            await self._changed(follow.stream_id, follow.user_id, follow.level, follow.created_at)

    async def set_level(self, stream_id: str, user_id: str, level: int, at: datetime) -> bool:
        """Moves a follower to another level (payments' word on a paid tier); False if they
        do not follow the stream."""
        moved = await self._c.execute(
            follows.update()
            .where(
                follows.c.stream_id == stream_id,
                follows.c.user_id == user_id,
                follows.c.level != level,
            )
            .values(level=level)
            .returning(follows.c.user_id)
        )
        if moved.first() is not None:
            await self._changed(stream_id, user_id, level, at)
            return True
        return await self.get(stream_id, user_id) is not None

    async def _changed(self, stream_id: str, user_id: str, level: int | None, at: datetime) -> None:
        """Notes a follow's change for the stream's analytics (level None: it ended)."""
        await self._c.execute(
            follow_history.insert().values(
                id=new_id(), stream_id=stream_id, user_id=user_id, level=level, at=at
            )
        )

    async def user_ids(
        self, stream_id: str, min_level: int, *, after: str | None, fetch: int
    ) -> list[str]:
        """The ids of a stream's followers at `min_level` or above, in id order."""
        conditions = [follows.c.stream_id == stream_id, follows.c.level >= min_level]
        if after is not None:
            conditions.append(follows.c.user_id > after)
        rows = await self._c.execute(
            sa.select(follows.c.user_id).where(*conditions).order_by(follows.c.user_id).limit(fetch)
        )
        return [r.user_id for r in rows]

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

    async def remove(self, stream_id: str, user_id: str, at: datetime) -> None:
        gone = await self._c.execute(
            follows.delete()
            .where(follows.c.stream_id == stream_id, follows.c.user_id == user_id)
            .returning(follows.c.user_id)
        )
        if gone.first() is not None:
            await self._changed(stream_id, user_id, None, at)

    async def end_stream(self, stream_id: str, at: datetime) -> None:
        """Removes every follow of a closed stream: it is in no feed and has no followers."""
        gone = await self._c.execute(
            follows.delete().where(follows.c.stream_id == stream_id).returning(follows.c.user_id)
        )
        for user_id in gone.scalars().all():
            await self._changed(stream_id, user_id, None, at)

    async def forget(self, user_id: str, at: datetime) -> None:
        """Removes every follow of an erased user; their past in the streams' analytics
        stays as counts, under an id that names nobody."""
        gone = await self._c.execute(
            follows.delete().where(follows.c.user_id == user_id).returning(follows.c.stream_id)
        )
        for stream_id in gone.scalars().all():
            await self._changed(stream_id, user_id, None, at)
        await self._c.execute(
            follow_history.update()
            .where(follow_history.c.user_id == user_id)
            .values(user_id=new_id())
        )


def _comment(row: Any) -> Comment:
    return Comment(
        row.id,
        row.stream_id,
        row.post_id,
        row.author_user_id,
        row.text,
        row.created_at,
        row.reply_to,
        row.edited_at,
        row.deleted,
        row.hidden,
    )


async def _counts(connection: AsyncConnection, table: sa.Table, *conditions: Any) -> dict[str, int]:
    """How many rows of a table each post has, among those the conditions keep."""
    rows = await connection.execute(
        sa.select(table.c.post_id, sa.func.count()).where(*conditions).group_by(table.c.post_id)
    )
    return {post_id: count for post_id, count in rows}


# A comment others see: neither deleted nor hidden; a post's comment count counts these.
_COUNTED = sa.and_(comments.c.deleted.is_(False), comments.c.hidden.is_(False))


class Engagement:
    """Likes, saves and poll votes, and what they add up to on the posts a reader reads."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self._c = connection
        self._dialect = dialect

    async def like(self, post_id: str, user_id: str, at: datetime) -> None:
        """Records a like unless the user already likes the post."""
        await self._c.execute(
            insert_ignoring_conflicts(self._dialect, post_likes, ["post_id", "user_id"]).values(
                post_id=post_id, user_id=user_id, created_at=at
            )
        )

    async def unlike(self, post_id: str, user_id: str) -> None:
        await self._c.execute(
            post_likes.delete().where(
                post_likes.c.post_id == post_id, post_likes.c.user_id == user_id
            )
        )

    async def save(self, post_id: str, user_id: str, at: datetime) -> None:
        """Records a save unless the user already saved the post (it keeps its first time)."""
        await self._c.execute(
            insert_ignoring_conflicts(self._dialect, post_saves, ["user_id", "post_id"]).values(
                user_id=user_id, post_id=post_id, created_at=at
            )
        )

    async def unsave(self, post_id: str, user_id: str) -> None:
        await self._c.execute(
            post_saves.delete().where(
                post_saves.c.post_id == post_id, post_saves.c.user_id == user_id
            )
        )

    async def saved(
        self, user_id: str, *, after: tuple[datetime, str] | None, fetch: int
    ) -> tuple[list[tuple[Post, int | None, datetime]], int]:
        """A user's saved posts, newest saved first, each with the level the user follows
        its stream at (None: not a follower) and when it was saved; and how many there are."""
        joined = (
            post_saves.join(posts, posts.c.id == post_saves.c.post_id)
            .join(streams, streams.c.id == posts.c.stream_id)
            .outerjoin(
                follows,
                sa.and_(follows.c.stream_id == posts.c.stream_id, follows.c.user_id == user_id),
            )
        )
        conditions = [post_saves.c.user_id == user_id]
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(joined).where(*conditions))
        ).scalar_one()
        if after is not None:
            saved_at, last_id = after
            conditions.append(
                sa.or_(
                    post_saves.c.created_at < saved_at,
                    sa.and_(post_saves.c.created_at == saved_at, post_saves.c.post_id < last_id),
                )
            )
        rows = await self._c.execute(
            sa.select(
                posts,
                follows.c.level.label("reader_level"),
                streams.c.owner_user_id,
                post_saves.c.created_at.label("saved_at"),
            )
            .select_from(joined)
            .where(*conditions)
            .order_by(post_saves.c.created_at.desc(), post_saves.c.post_id.desc())
            .limit(fetch)
        )
        return [
            # A stream's owner reads each of its posts whole.
            (_post(r), r.level if r.owner_user_id == user_id else r.reader_level, r.saved_at)
            for r in rows
        ], total

    async def set_poll(self, post_id: str, poll: Poll | None) -> None:
        """Replaces a draft's poll options (None: the post carries no poll)."""
        await self._c.execute(poll_options.delete().where(poll_options.c.post_id == post_id))
        if poll is not None:
            await self._c.execute(
                poll_options.insert(),
                [
                    {"post_id": post_id, "position": n, "text": o.text}
                    for n, o in enumerate(poll.options)
                ],
            )

    async def vote(self, post_id: str, voter_user_id: str, position: int, at: datetime) -> bool:
        """Records a voter's one vote; False if they had voted in this poll already."""
        cast = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, poll_votes, ["post_id", "voter_user_id"])
            .values(post_id=post_id, voter_user_id=voter_user_id, position=position, created_at=at)
            .returning(poll_votes.c.post_id)
        )
        return cast.first() is not None

    async def forget(self, user_id: str) -> None:
        """Removes an erased user's saved posts."""
        await self._c.execute(post_saves.delete().where(post_saves.c.user_id == user_id))

    async def unsave_stream(self, stream_id: str) -> None:
        """Takes a closed stream's posts out of every reader's saved posts."""
        await self._c.execute(
            post_saves.delete().where(
                post_saves.c.post_id.in_(
                    sa.select(posts.c.id).where(posts.c.stream_id == stream_id)
                )
            )
        )

    async def as_read_by(self, found: list[Post], user_id: str) -> list[Post]:
        """The posts with their like and comment counts, the reader's own like, save and
        unlock, their polls (with results and the reader's vote) and media: one statement
        for the counts and marks, then one for the polls and one for the media of the posts
        that carry any (a feed page is 2 to 4 statements, not 11)."""
        ids = [p.id for p in found]
        if not ids:
            return found
        marks = {row.id: row for row in await self._c.execute(_marks(ids, user_id))}
        polled = [i for i in ids if marks[i].polled]
        polls = await self._polls(polled, user_id) if polled else {}
        carrying = [p.id for p in found if p.kind is not PostKind.TEXT]
        media = await self._media(carrying) if carrying else {}
        return [
            replace(
                p,
                media=media.get(p.id, ()),
                like_count=marks[p.id].likes,
                comment_count=marks[p.id].comments,
                liked_by_me=bool(marks[p.id].liked),
                saved_by_me=bool(marks[p.id].saved),
                poll=polls.get(p.id),
                unlocked=bool(marks[p.id].unlocked),
            )
            for p in found
        ]

    async def _media(self, ids: list[str]) -> dict[str, tuple[PostMedium, ...]]:
        m = post_media
        rows = await self._c.execute(
            sa.select(m.c.post_id, m.c.id, m.c.content_type, m.c.size)
            .where(m.c.post_id.in_(ids), m.c.discarded.is_(False))
            .order_by(m.c.post_id, m.c.position)
        )
        carried: dict[str, list[PostMedium]] = {}
        for row in rows:
            carried.setdefault(row.post_id, []).append(
                PostMedium(row.id, row.content_type, row.size)
            )
        return {post_id: tuple(found) for post_id, found in carried.items()}

    async def _polls(self, ids: list[str], user_id: str) -> dict[str, Poll]:
        o, v = poll_options, poll_votes
        votes = (
            sa.select(sa.func.count())
            .where(v.c.post_id == o.c.post_id, v.c.position == o.c.position)
            .scalar_subquery()
        )
        chosen = sa.exists().where(
            v.c.post_id == o.c.post_id, v.c.position == o.c.position, v.c.voter_user_id == user_id
        )
        rows = await self._c.execute(
            sa.select(o.c.post_id, o.c.text, votes.label("votes"), chosen.label("chosen"))
            .where(o.c.post_id.in_(ids))
            .order_by(o.c.post_id, o.c.position)
        )
        texts: dict[str, list[PollOption]] = {}
        for row in rows:
            texts.setdefault(row.post_id, []).append(
                PollOption(row.text, row.votes, bool(row.chosen))
            )
        return {post_id: Poll(tuple(found)) for post_id, found in texts.items()}


def _marks(ids: list[str], user_id: str) -> sa.Select[Any]:
    """Per post: its likes, the comments everyone sees, whether the reader likes, saved and
    unlocked it, and whether it has a poll."""
    p = posts
    likes = sa.select(sa.func.count()).where(post_likes.c.post_id == p.c.id).scalar_subquery()
    said = (
        sa.select(sa.func.count()).where(comments.c.post_id == p.c.id, _COUNTED).scalar_subquery()
    )
    liked = sa.exists().where(post_likes.c.post_id == p.c.id, post_likes.c.user_id == user_id)
    saved = sa.exists().where(post_saves.c.post_id == p.c.id, post_saves.c.user_id == user_id)
    polled = sa.exists().where(poll_options.c.post_id == p.c.id)
    unlocked = sa.exists().where(
        stream_sales.c.post_id == p.c.id,
        stream_sales.c.buyer_user_id == user_id,
        stream_sales.c.kind == SaleKind.UNLOCK.value,
    )
    return sa.select(
        p.c.id,
        likes.label("likes"),
        said.label("comments"),
        liked.label("liked"),
        saved.label("saved"),
        polled.label("polled"),
        unlocked.label("unlocked"),
    ).where(p.c.id.in_(ids))


class Comments:
    """Comments on posts and replies to them."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, comment: Comment) -> None:
        await self._c.execute(
            comments.insert().values(
                id=comment.id,
                stream_id=comment.stream_id,
                post_id=comment.post_id,
                reply_to=comment.reply_to,
                author_user_id=comment.author_user_id,
                text=comment.text,
                created_at=comment.created_at,
                edited_at=comment.edited_at,
                deleted=comment.deleted,
                hidden=comment.hidden,
            )
        )

    async def get(self, post_id: str, comment_id: str) -> Comment | None:
        row = (
            await self._c.execute(
                sa.select(comments).where(
                    comments.c.id == comment_id, comments.c.post_id == post_id
                )
            )
        ).first()
        return None if row is None else _comment(row)

    async def update(self, comment: Comment) -> None:
        await self._c.execute(
            comments.update()
            .where(comments.c.id == comment.id)
            .values(
                text=comment.text,
                edited_at=comment.edited_at,
                deleted=comment.deleted,
                hidden=comment.hidden,
            )
        )

    async def page(
        self, post_id: str, *, reader: str, hidden_too: bool, after: str | None, fetch: int
    ) -> tuple[list[Comment], int]:
        """A post's comments oldest first; hidden ones only when hidden_too or the reader's
        own; and how many there are."""
        conditions = [comments.c.post_id == post_id]
        if not hidden_too:
            conditions.append(
                sa.or_(comments.c.hidden.is_(False), comments.c.author_user_id == reader)
            )
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(comments).where(*conditions)
            )
        ).scalar_one()
        if after is not None:
            conditions.append(comments.c.id > after)
        rows = await self._c.execute(
            sa.select(comments).where(*conditions).order_by(comments.c.id).limit(fetch)
        )
        return [_comment(r) for r in rows], total

    async def erase_author(self, user_id: str) -> None:
        """An erased user's comments keep their place in their threads, not their words."""
        await self._c.execute(
            comments.update()
            .where(comments.c.author_user_id == user_id)
            .values(text="", deleted=True)
        )


def _upload(row: Any) -> MediaUpload:
    return MediaUpload(
        row.id,
        row.stream_id,
        row.uploader_user_id,
        row.content_type,
        row.max_bytes,
        row.created_at,
        row.post_id,
    )


class Media:
    """Stream owners' uploads, and the media of posts."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add_pending(self, upload: MediaUpload) -> None:
        await self._c.execute(
            post_media.insert().values(
                id=upload.id,
                stream_id=upload.stream_id,
                uploader_user_id=upload.uploader_user_id,
                object_key=upload.key,
                content_type=upload.content_type,
                max_bytes=upload.max_bytes,
                created_at=upload.created_at,
            )
        )

    async def attachable(
        self, media_id: str, uploader_user_id: str, stream_id: str, post_id: str
    ) -> MediaUpload | None:
        """The uploader's upload to the stream, if no post but this one carries it."""
        m = post_media
        row = (
            await self._c.execute(
                sa.select(m).where(
                    m.c.id == media_id,
                    m.c.uploader_user_id == uploader_user_id,
                    m.c.stream_id == stream_id,
                    sa.or_(m.c.post_id.is_(None), m.c.post_id == post_id),
                    m.c.discarded.is_(False),
                )
            )
        ).first()
        return None if row is None else _upload(row)

    async def attach(self, media_id: str, post_id: str, position: int, size: int) -> bool:
        """The upload carried by the post at a position; False if another post took it
        first (the second of two concurrent writes waits for the first and finds it taken)."""
        m = post_media
        taken = await self._c.execute(
            m.update()
            .where(
                m.c.id == media_id,
                sa.or_(m.c.post_id.is_(None), m.c.post_id == post_id),
                m.c.discarded.is_(False),
            )
            .values(post_id=post_id, position=position, size=size)
        )
        return taken.rowcount == 1

    async def discard_others(self, post_id: str, kept: list[str]) -> None:
        """A post's media it no longer carries: their objects are to go."""
        m = post_media
        await self._c.execute(
            m.update()
            .where(m.c.post_id == post_id, m.c.id.not_in(kept), m.c.discarded.is_(False))
            .values(discarded=True)
        )

    async def discard_stream(self, stream_id: str) -> None:
        """Every upload to a closed stream, carried by a post or not: their objects go."""
        m = post_media
        await self._c.execute(
            m.update()
            .where(m.c.stream_id == stream_id, m.c.discarded.is_(False))
            .values(discarded=True)
        )

    async def discard_unsent(self, before: datetime) -> None:
        """Uploads no post took since before: their objects go."""
        m = post_media
        await self._c.execute(
            m.update()
            .where(m.c.post_id.is_(None), m.c.created_at < before, m.c.discarded.is_(False))
            .values(discarded=True)
        )

    async def discarded(self, limit: int) -> list[tuple[str, str]]:
        """Discarded uploads whose objects are to be deleted, oldest first: (id, key) each."""
        m = post_media
        rows = await self._c.execute(
            sa.select(m.c.id, m.c.object_key)
            .where(m.c.discarded.is_(True))
            .order_by(m.c.created_at)
            .limit(limit)
        )
        return [(row.id, row.object_key) for row in rows]

    async def forget(self, media_id: str, made_before: datetime) -> None:
        """A discarded upload whose object is deleted, once no form for it can be used."""
        m = post_media
        await self._c.execute(
            m.delete().where(
                m.c.id == media_id, m.c.discarded.is_(True), m.c.created_at < made_before
            )
        )

    async def key_of(self, post_id: str, media_id: str) -> str | None:
        """The object key of a medium the post carries."""
        m = post_media
        return (
            await self._c.execute(
                sa.select(m.c.object_key).where(
                    m.c.id == media_id, m.c.post_id == post_id, m.c.discarded.is_(False)
                )
            )
        ).scalar()


class Analytics:
    """What a stream's owner reads of it: the history of its follows, and its posts'
    engagement."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def follow_changes(self, stream_id: str, before: datetime) -> list[FollowChange]:
        """Every change of the stream's follows before an instant, in the order they came."""
        h = follow_history
        rows = await self._c.execute(
            sa.select(h.c.user_id, h.c.level, h.c.at)
            .where(h.c.stream_id == stream_id, h.c.at < before)
            .order_by(h.c.at, h.c.id)
        )
        return [FollowChange(r.user_id, r.level, r.at) for r in rows]

    async def engagement(self, stream_id: str, since: datetime, limit: int) -> list[PostEngagement]:
        """The stream's posts published since an instant, newest first, with their likes,
        saves, comments everyone sees and poll votes."""
        found = (
            await self._c.execute(
                sa.select(posts.c.id, posts.c.title, posts.c.level, posts.c.published_at)
                .where(
                    posts.c.stream_id == stream_id,
                    posts.c.state == PostState.PUBLISHED.value,
                    posts.c.published_at >= since,
                )
                .order_by(posts.c.published_at.desc(), posts.c.id.desc())
                .limit(limit)
            )
        ).all()
        ids = [r.id for r in found]
        if not ids:
            return []
        likes = await _counts(self._c, post_likes, post_likes.c.post_id.in_(ids))
        saves = await _counts(self._c, post_saves, post_saves.c.post_id.in_(ids))
        said = await _counts(self._c, comments, comments.c.post_id.in_(ids), _COUNTED)
        votes = await _counts(self._c, poll_votes, poll_votes.c.post_id.in_(ids))
        return [
            PostEngagement(
                r.id,
                r.title,
                r.level,
                r.published_at,
                likes.get(r.id, 0),
                saves.get(r.id, 0),
                said.get(r.id, 0),
                votes.get(r.id, 0),
            )
            for r in found
        ]


def _live(row: Any) -> Live:
    return Live(row.id, row.stream_id, row.host_user_id, row.level, row.started_at)


class Rooms:
    """Lives, session rooms, who is in which room now and who attended which session."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self._c = connection
        self._dialect = dialect

    async def start_live(self, live: Live) -> None:
        """Records a stream's live; a second at once breaks the primary key (one per stream)."""
        await self._c.execute(
            lives.insert().values(
                stream_id=live.stream_id,
                id=live.id,
                host_user_id=live.host_user_id,
                level=live.level,
                started_at=live.started_at,
            )
        )

    async def live_of(self, stream_id: str) -> Live | None:
        row = (
            await self._c.execute(sa.select(lives).where(lives.c.stream_id == stream_id))
        ).first()
        return None if row is None else _live(row)

    async def live_by_id(self, live_id: str) -> Live | None:
        row = (await self._c.execute(sa.select(lives).where(lives.c.id == live_id))).first()
        return None if row is None else _live(row)

    async def end_live(self, stream_id: str) -> Live | None:
        """Removes the stream's live; None if there was none (or another call ended it)."""
        row = (
            await self._c.execute(
                lives.delete().where(lives.c.stream_id == stream_id).returning(*lives.c)
            )
        ).first()
        return None if row is None else _live(row)

    async def add_session(self, room: SessionRoom, at: datetime) -> bool:
        """Records a booking's room unless it has one already; whether this call made it."""
        made = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, session_rooms, ["booking_id"])
            .values(
                booking_id=room.booking_id,
                practitioner_user_id=room.practitioner_user_id,
                client_user_id=room.client_user_id,
                created_at=at,
            )
            .returning(session_rooms.c.booking_id)
        )
        if made.first() is None:
            return False
        await self.set_meetings(room.booking_id, room.meetings)
        return True

    async def set_meetings(self, booking_id: str, meetings: tuple[Meeting, ...]) -> None:
        """Replaces the dated meetings a session room opens for."""
        await self._c.execute(
            session_meetings.delete().where(session_meetings.c.booking_id == booking_id)
        )
        if meetings:
            await self._c.execute(
                session_meetings.insert(),
                [
                    {"booking_id": booking_id, "start_at": m.start, "end_at": m.end}
                    for m in meetings
                ],
            )

    async def session(self, booking_id: str) -> SessionRoom | None:
        row = (
            await self._c.execute(
                sa.select(session_rooms).where(session_rooms.c.booking_id == booking_id)
            )
        ).first()
        if row is None:
            return None
        meetings = await self._c.execute(
            sa.select(session_meetings)
            .where(session_meetings.c.booking_id == booking_id)
            .order_by(session_meetings.c.start_at)
        )
        return SessionRoom(
            row.booking_id,
            row.practitioner_user_id,
            row.client_user_id,
            tuple(Meeting(m.start_at, m.end_at) for m in meetings),
        )

    async def remove_session(self, booking_id: str) -> bool:
        """Removes a booking's room; whether it had one."""
        await self._c.execute(
            session_meetings.delete().where(session_meetings.c.booking_id == booking_id)
        )
        gone = await self._c.execute(
            session_rooms.delete()
            .where(session_rooms.c.booking_id == booking_id)
            .returning(session_rooms.c.booking_id)
        )
        return gone.first() is not None

    async def joined(self, room: str, user_id: str, at: datetime) -> None:
        """Notes a participant in a room (again: their first join stands)."""
        await self._c.execute(
            insert_ignoring_conflicts(self._dialect, room_presence, ["room", "user_id"]).values(
                room=room, user_id=user_id, joined_at=at
            )
        )

    async def left(self, room: str, user_id: str) -> None:
        await self._c.execute(
            room_presence.delete().where(
                room_presence.c.room == room, room_presence.c.user_id == user_id
            )
        )

    async def emptied(self, room: str) -> list[str]:
        """Forgets everyone in a closed room; who was there."""
        gone = await self._c.execute(
            room_presence.delete()
            .where(room_presence.c.room == room)
            .returning(room_presence.c.user_id)
        )
        return sorted(gone.scalars())

    async def rooms_of(self, user_id: str) -> list[str]:
        """The rooms a user is in now."""
        found = await self._c.execute(
            sa.select(room_presence.c.room)
            .where(room_presence.c.user_id == user_id)
            .order_by(room_presence.c.room)
        )
        return list(found.scalars())

    async def is_in(self, room: str, user_id: str) -> bool:
        found = await self._c.execute(
            sa.select(room_presence.c.room).where(
                room_presence.c.room == room, room_presence.c.user_id == user_id
            )
        )
        return found.first() is not None

    async def active(self, user_id: str) -> bool:
        """Whether the user's account is active, as identity's events last said."""
        status = (
            await self._c.execute(
                sa.select(account_statuses.c.status).where(account_statuses.c.user_id == user_id)
            )
        ).scalar()
        return status is None or status == AccountStatus.ACTIVE.value

    async def attended(
        self,
        webhook_id: str,
        booking_id: str,
        user_id: str,
        role: RoomRole,
        kind: str,
        at: datetime,
    ) -> None:
        """Records one join or leave of a session room (kind "joined" or "left")."""
        await self._c.execute(
            session_attendance.insert().values(
                webhook_id=webhook_id,
                booking_id=booking_id,
                user_id=user_id,
                role=role.value,
                kind=kind,
                at=at,
            )
        )

    async def attendance(self, booking_id: str) -> list[tuple[str, RoomRole, str, datetime]]:
        """Who joined and left a booking's room, in order: (user, role, kind, when)."""
        rows = await self._c.execute(
            sa.select(session_attendance)
            .where(session_attendance.c.booking_id == booking_id)
            .order_by(session_attendance.c.at, session_attendance.c.webhook_id)
        )
        return [(r.user_id, RoomRole(r.role), r.kind, r.at) for r in rows]


class Sales:
    """What readers paid for (tips, unlocks), one row per payments' order."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self._c = connection
        self._dialect = dialect

    async def add(self, sale: Sale) -> bool:
        """Records a sale; False if its order was recorded already (nothing changed)."""
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, stream_sales, ["order_id"])
            .values(
                order_id=sale.order_id,
                kind=sale.kind.value,
                stream_id=sale.stream_id,
                post_id=sale.post_id,
                buyer_user_id=sale.buyer_user_id,
                currency=sale.amount.currency,
                amount_minor=sale.amount.amount_minor,
                earning_minor=sale.earning.amount_minor,
                paid_at=sale.paid_at,
            )
            .returning(stream_sales.c.order_id)
        )
        return added.first() is not None

    async def of_stream(self, stream_id: str) -> list[Sale]:
        """A stream's sales, oldest first."""
        rows = await self._c.execute(
            sa.select(stream_sales)
            .where(stream_sales.c.stream_id == stream_id)
            .order_by(stream_sales.c.paid_at, stream_sales.c.order_id)
        )
        return [
            Sale(
                r.order_id,
                SaleKind(r.kind),
                r.stream_id,
                r.post_id,
                r.buyer_user_id,
                Money(r.amount_minor, r.currency),
                Money(r.earning_minor, r.currency),
                r.paid_at,
            )
            for r in rows
        ]


class Subscriptions:
    """Readers' subscriptions to paid tiers, as payments' latest applied change of each."""

    def __init__(self, connection: AsyncConnection, dialect: str) -> None:
        self._c = connection
        self._dialect = dialect

    async def apply(self, subscription: StreamSubscription, at: datetime) -> bool:
        """Keeps this change of a subscription unless one of the same or a later sequence
        was kept; whether it was. The update holds only over a lower sequence, so of two
        changes applied at once the later one stands whichever commits first."""
        values = {
            "stream_id": subscription.stream_id,
            "user_id": subscription.user_id,
            "level": subscription.level,
            "granted_level": subscription.granted_level,
            "status": subscription.status.value,
            "current_period_end": subscription.current_period_end,
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "sequence": subscription.sequence,
            "updated_at": at,
        }
        added = await self._c.execute(
            insert_ignoring_conflicts(self._dialect, stream_subscriptions, ["id"])
            .values(id=subscription.id, **values)
            .returning(stream_subscriptions.c.id)
        )
        if added.first() is not None:
            return True
        moved = await self._c.execute(
            stream_subscriptions.update()
            .where(
                stream_subscriptions.c.id == subscription.id,
                stream_subscriptions.c.sequence < subscription.sequence,
            )
            .values(**values)
            .returning(stream_subscriptions.c.id)
        )
        return moved.first() is not None

    async def of_reader(self, stream_id: str, user_id: str) -> list[StreamSubscription]:
        """A reader's subscriptions to one stream."""
        rows = await self._c.execute(
            sa.select(stream_subscriptions)
            .where(
                stream_subscriptions.c.stream_id == stream_id,
                stream_subscriptions.c.user_id == user_id,
            )
            .order_by(stream_subscriptions.c.id)
        )
        return [
            StreamSubscription(
                r.id,
                r.stream_id,
                r.user_id,
                r.level,
                r.granted_level,
                SubscriptionStatus(r.status),
                r.current_period_end,
                r.cancel_at_period_end,
                r.sequence,
            )
            for r in rows
        ]
