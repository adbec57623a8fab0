"""Streams' repositories: every query its handlers make. The unit of work holds one of each."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus
from chassis.db import insert_ignoring_conflicts
from chassis.money import Money
from chassis.tables import account_statuses
from services.streams.domain.engagement import Comment, Poll, PollOption
from services.streams.domain.rooms import Live, Meeting, RoomRole, SessionRoom
from services.streams.domain.sales import Sale, SaleKind
from services.streams.domain.streams import Follow, Post, PostState, Stream, Tier
from services.streams.tables import (
    comments,
    follows,
    lives,
    poll_options,
    poll_votes,
    post_likes,
    post_saves,
    posts,
    room_presence,
    session_attendance,
    session_meetings,
    session_rooms,
    stream_sales,
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
                scheduled_for=post.scheduled_for,
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
            .values(title=post.title, body=post.body, level=post.level, **_unlock_price(post))
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

    async def remove(self, stream_id: str, user_id: str) -> None:
        await self._c.execute(
            follows.delete().where(follows.c.stream_id == stream_id, follows.c.user_id == user_id)
        )

    async def forget(self, user_id: str) -> None:
        """Removes every follow of an erased user."""
        await self._c.execute(follows.delete().where(follows.c.user_id == user_id))


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

    async def as_read_by(self, found: list[Post], user_id: str) -> list[Post]:
        """The posts with their like and comment counts, poll and results, and the reader's
        own like, save, vote and unlock."""
        ids = [p.id for p in found]
        if not ids:
            return found
        likes = await self._counts(post_likes, post_likes.c.post_id.in_(ids))
        counted = await self._counts(comments, comments.c.post_id.in_(ids), _COUNTED)
        liked = await self._mine(post_likes, post_likes.c.user_id == user_id, ids)
        saved = await self._mine(post_saves, post_saves.c.user_id == user_id, ids)
        polls = await self._polls(ids, user_id)
        unlocked = await Sales(self._c, self._dialect).unlocked(user_id, ids)
        return [
            replace(
                p,
                like_count=likes.get(p.id, 0),
                comment_count=counted.get(p.id, 0),
                liked_by_me=p.id in liked,
                saved_by_me=p.id in saved,
                poll=polls.get(p.id),
                unlocked=p.id in unlocked,
            )
            for p in found
        ]

    async def _counts(self, table: sa.Table, *conditions: Any) -> dict[str, int]:
        rows = await self._c.execute(
            sa.select(table.c.post_id, sa.func.count()).where(*conditions).group_by(table.c.post_id)
        )
        return {post_id: count for post_id, count in rows}

    async def _mine(self, table: sa.Table, condition: Any, ids: list[str]) -> set[str]:
        rows = await self._c.execute(
            sa.select(table.c.post_id).where(condition, table.c.post_id.in_(ids))
        )
        return set(rows.scalars())

    async def _polls(self, ids: list[str], user_id: str) -> dict[str, Poll]:
        options = await self._c.execute(
            sa.select(poll_options)
            .where(poll_options.c.post_id.in_(ids))
            .order_by(poll_options.c.post_id, poll_options.c.position)
        )
        votes = await self._c.execute(
            sa.select(poll_votes.c.post_id, poll_votes.c.position, sa.func.count())
            .where(poll_votes.c.post_id.in_(ids))
            .group_by(poll_votes.c.post_id, poll_votes.c.position)
        )
        counts = {(post_id, position): n for post_id, position, n in votes}
        mine = await self._c.execute(
            sa.select(poll_votes.c.post_id, poll_votes.c.position).where(
                poll_votes.c.voter_user_id == user_id, poll_votes.c.post_id.in_(ids)
            )
        )
        chosen = {(post_id, position) for post_id, position in mine}
        texts: dict[str, list[PollOption]] = {}
        for row in options:
            key = (row.post_id, row.position)
            texts.setdefault(row.post_id, []).append(
                PollOption(row.text, counts.get(key, 0), key in chosen)
            )
        return {post_id: Poll(tuple(found)) for post_id, found in texts.items()}


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

    async def unlocked(self, user_id: str, post_ids: list[str]) -> set[str]:
        """Which of the posts the user unlocked."""
        rows = await self._c.execute(
            sa.select(stream_sales.c.post_id).where(
                stream_sales.c.buyer_user_id == user_id,
                stream_sales.c.kind == SaleKind.UNLOCK.value,
                stream_sales.c.post_id.in_(post_ids),
            )
        )
        return set(rows.scalars())

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
