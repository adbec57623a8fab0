"""Engagement handlers: readers like, save, vote in and comment on the posts they read whole;
a stream's owner hides comments on their posts.

Only a reader entitled to a post (its owner, or a follower at or above its level) likes,
saves, votes in, lists or writes comments on it: a locked teaser is PERMISSION_DENIED
POST_LOCKED, a draft FAILED_PRECONDITION POST_NOT_PUBLISHED to its owner (NOT_FOUND to the
rest, as everywhere). Taking back one's own mark (unlike, unsave, delete a comment) needs only
the post to be visible, so a reader whose level dropped can still undo what they did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from chassis.auth.principal import Principal
from chassis.clock import Clock
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, Page, page_request
from services.streams.desk import (
    instant,
    post_name_in,
    reader_level,
    stream_of,
    update_paths,
    visible_post,
)
from services.streams.domain.engagement import Comment, comment_text
from services.streams.domain.streams import Post, PostState, Stream
from services.streams.repository import saved_key
from services.streams.uow import StreamsUnitOfWork

COMMENT_FIELDS = frozenset({"text"})


def comment_name_in(field: str, name: str) -> tuple[str, str, str]:
    """The stream, post and comment ids of "streams/{id}/posts/{id}/comments/{id}"."""
    parts = name.split("/")
    if (
        len(parts) != 6
        or (parts[0], parts[2], parts[4]) != ("streams", "posts", "comments")
        or not all(is_uuid(parts[n]) for n in (1, 3, 5))
    ):
        raise InvalidArgument.field(
            field, "must be streams/{id}/posts/{id}/comments/{id}", "invalid"
        )
    return parts[1], parts[3], parts[5]


def _comment_not_found(comment_id: str) -> NotFound:
    return NotFound(f"comment {comment_id} was not found", reason="COMMENT_NOT_FOUND")


@dataclass
class EngagementDesk:
    """What readers do with the posts they read, and what owners do with their comments."""

    unit_of_work: Callable[..., StreamsUnitOfWork]
    clock: Clock

    async def _readable(
        self, uow: StreamsUnitOfWork, caller: Principal, stream_id: str, post_id: str
    ) -> tuple[Stream, Post]:
        """A published post the caller reads whole, and its stream."""
        stream = await stream_of(uow, stream_id)
        post = await visible_post(uow, caller, stream, post_id)
        if post.state is PostState.DRAFT:
            raise FailedPrecondition(
                "nobody reads a draft yet; publish it first", reason="POST_NOT_PUBLISHED"
            )
        # An unlock bought through payments opens it whatever the level.
        (post,) = await uow.engagement.as_read_by([post], caller.user_id)
        if not post.readable_at(await reader_level(uow, caller, stream)):
            raise PermissionDenied(
                "the post is above the tier level you follow its stream at", reason="POST_LOCKED"
            )
        return stream, post

    async def _as_read(
        self, uow: StreamsUnitOfWork, caller: Principal, stream: Stream, post: Post
    ) -> Post:
        (read,) = await uow.engagement.as_read_by([post], caller.user_id)
        return read.as_read_at(await reader_level(uow, caller, stream))

    async def like(self, caller: Principal, name: str) -> Post:
        """The caller likes a post they read whole (again: nothing changes)."""
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream, post = await self._readable(uow, caller, stream_id, post_id)
            # The primary key keeps one like per reader, however many arrive at once.
            await uow.engagement.like(post.id, caller.user_id, self.clock.now())
            read = await self._as_read(uow, caller, stream, post)
            await uow.commit()
        return read

    async def unlike(self, caller: Principal, name: str) -> Post:
        """Takes back the caller's like, if any."""
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream = await stream_of(uow, stream_id)
            post = await visible_post(uow, caller, stream, post_id)
            await uow.engagement.unlike(post.id, caller.user_id)
            read = await self._as_read(uow, caller, stream, post)
            await uow.commit()
        return read

    async def save(self, caller: Principal, name: str) -> Post:
        """Adds a post the caller reads whole to their saved posts (again: nothing changes)."""
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream, post = await self._readable(uow, caller, stream_id, post_id)
            await uow.engagement.save(post.id, caller.user_id, self.clock.now())
            read = await self._as_read(uow, caller, stream, post)
            await uow.commit()
        return read

    async def unsave(self, caller: Principal, name: str) -> Post:
        """Removes a post from the caller's saved posts, if it was there."""
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream = await stream_of(uow, stream_id)
            post = await visible_post(uow, caller, stream, post_id)
            await uow.engagement.unsave(post.id, caller.user_id)
            read = await self._as_read(uow, caller, stream, post)
            await uow.commit()
        return read

    async def saved_posts(self, caller: Principal, page_size: int, page_token: str) -> Page[Post]:
        """The caller's saved posts, newest saved first, as they may read each now."""
        request = page_request(
            page_size,
            page_token,
            query={"saved": caller.user_id},
            key=[KeyPart.NUMBER_OR_NULL, KeyPart.ID],
        )
        after = None if request.after is None else (instant(request.after[0]), request.after[1])
        async with self.unit_of_work(write=False) as uow:
            found, total = await uow.engagement.saved(
                caller.user_id, after=after, fetch=request.fetch
            )
            page = request.page(found, total, saved_key)
            read = await uow.engagement.as_read_by([p for p, _, _ in page.items], caller.user_id)
        levels = [level for _, level, _ in page.items]
        return Page(
            [post.as_read_at(level) for post, level in zip(read, levels, strict=True)],
            page.next_page_token,
            total,
        )

    async def vote(self, caller: Principal, name: str, option: int) -> Post:
        """The caller's one vote in a post's poll; a second is ALREADY_EXISTS ALREADY_VOTED
        (a vote is final, so results never move under a reader's feet)."""
        stream_id, post_id = post_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream, post = await self._readable(uow, caller, stream_id, post_id)
            (post,) = await uow.engagement.as_read_by([post], caller.user_id)
            if post.poll is None:
                raise FailedPrecondition("the post has no poll", reason="NO_POLL")
            position = post.poll.option(option)
            # Of votes cast at once by one voter, the primary key lets exactly one in.
            if not await uow.engagement.vote(post.id, caller.user_id, position, self.clock.now()):
                raise AlreadyExists("you voted in this poll already", reason="ALREADY_VOTED")
            read = await self._as_read(uow, caller, stream, post)
            await uow.commit()
        return read

    async def comment(self, caller: Principal, parent: str, text: str, reply_to: str) -> Comment:
        """A comment on a post the caller reads whole; a reply when reply_to names a top-level
        comment of the same post that the caller sees."""
        stream_id, post_id = post_name_in("parent", parent)
        text = comment_text(text)
        answered = None
        if reply_to:
            answered = comment_name_in("comment.reply_to", reply_to)
            if answered[:2] != (stream_id, post_id):
                raise InvalidArgument.field(
                    "comment.reply_to", "must be a comment of the same post", "invalid"
                )
        async with self.unit_of_work() as uow:
            stream, post = await self._readable(uow, caller, stream_id, post_id)
            if answered is not None:
                above = await uow.comments.get(post.id, answered[2])
                if above is None or not above.seen_by(caller.user_id, stream.owner_user_id):
                    raise _comment_not_found(answered[2])
                if above.reply_to is not None:
                    raise InvalidArgument.field(
                        "comment.reply_to",
                        "is a reply; answer the top-level comment it replies to",
                        "nested",
                    )
            comment = Comment(
                new_id(),
                stream_id,
                post.id,
                caller.user_id,
                text,
                self.clock.now(),
                reply_to=None if answered is None else answered[2],
            )
            await uow.comments.add(comment)
            await uow.commit()
        return comment

    async def comments(
        self, caller: Principal, parent: str, page_size: int, page_token: str
    ) -> Page[Comment]:
        """A post's comments, oldest first, for a reader entitled to the post: hidden ones
        only to the stream's owner and to their author."""
        stream_id, post_id = post_name_in("parent", parent)
        request = page_request(
            page_size,
            page_token,
            query={"comments": post_id, "reader": caller.user_id},
            key=[KeyPart.ID],
        )
        async with self.unit_of_work(write=False) as uow:
            stream, post = await self._readable(uow, caller, stream_id, post_id)
            found, total = await uow.comments.page(
                post.id,
                reader=caller.user_id,
                hidden_too=stream.owned_by(caller.user_id),
                after=request.after[0] if request.after else None,
                fetch=request.fetch,
            )
        return request.page(found, total, lambda c: [c.id])

    async def _comment(
        self, uow: StreamsUnitOfWork, caller: Principal, ids: tuple[str, str, str]
    ) -> tuple[Stream, Comment]:
        """A comment of a visible post that the caller sees, and its stream."""
        stream_id, post_id, comment_id = ids
        stream = await stream_of(uow, stream_id)
        await visible_post(uow, caller, stream, post_id)
        found = await uow.comments.get(post_id, comment_id)
        if found is None or not found.seen_by(caller.user_id, stream.owner_user_id):
            raise _comment_not_found(comment_id)
        return stream, found

    async def _own_comment(
        self, uow: StreamsUnitOfWork, caller: Principal, ids: tuple[str, str, str]
    ) -> tuple[Stream, Comment]:
        stream, found = await self._comment(uow, caller, ids)
        if not found.written_by(caller.user_id):
            raise PermissionDenied("only its author changes a comment", reason="NOT_COMMENT_AUTHOR")
        return stream, found

    async def edit_comment(
        self, caller: Principal, name: str, paths: list[str], text: str
    ) -> Comment:
        """New words for the caller's own comment (marked edited), while they read the post."""
        ids = comment_name_in("comment.name", name)
        update_paths("update_mask", paths, COMMENT_FIELDS)
        text = comment_text(text)
        async with self.unit_of_work() as uow:
            await self._readable(uow, caller, ids[0], ids[1])
            _, found = await self._own_comment(uow, caller, ids)
            edited = found.edit(text, self.clock.now())
            await uow.comments.update(edited)
            await uow.commit()
        return edited

    async def delete_comment(self, caller: Principal, name: str) -> Comment:
        """Erases the caller's own comment's words; its place stays as a placeholder."""
        ids = comment_name_in("name", name)
        async with self.unit_of_work() as uow:
            _, found = await self._own_comment(uow, caller, ids)
            erased = found.erase()
            await uow.comments.update(erased)
            await uow.commit()
        return erased

    async def hide_comment(self, caller: Principal, name: str, *, hidden: bool) -> Comment:
        """The stream's owner hides a comment on their post from everyone but its author (or
        shows it again)."""
        ids = comment_name_in("name", name)
        async with self.unit_of_work() as uow:
            stream, found = await self._comment(uow, caller, ids)
            if not stream.owned_by(caller.user_id):
                raise PermissionDenied(
                    "only the stream's owner hides comments", reason="NOT_STREAM_OWNER"
                )
            changed = replace(found, hidden=hidden)
            await uow.comments.update(changed)
            await uow.commit()
        return changed
