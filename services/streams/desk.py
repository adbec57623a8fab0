"""Streams' handlers: a practitioner runs their stream (its tiers and posts), readers follow
it and read what their level allows. Only a stream's owner changes it; a draft is NOT_FOUND
to anyone else, as a stream or post that does not exist."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from chassis.accounts import recorded_status
from chassis.auth.principal import Principal, Role, refuse_inactive_account
from chassis.clock import Clock
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import is_uuid, new_id
from chassis.media import MediaStore
from chassis.money import Money
from chassis.pagination import KeyPart, Page, page_request
from services.streams.domain.engagement import poll_options
from services.streams.domain.media import PostKind, post_media_ids
from services.streams.domain.streams import (
    FREE_LEVEL,
    FREE_TIER_CURRENCY,
    FREE_TIER_NAME,
    STREAM_PREFIX,
    Follow,
    Post,
    PostPublished,
    PostState,
    Stream,
    Tier,
    paid_price,
    post_fields,
    post_level,
    post_unlock_price,
    repricing,
    schedule_time,
    stream_fields,
    tier_name,
)
from services.streams.domain.subscriptions import granted_level
from services.streams.erasures import creator_lock
from services.streams.evictions import leave_live
from services.streams.repository import MICROS, feed_key
from services.streams.uow import StreamsUnitOfWork
from services.streams.uploads import attach_media
from services.streams.video.port import RoomService

STREAM_FIELDS = frozenset({"title", "description"})
TIER_FIELDS = frozenset({"display_name", "price"})
POST_FIELDS = frozenset(
    {"title", "body", "level", "poll", "schedule_time", "unlock_price", "media"}
)
# Scheduled drafts published per transaction by the job (it loops until none is due).
DUE_POSTS_PER_BATCH = 100


def stream_id_in(field: str, name: str) -> str:
    stream_id = name.removeprefix(STREAM_PREFIX)
    if not name.startswith(STREAM_PREFIX) or not is_uuid(stream_id):
        raise InvalidArgument.field(field, "must be streams/{id}", "invalid")
    return stream_id


def _child_in(field: str, name: str, collection: str) -> tuple[str, str]:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "streams" or parts[2] != collection or not is_uuid(parts[1]):
        raise InvalidArgument.field(field, f"must be streams/{{id}}/{collection}/{{id}}", "invalid")
    return parts[1], parts[3]


def post_name_in(field: str, name: str) -> tuple[str, str]:
    """The stream and post ids of "streams/{id}/posts/{id}"."""
    stream_id, post_id = _child_in(field, name, "posts")
    if not is_uuid(post_id):
        raise InvalidArgument.field(field, "must be streams/{id}/posts/{id}", "invalid")
    return stream_id, post_id


def tier_name_in(field: str, name: str) -> tuple[str, int]:
    """The stream id and level of "streams/{id}/tiers/{level}"."""
    stream_id, level = _child_in(field, name, "tiers")
    if not level.isdigit() or len(level) > 9:
        raise InvalidArgument.field(field, "must be streams/{id}/tiers/{level}", "invalid")
    return stream_id, int(level)


def update_paths(field: str, paths: list[str], allowed: frozenset[str]) -> set[str]:
    """The fields an update_mask names; each must be one the update may change."""
    if not paths:
        raise InvalidArgument.field(field, "must name the fields to change", "required")
    unknown = sorted(set(paths) - allowed)
    if unknown:
        raise InvalidArgument.field(
            field, f"cannot change {', '.join(unknown)} (only {', '.join(sorted(allowed))})"
        )
    return set(paths)


def instant(micros: object) -> datetime:
    """The instant (µs) a feed or saved-posts cursor carries; a value no issued cursor holds
    is refused."""
    try:
        return datetime.fromtimestamp(micros / MICROS, UTC)  # type: ignore[operator]
    except (TypeError, ValueError, OverflowError, OSError) as error:
        raise InvalidArgument.field("page_token", "is not a token this API issued") from error


def _stream_not_found(stream_id: str) -> NotFound:
    return NotFound(f"{STREAM_PREFIX}{stream_id} was not found", reason="STREAM_NOT_FOUND")


def post_not_found(stream_id: str, post_id: str) -> NotFound:
    return NotFound(
        f"{STREAM_PREFIX}{stream_id}/posts/{post_id} was not found", reason="POST_NOT_FOUND"
    )


def require_owner(caller: Principal, stream: Stream) -> None:
    if not stream.owned_by(caller.user_id):
        raise PermissionDenied("only the stream's owner may change it", reason="NOT_STREAM_OWNER")


async def stream_of(uow: StreamsUnitOfWork, stream_id: str) -> Stream:
    """The stream; NOT_FOUND if there is none, or it closed (its creator was erased)."""
    found = await uow.streams.get(stream_id)
    if found is None or found.closed:
        raise _stream_not_found(stream_id)
    return found


async def reader_level(uow: StreamsUnitOfWork, caller: Principal, stream: Stream) -> int | None:
    """The level the caller reads a stream at: every level for its owner, their follow's
    for a follower, none (teasers only) for anyone else."""
    if stream.owned_by(caller.user_id):
        return max(t.level for t in stream.tiers)
    follow = await uow.follows.get(stream.id, caller.user_id)
    return None if follow is None else follow.level


async def visible_post(
    uow: StreamsUnitOfWork, caller: Principal, stream: Stream, post_id: str
) -> Post:
    """A post the caller may see (whole or not): a draft is NOT_FOUND to all but its owner."""
    post = await uow.posts.get(stream.id, post_id)
    if post is None or (post.state is PostState.DRAFT and not stream.owned_by(caller.user_id)):
        raise post_not_found(stream.id, post_id)
    return post


@dataclass
class StreamDesk:
    """What practitioners and readers do with streams."""

    unit_of_work: Callable[..., StreamsUnitOfWork]
    clock: Clock
    video: RoomService
    media: MediaStore

    async def _owned(self, uow: StreamsUnitOfWork, caller: Principal, stream_id: str) -> Stream:
        found = await stream_of(uow, stream_id)
        require_owner(caller, found)
        return found

    async def create_stream(self, caller: Principal, title: str, description: str) -> Stream:
        title, description = stream_fields(title, description)
        if Role.PRACTITIONER.value not in caller.roles:
            raise PermissionDenied("only practitioners run streams", reason="NOT_PRACTITIONER")
        now = self.clock.now()
        stream_id = new_id()
        free = Tier(stream_id, FREE_LEVEL, FREE_TIER_NAME, Money(0, FREE_TIER_CURRENCY))
        stream = Stream(stream_id, caller.user_id, title, description, now, now, (free,))
        async with self.unit_of_work() as uow:
            await uow.serialize(creator_lock(caller.user_id))
            refuse_inactive_account(await recorded_status(uow.connection, caller.user_id))
            # The unique owner settles a race between two first streams (AlreadyExists).
            await uow.streams.add(stream)
            await uow.commit()
        return stream

    async def get_stream(self, name: str) -> Stream:
        stream_id = stream_id_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            return await stream_of(uow, stream_id)

    async def update_stream(
        self, caller: Principal, name: str, paths: list[str], title: str, description: str
    ) -> Stream:
        stream_id = stream_id_in("stream.name", name)
        changed = update_paths("update_mask", paths, STREAM_FIELDS)
        async with self.unit_of_work() as uow:
            stream = await self._owned(uow, caller, stream_id)
            title, description = stream_fields(
                title if "title" in changed else stream.title,
                description if "description" in changed else stream.description,
            )
            stream = replace(
                stream, title=title, description=description, updated_at=self.clock.now()
            )
            await uow.streams.update(stream)
            await uow.commit()
        return stream

    async def create_tier(
        self, caller: Principal, parent: str, display_name: str, price: Money
    ) -> Tier:
        stream_id = stream_id_in("parent", parent)
        name = tier_name(display_name)
        price = paid_price(price)
        async with self.unit_of_work() as uow:
            stream = await self._owned(uow, caller, stream_id)
            # Two tiers added at once would take one level: the primary key refuses the second.
            tier = Tier(stream_id, stream.next_level, name, price)
            await uow.streams.add_tier(tier)
            await uow.commit()
        return tier

    async def update_tier(
        self,
        caller: Principal,
        name: str,
        paths: list[str],
        display_name: str,
        price: Money | None,
    ) -> Tier:
        stream_id, level = tier_name_in("tier.name", name)
        changed = update_paths("update_mask", paths, TIER_FIELDS)
        async with self.unit_of_work() as uow:
            stream = await self._owned(uow, caller, stream_id)
            tier = next((t for t in stream.tiers if t.level == level), None)
            if tier is None:
                raise NotFound(f"{name} was not found", reason="TIER_NOT_FOUND")
            if "price" in changed and level == FREE_LEVEL:
                raise InvalidArgument.field("tier.price", "the free tier stays free", "free_tier")
            before = tier
            tier = replace(
                tier,
                display_name=tier_name(display_name)
                if "display_name" in changed
                else tier.display_name,
                price=tier.price if price is None else paid_price(price),
            )
            await uow.streams.update_tier(tier)
            # Said with the change, so subscribers are billed the new price from their
            # renewal (payments keeps their price until then).
            repriced = repricing(before, tier, self.clock.now())
            if repriced is not None:
                uow.record(repriced)
            await uow.commit()
        return tier

    async def create_post(
        self,
        caller: Principal,
        parent: str,
        title: str,
        body: str,
        level: int,
        poll: list[str] | None = None,
        scheduled_for: datetime | None = None,
        unlock_price: Money | None = None,
        kind: PostKind = PostKind.TEXT,
        media_ids: Sequence[str] = (),
    ) -> Post:
        """A draft; with a poll when `poll` names its options; carrying the caller's uploads
        to the stream that its kind takes; published by itself at `scheduled_for` when set;
        sold alone at `unlock_price` when set."""
        stream_id = stream_id_in("parent", parent)
        title, body = post_fields(title, body)
        options = poll_options(poll or [])
        unlock_price = post_unlock_price(unlock_price)
        media_ids = post_media_ids(kind, media_ids)
        now = self.clock.now()
        scheduled_for = schedule_time(scheduled_for, now, "post.schedule_time")
        async with self.unit_of_work() as uow:
            stream = await self._owned(uow, caller, stream_id)
            post = Post(
                new_id(),
                stream_id,
                title,
                body,
                post_level(stream, level),
                PostState.DRAFT,
                now,
                scheduled_for=scheduled_for,
                poll=options,
                unlock_price=unlock_price,
                kind=kind,
            )
            media = await attach_media(
                uow, self.media, caller.user_id, post.id, stream_id, kind, media_ids
            )
            post = replace(post, media=media)
            await uow.posts.add(post)
            await uow.engagement.set_poll(post.id, options)
            await uow.commit()
        return post

    async def update_post(
        self,
        caller: Principal,
        name: str,
        paths: list[str],
        title: str,
        body: str,
        level: int,
        poll: list[str] | None = None,
        scheduled_for: datetime | None = None,
        unlock_price: Money | None = None,
        kind: PostKind = PostKind.TEXT,
        media_ids: Sequence[str] = (),
    ) -> Post:
        """Changes the fields `paths` names; a poll only while the post is a draft (no
        options: no poll), so no vote is ever cast on options that change; the schedule
        only while a draft (none: published only by its owner); an unlock price of None: not
        sold alone; its kind and media ("media") only while a draft, so what readers were
        shown stays."""
        stream_id, post_id = post_name_in("post.name", name)
        changed = update_paths("update_mask", paths, POST_FIELDS)
        async with self.unit_of_work() as uow:
            stream = await self._owned(uow, caller, stream_id)
            post = await uow.posts.get(stream_id, post_id)
            if post is None:
                raise post_not_found(stream_id, post_id)
            title, body = post_fields(
                title if "title" in changed else post.title,
                body if "body" in changed else post.body,
            )
            level = post_level(stream, level) if "level" in changed else post.level
            post = replace(post, title=title, body=body, level=level)
            if "unlock_price" in changed:
                # Buyers keep what they unlocked; the price is for those who buy from now on.
                post = replace(post, unlock_price=post_unlock_price(unlock_price))
            if "poll" in changed:
                options = poll_options(poll or [])
                if post.state is not PostState.DRAFT:
                    raise FailedPrecondition(
                        "a published post's poll stays as it is", reason="POST_PUBLISHED"
                    )
                await uow.engagement.set_poll(post.id, options)
            if "media" in changed:
                if post.state is not PostState.DRAFT:
                    raise FailedPrecondition(
                        "a published post's media stay as they are", reason="POST_PUBLISHED"
                    )
                media = await attach_media(
                    uow,
                    self.media,
                    caller.user_id,
                    post.id,
                    stream_id,
                    kind,
                    post_media_ids(kind, media_ids),
                )
                post = replace(post, kind=kind, media=media)
            if "schedule_time" in changed:
                post = post.schedule(scheduled_for, self.clock.now(), "post.schedule_time")
                # A draft the job publishes meanwhile keeps no schedule.
                if not await uow.posts.reschedule(post):
                    raise FailedPrecondition(
                        "the post is already published", reason="POST_PUBLISHED"
                    )
            await uow.posts.update(post)
            (post,) = await uow.engagement.as_read_by([post], caller.user_id)
            await uow.commit()
        return post

    async def publish_post(self, caller: Principal, name: str) -> Post:
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream = await self._owned(uow, caller, stream_id)
            post = await uow.posts.get(stream_id, post_id)
            if post is None:
                raise post_not_found(stream_id, post_id)
            published = post.publish(self.clock.now())
            # Of two publishes at once, the one whose update finds the draft wins.
            if not await uow.posts.publish(published):
                raise FailedPrecondition("the post is already published", reason="POST_PUBLISHED")
            uow.record(PostPublished(published, stream.owner_user_id))
            (published,) = await uow.engagement.as_read_by([published], caller.user_id)
            await uow.commit()
        return published

    async def publish_due_posts(self) -> int:
        """Publishes every scheduled draft whose time has come, each once: the update that
        publishes it holds only while it is a draft still scheduled for that time, so a
        concurrent run, its owner publishing it or moving its time, each leave one outcome.
        How many it published."""
        total = 0
        while True:
            in_batch = 0
            async with self.unit_of_work() as uow:
                now = self.clock.now()
                due = await uow.posts.due(now, DUE_POSTS_PER_BATCH)
                for post in due:
                    stream = await stream_of(uow, post.stream_id)
                    published = post.publish(now)
                    if await uow.posts.publish(published, scheduled_for=post.scheduled_for):
                        uow.record(PostPublished(published, stream.owner_user_id))
                        in_batch += 1
                await uow.commit()
            total += in_batch
            # A full batch that published nothing was all taken by others: not a reason to spin.
            if len(due) < DUE_POSTS_PER_BATCH or not in_batch:
                return total

    async def get_post(self, caller: Principal, name: str) -> Post:
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
            post = await visible_post(uow, caller, stream, post_id)
            (read,) = await uow.engagement.as_read_by([post], caller.user_id)
            return read.as_read_at(await reader_level(uow, caller, stream))

    async def list_posts(
        self, caller: Principal, parent: str, page_size: int, page_token: str
    ) -> Page[Post]:
        stream_id = stream_id_in("parent", parent)
        request = page_request(
            page_size,
            page_token,
            query={"stream": stream_id, "reader": caller.user_id},
            key=[KeyPart.ID],
        )
        async with self.unit_of_work(write=False) as uow:
            stream = await stream_of(uow, stream_id)
            level = await reader_level(uow, caller, stream)
            found, total = await uow.posts.page(
                stream_id,
                drafts=stream.owned_by(caller.user_id),
                before=request.after[0] if request.after else None,
                fetch=request.fetch,
            )
            found = await uow.engagement.as_read_by(found, caller.user_id)
        page = request.page(found, total, lambda p: [p.id])
        return replace(page, items=[p.as_read_at(level) for p in page.items])

    async def followers(
        self, parent: str, min_level: int, page_size: int, page_token: str
    ) -> Page[str]:
        """A stream's followers at `min_level` or above (user ids), for other services; none
        for a closed stream."""
        stream_id = stream_id_in("parent", parent)
        if min_level < FREE_LEVEL:
            raise InvalidArgument.field("min_level", "must not be negative", "negative")
        request = page_request(
            page_size,
            page_token,
            query={"stream": stream_id, "min_level": min_level},
            key=[KeyPart.ID],
        )
        async with self.unit_of_work(write=False) as uow:
            # A closed stream is followed by no one: a post announced just before its
            # creator's erasure notifies no one, rather than failing for ever.
            if await uow.streams.get(stream_id) is None:
                raise _stream_not_found(stream_id)
            found = await uow.follows.user_ids(
                stream_id,
                min_level,
                after=request.after[0] if request.after else None,
                fetch=request.fetch,
            )
        # The total is not counted: a caller pages to the end.
        return request.page(found, 0, lambda user_id: [user_id])

    async def follow(self, caller: Principal, name: str) -> Follow:
        stream_id = stream_id_in("name", name)
        async with self.unit_of_work() as uow:
            await stream_of(uow, stream_id)
            # Paid levels come from payments (a stream subscription paid raises the follow's
            # level); following here only ever grants the free one and keeps a paid one.
            await uow.follows.add(Follow(stream_id, caller.user_id, FREE_LEVEL, self.clock.now()))
            found = await uow.follows.get(stream_id, caller.user_id)
            await uow.commit()
        assert found is not None
        return found

    async def unfollow(self, caller: Principal, name: str) -> None:
        """Stops following the stream. Refused while a subscription of the caller's to one of
        its paid tiers grants them a level: the follow is what they pay for, and payments'
        next change of it would bring it back; they cancel the subscription first (its
        period kept), and once it has ended they follow at the free level and may leave."""
        stream_id = stream_id_in("name", name)
        async with self.unit_of_work() as uow:
            await stream_of(uow, stream_id)
            subscribed = await uow.subscriptions.of_reader(stream_id, caller.user_id)
            if granted_level(subscribed) > FREE_LEVEL:
                raise FailedPrecondition(
                    "you subscribe to a paid tier of this stream: cancel the subscription "
                    "first (you follow at the free level once it ends)",
                    reason="SUBSCRIPTION_ACTIVE",
                )
            await uow.follows.remove(stream_id, caller.user_id, self.clock.now())
            # A follower watching the stream's live may not any more: out of its room now.
            await leave_live(uow, self.video, stream_id, caller.user_id)
            await uow.commit()

    async def feed(self, caller: Principal, page_size: int, page_token: str) -> Page[Post]:
        request = page_request(
            page_size,
            page_token,
            query={"feed": caller.user_id},
            key=[KeyPart.NUMBER_OR_NULL, KeyPart.ID],
        )
        after = None if request.after is None else (instant(request.after[0]), request.after[1])
        async with self.unit_of_work(write=False) as uow:
            found, total = await uow.posts.feed(caller.user_id, after=after, fetch=request.fetch)
            read = await uow.engagement.as_read_by([post for post, _ in found], caller.user_id)
            found = [(post, level) for post, (_, level) in zip(read, found, strict=True)]
        page = request.page(found, total, lambda pair: feed_key(pair[0]))
        return Page(
            [post.as_read_at(level) for post, level in page.items], page.next_page_token, total
        )
