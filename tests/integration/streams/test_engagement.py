"""Likes, saves, polls and comments on both databases: only a reader entitled to a post
(its owner, or a follower at or above its level) engages with it; a teaser leaks no poll;
one like and one vote per reader; comments thread one level deep, their authors alone edit
and delete them (a placeholder stays), and the stream's owner hides them from the others."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from chassis.auth.principal import Principal
from chassis.clock import FrozenClock
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.money import Money
from services.streams.bootstrap import StreamsService
from tests.builders import person
from tests.integration.streams.world import START, built_streams, follow_at, practitioner


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def reason(error: pytest.ExceptionInfo[Exception]) -> str:
    return error.value.reason  # type: ignore[attr-defined]


@dataclass
class Scene:
    """A stream with a free and a paid tier, a published post at each level (the paid one
    with a poll), a draft, and readers at each level plus one who does not follow."""

    service: StreamsService
    owner: Principal
    free_reader: Principal
    paid_reader: Principal
    passerby: Principal
    parent: str
    free: str
    paid: str
    draft: str


async def scene(service: StreamsService, clock: FrozenClock) -> Scene:
    desk, owner = service.desk, practitioner()
    stream = await desk.create_stream(owner, "Breath", "")
    parent = f"streams/{stream.id}"
    await desk.create_tier(owner, parent, "Friends", Money(500, "EUR"))
    names = []
    for title, level, poll in (("Welcome", 0, None), ("Deep work", 1, ["Morning", "Evening"])):
        post = await desk.create_post(owner, parent, title, f"{title} text", level, poll)
        clock.advance(timedelta(minutes=1))
        await desk.publish_post(owner, f"{parent}/posts/{post.id}")
        names.append(f"{parent}/posts/{post.id}")
    draft = await desk.create_post(owner, parent, "Soon", "Draft", 0, ["Yes", "No"])
    free_reader, paid_reader = person(), person()
    await desk.follow(free_reader, parent)
    await follow_at(service, stream.id, paid_reader, 1)
    return Scene(
        service,
        owner,
        free_reader,
        paid_reader,
        person(),
        parent,
        names[0],
        names[1],
        f"{parent}/posts/{draft.id}",
    )


async def test_who_may_like_save_vote_in_and_comment_on_a_post_by_tier(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        s = await scene(service, clock)
        engagement = service.engagement
        # (reader, post) -> allowed; every refusal is the locked teaser's.
        matrix = {
            (s.owner, s.free): True,
            (s.owner, s.paid): True,
            (s.paid_reader, s.free): True,
            (s.paid_reader, s.paid): True,
            (s.free_reader, s.free): True,
            (s.free_reader, s.paid): False,
            (s.passerby, s.free): False,
            (s.passerby, s.paid): False,
        }
        for (reader, post), allowed in matrix.items():
            attempts = [
                lambda r=reader, p=post: engagement.like(r, p),
                lambda r=reader, p=post: engagement.save(r, p),
                lambda r=reader, p=post: engagement.comment(r, p, "Lovely", ""),
                lambda r=reader, p=post: engagement.comments(r, p, 10, ""),
            ]
            if post == s.paid:
                attempts.append(lambda r=reader, p=post: engagement.vote(r, p, 0))
            for attempt in attempts:
                if allowed:
                    await attempt()
                else:
                    with pytest.raises(PermissionDenied) as error:
                        await attempt()
                    assert reason(error) == "POST_LOCKED"
        free = await service.desk.get_post(s.owner, s.free)
        paid = await service.desk.get_post(s.owner, s.paid)
        assert (free.like_count, free.comment_count) == (3, 3)
        assert (paid.like_count, paid.comment_count) == (2, 2)
        assert [o.votes for o in paid.poll.options] == [2, 0]  # type: ignore[union-attr]
        # A draft: its owner is told to publish it first; to anyone else it does not exist.
        with pytest.raises(FailedPrecondition) as error:
            await engagement.like(s.owner, s.draft)
        assert reason(error) == "POST_NOT_PUBLISHED"
        with pytest.raises(NotFound):
            await engagement.comment(s.paid_reader, s.draft, "First", "")


async def test_likes_and_saves_count_once_per_reader_and_show_as_each_reads_them(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        s, engagement = await scene(service, clock), service.engagement
        await engagement.like(s.free_reader, s.free)
        liked = await engagement.like(s.free_reader, s.free)
        assert (liked.like_count, liked.liked_by_me) == (1, True)
        by_other = await engagement.like(s.paid_reader, s.free)
        assert (by_other.like_count, by_other.liked_by_me) == (2, True)
        as_owner = await service.desk.get_post(s.owner, s.free)
        assert (as_owner.like_count, as_owner.liked_by_me, as_owner.saved_by_me) == (
            2,
            False,
            False,
        )
        unliked = await engagement.unlike(s.free_reader, s.free)
        assert (unliked.like_count, unliked.liked_by_me) == (1, False)
        assert (await engagement.unlike(s.free_reader, s.free)).like_count == 1

        saved = await engagement.save(s.paid_reader, s.free)
        assert saved.saved_by_me
        in_feed = (await service.desk.feed(s.paid_reader, 10, "")).items
        assert [(p.title, p.saved_by_me, p.liked_by_me) for p in in_feed] == [
            ("Deep work", False, False),
            ("Welcome", True, True),
        ]
        unsaved = await engagement.unsave(s.paid_reader, s.free)
        assert not unsaved.saved_by_me
        assert (await engagement.saved_posts(s.paid_reader, 10, "")).items == []


async def test_saved_posts_list_newest_saved_first_by_cursor_as_the_reader_reads_them_now(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        s, engagement = await scene(service, clock), service.engagement
        reader = person()
        await follow_at(service, s.parent.removeprefix("streams/"), reader, 1)
        for post in (s.paid, s.free):
            clock.advance(timedelta(seconds=1))
            await engagement.save(reader, post)
        await engagement.save(s.owner, s.paid)

        first = await engagement.saved_posts(reader, 1, "")
        second = await engagement.saved_posts(reader, 1, first.next_page_token)
        assert [p.title for p in first.items + second.items] == ["Welcome", "Deep work"]
        assert (first.total, second.next_page_token) == (2, "")
        assert second.items[0].poll is not None and not second.items[0].locked
        with pytest.raises(InvalidArgument) as error:
            await engagement.saved_posts(s.owner, 1, first.next_page_token)
        assert fields(error) == ["page_token"]
        # The owner reads their own saved post whole.
        assert [p.locked for p in (await engagement.saved_posts(s.owner, 10, "")).items] == [False]

        # Once the reader stops following, a saved paid post is a teaser: no body, no poll.
        await service.desk.unfollow(reader, s.parent)
        teasers = (await engagement.saved_posts(reader, 10, "")).items
        assert [(p.title, p.locked, p.body, p.poll) for p in teasers] == [
            ("Welcome", True, "", None),
            ("Deep work", True, "", None),
        ]
        # Taking a save back needs no entitlement.
        await engagement.unsave(reader, s.paid)
        assert [p.title for p in (await engagement.saved_posts(reader, 10, "")).items] == [
            "Welcome"
        ]


async def test_a_poll_takes_one_final_vote_per_reader_and_a_teaser_never_shows_it(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        s, engagement, desk = await scene(service, clock), service.engagement, service.desk
        voted = await engagement.vote(s.paid_reader, s.paid, 1)
        assert voted.poll is not None
        assert [(o.text, o.votes, o.chosen_by_me) for o in voted.poll.options] == [
            ("Morning", 0, False),
            ("Evening", 1, True),
        ]
        with pytest.raises(AlreadyExists) as error:
            await engagement.vote(s.paid_reader, s.paid, 0)
        assert reason(error) == "ALREADY_VOTED"
        with pytest.raises(InvalidArgument) as error:
            await engagement.vote(s.owner, s.paid, 2)
        assert fields(error) == ["option"]
        with pytest.raises(FailedPrecondition) as error:
            await engagement.vote(s.paid_reader, s.free, 0)
        assert reason(error) == "NO_POLL"
        as_owner = await desk.get_post(s.owner, s.paid)
        assert [(o.votes, o.chosen_by_me) for o in as_owner.poll.options] == [  # type: ignore[union-attr]
            (0, False),
            (1, False),
        ]

        # A reader below the post's level sees neither its options nor its results.
        teaser = await desk.get_post(s.free_reader, s.paid)
        assert (teaser.locked, teaser.poll) == (True, None)
        assert [p.poll for p in (await desk.feed(s.free_reader, 10, "")).items] == [None, None]
        listed = (await desk.list_posts(s.passerby, s.parent, 10, "")).items
        assert all(p.poll is None for p in listed)

        # The poll changes while a draft only.
        changed = await desk.update_post(s.owner, s.draft, ["poll"], "", "", 0, ["A", "B", "C"])
        assert [o.text for o in changed.poll.options] == ["A", "B", "C"]  # type: ignore[union-attr]
        removed = await desk.update_post(s.owner, s.draft, ["poll"], "", "", 0, [])
        assert removed.poll is None
        with pytest.raises(FailedPrecondition) as error:
            await desk.update_post(s.owner, s.paid, ["poll"], "", "", 0, ["X", "Y"])
        assert reason(error) == "POST_PUBLISHED"
        assert [o.text for o in (await desk.get_post(s.owner, s.paid)).poll.options] == [  # type: ignore[union-attr]
            "Morning",
            "Evening",
        ]


async def test_a_poll_is_refused_naming_the_field_unless_it_has_2_to_10_short_options(
    empty_database_url,
):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        parent = f"streams/{(await desk.create_stream(owner, 'Breath', '')).id}"
        for options, named in (
            (["Only"], ["post.poll.options"]),
            ([str(n) for n in range(11)], ["post.poll.options"]),
            (["Yes", " "], ["post.poll.options[1].text"]),
            (["x" * 101, "No"], ["post.poll.options[0].text"]),
        ):
            with pytest.raises(InvalidArgument) as error:
                await desk.create_post(owner, parent, "Ask", "Text", 0, options)
            assert fields(error) == named
        made = await desk.create_post(owner, parent, "Ask", "Text", 0, [" Yes ", "x" * 100])
        assert [o.text for o in made.poll.options] == ["Yes", "x" * 100]  # type: ignore[union-attr]
        assert (await desk.list_posts(owner, parent, 10, "")).total == 1


async def test_comments_thread_one_level_deep_oldest_first_and_only_their_author_changes_them(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        s, engagement = await scene(service, clock), service.engagement
        first = await engagement.comment(s.free_reader, s.free, "  Thank you ", "")
        assert first.text == "Thank you"
        first_name = f"{s.free}/comments/{first.id}"
        clock.advance(timedelta(seconds=1))
        reply = await engagement.comment(s.paid_reader, s.free, "Me too", first_name)
        assert reply.reply_to == first.id
        with pytest.raises(InvalidArgument) as error:
            await engagement.comment(s.owner, s.free, "Deeper", f"{s.free}/comments/{reply.id}")
        assert fields(error) == ["comment.reply_to"]
        with pytest.raises(InvalidArgument) as error:
            await engagement.comment(s.owner, s.paid, "Elsewhere", first_name)
        assert fields(error) == ["comment.reply_to"]
        for text in (" ", "x" * 2001):
            with pytest.raises(InvalidArgument) as error:
                await engagement.comment(s.free_reader, s.free, text, "")
            assert fields(error) == ["comment.text"]
        clock.advance(timedelta(seconds=1))
        await engagement.comment(s.owner, s.free, "Glad it helps", "")

        page_one = await engagement.comments(s.free_reader, s.free, 2, "")
        page_two = await engagement.comments(s.free_reader, s.free, 2, page_one.next_page_token)
        assert [c.text for c in page_one.items + page_two.items] == [
            "Thank you",
            "Me too",
            "Glad it helps",
        ]
        assert (page_one.total, page_two.next_page_token) == (3, "")

        # Another reader, or the stream's owner, neither edits nor deletes someone's comment.
        for other in (s.paid_reader, s.owner):
            with pytest.raises(PermissionDenied) as error:
                await engagement.edit_comment(other, first_name, ["text"], "Spam")
            assert reason(error) == "NOT_COMMENT_AUTHOR"
            with pytest.raises(PermissionDenied):
                await engagement.delete_comment(other, first_name)
        clock.advance(timedelta(minutes=5))
        edited = await engagement.edit_comment(s.free_reader, first_name, ["text"], "Thanks!")
        assert (edited.text, edited.edited_at) == (
            "Thanks!",
            START + timedelta(minutes=7, seconds=2),
        )
        with pytest.raises(InvalidArgument) as error:
            await engagement.edit_comment(s.free_reader, first_name, ["text"], "x" * 2001)
        assert fields(error) == ["comment.text"]

        # Deleting leaves a placeholder, so the reply under it still reads in its thread.
        erased = await engagement.delete_comment(s.free_reader, first_name)
        assert (erased.text, erased.deleted) == ("", True)
        thread = (await engagement.comments(s.owner, s.free, 10, "")).items
        assert [(c.text, c.deleted, c.reply_to) for c in thread] == [
            ("", True, None),
            ("Me too", False, first.id),
            ("Glad it helps", False, None),
        ]
        with pytest.raises(FailedPrecondition) as error:
            await engagement.edit_comment(s.free_reader, first_name, ["text"], "Back")
        assert reason(error) == "COMMENT_DELETED"
        assert (await service.desk.get_post(s.passerby, s.free)).comment_count == 2


async def test_the_streams_owner_hides_a_comment_from_all_but_its_author_and_shows_it_again(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        s, engagement = await scene(service, clock), service.engagement
        rude = await engagement.comment(s.free_reader, s.free, "Rude words", "")
        await engagement.comment(s.paid_reader, s.free, "Kind words", "")
        name = f"{s.free}/comments/{rude.id}"
        with pytest.raises(PermissionDenied) as error:
            await engagement.hide_comment(s.paid_reader, name, hidden=True)
        assert reason(error) == "NOT_STREAM_OWNER"

        hidden = await engagement.hide_comment(s.owner, name, hidden=True)
        assert hidden.hidden

        def seen(reader: Principal):
            return engagement.comments(reader, s.free, 10, "")

        assert [c.text for c in (await seen(s.paid_reader)).items] == ["Kind words"]
        assert (await seen(s.paid_reader)).total == 1
        assert [(c.text, c.hidden) for c in (await seen(s.free_reader)).items] == [
            ("Rude words", True),
            ("Kind words", False),
        ]
        assert [c.hidden for c in (await seen(s.owner)).items] == [True, False]
        assert (await service.desk.get_post(s.free_reader, s.free)).comment_count == 1
        # Nobody else can answer or even find the hidden comment.
        with pytest.raises(NotFound):
            await engagement.comment(s.paid_reader, s.free, "What?", name)

        shown = await engagement.hide_comment(s.owner, name, hidden=False)
        assert not shown.hidden
        assert [c.text for c in (await seen(s.paid_reader)).items] == ["Rude words", "Kind words"]
        assert (await service.desk.get_post(s.free_reader, s.free)).comment_count == 2
