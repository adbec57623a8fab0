"""A practitioner's stream on both databases: its tiers by level, drafts seen by their owner
only, what a follower reads whole and what shows as a teaser, the feed across the streams a
reader follows, and nothing changed by anyone but the owner."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.clock import FrozenClock
from chassis.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from chassis.money import Money
from services.streams.events import POST_PUBLISHED, TIER_REPRICED
from tests.builders import outbox_messages, person
from tests.integration.streams.world import START, built_streams, follow_at, practitioner

EUR = "EUR"


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


async def test_a_stream_starts_with_its_free_tier_and_takes_priced_tiers_level_by_level(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "  Morning yoga ", "Daily practice")
        assert stream.title == "Morning yoga"
        assert [(t.level, t.display_name, t.price.amount_minor) for t in stream.tiers] == [
            (0, "Free", 0)
        ]
        await desk.create_tier(owner, f"streams/{stream.id}", "Friends", Money(500, EUR))
        await desk.create_tier(owner, f"streams/{stream.id}", "Inner circle", Money(1500, "USD"))
        read = await desk.get_stream(f"streams/{stream.id}")
        assert [(t.level, t.display_name, t.price) for t in read.tiers] == [
            (0, "Free", Money(0, EUR)),
            (1, "Friends", Money(500, EUR)),
            (2, "Inner circle", Money(1500, "USD")),
        ]
        renamed = await desk.update_tier(
            owner, f"streams/{stream.id}/tiers/1", ["display_name"], "Supporters", None
        )
        assert (renamed.display_name, renamed.price) == ("Supporters", Money(500, EUR))
        with pytest.raises(AlreadyExists):
            await desk.create_stream(owner, "A second one", "")


async def test_a_paid_tiers_new_price_is_said_once_and_a_rename_says_nothing(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        await desk.create_tier(owner, f"streams/{stream.id}", "Friends", Money(500, EUR))
        name = f"streams/{stream.id}/tiers/1"
        await desk.update_tier(owner, name, ["display_name"], "Supporters", None)
        await desk.update_tier(owner, name, ["price"], "", Money(500, EUR))
        assert await outbox_messages(service.runtime.database, TIER_REPRICED) == []
        clock.advance(timedelta(minutes=5))
        await desk.update_tier(owner, name, ["display_name", "price"], "Friends", Money(700, EUR))
        [repriced] = await outbox_messages(service.runtime.database, TIER_REPRICED)
        assert (repriced.tier, repriced.stream, repriced.level) == (
            name,
            f"streams/{stream.id}",
            1,
        )
        assert (repriced.price.amount_minor, repriced.price.currency) == (700, EUR)
        assert repriced.change_time.ToDatetime(START.tzinfo) == clock.now()
        # The same price again, or a rename, says nothing more.
        await desk.update_tier(owner, name, ["price"], "", Money(700, EUR))
        await desk.update_tier(owner, name, ["display_name"], "Close friends", None)
        assert len(await outbox_messages(service.runtime.database, TIER_REPRICED)) == 1


async def test_only_practitioners_run_a_stream(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        with pytest.raises(PermissionDenied):
            await service.desk.create_stream(person(), "Mine", "")


async def test_bad_input_is_refused_naming_the_field(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        with pytest.raises(InvalidArgument) as error:
            await desk.create_stream(owner, " ", "x" * 2001)
        assert fields(error) == ["stream.title", "stream.description"]
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        with pytest.raises(InvalidArgument) as error:
            await desk.create_tier(owner, parent, "Friends", Money(0, EUR))
        assert fields(error) == ["tier.price.amount_minor"]
        with pytest.raises(InvalidArgument) as error:
            await desk.create_tier(owner, parent, "x" * 61, Money(100, EUR))
        assert fields(error) == ["tier.display_name"]
        with pytest.raises(InvalidArgument) as error:
            await desk.create_post(owner, parent, "Hello", "", 0)
        assert fields(error) == ["post.body"]
        with pytest.raises(InvalidArgument) as error:
            await desk.create_post(owner, parent, "Hello", "Text", 1)
        assert fields(error) == ["post.level"]
        with pytest.raises(InvalidArgument) as error:
            await desk.create_post(owner, "streams/not-an-id", "Hello", "Text", 0)
        assert fields(error) == ["parent"]
        with pytest.raises(InvalidArgument) as error:
            await desk.update_stream(owner, parent, ["owner_user_id"], "t", "")
        assert fields(error) == ["update_mask"]
        with pytest.raises(InvalidArgument) as error:
            await desk.update_tier(owner, f"{parent}/tiers/0", ["price"], "", Money(100, EUR))
        assert fields(error) == ["tier.price"]
        with pytest.raises(InvalidArgument) as error:
            await desk.feed(owner, 10, "bm90LWEtdG9rZW4")
        assert fields(error) == ["page_token"]


async def test_nobody_but_the_owner_changes_a_stream_its_tiers_or_posts(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner, stranger = service.desk, practitioner(), practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        await desk.create_tier(owner, parent, "Friends", Money(500, EUR))
        draft = await desk.create_post(owner, parent, "Soon", "Draft text", 0)
        post_name = f"{parent}/posts/{draft.id}"
        attempts = [
            desk.update_stream(stranger, parent, ["title"], "Mine now", ""),
            desk.create_tier(stranger, parent, "Cheap", Money(1, EUR)),
            desk.update_tier(stranger, f"{parent}/tiers/1", ["price"], "", Money(1, EUR)),
            desk.create_post(stranger, parent, "Spam", "Spam", 0),
            desk.update_post(stranger, post_name, ["body"], "", "Changed", 0),
            desk.publish_post(stranger, post_name),
        ]
        for attempt in attempts:
            with pytest.raises(PermissionDenied):
                await attempt
        read = await desk.get_stream(parent)
        assert read.title == "Breath"
        assert [t.price for t in read.tiers] == [Money(0, EUR), Money(500, EUR)]
        # The draft is still the owner's, unpublished and unchanged, and nobody else sees it.
        assert (await desk.get_post(owner, post_name)).body == "Draft text"
        with pytest.raises(NotFound):
            await desk.get_post(stranger, post_name)
        assert (await desk.list_posts(stranger, parent, 10, "")).items == []
        assert await outbox_messages(service.runtime.database, POST_PUBLISHED) == []
        assert await outbox_messages(service.runtime.database, TIER_REPRICED) == []


async def test_a_follower_reads_posts_at_or_below_their_level_and_a_teaser_of_the_others(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner, reader, passerby = service.desk, practitioner(), person(), person()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        await desk.create_tier(owner, parent, "Friends", Money(500, EUR))
        free = await desk.create_post(owner, parent, "Welcome", "Breathe in.", 0)
        paid = await desk.create_post(owner, parent, "Deep work", "Hold for four.", 1)
        draft = await desk.create_post(owner, parent, "Unfinished", "Not yet.", 0)
        for post in (free, paid):
            clock.advance(timedelta(minutes=1))
            await desk.publish_post(owner, f"{parent}/posts/{post.id}")
        with pytest.raises(FailedPrecondition):
            await desk.publish_post(owner, f"{parent}/posts/{free.id}")

        follow = await desk.follow(reader, parent)
        assert follow.level == 0
        listed = await desk.list_posts(reader, parent, 10, "")
        assert [(p.title, p.body, p.locked) for p in listed.items] == [
            ("Deep work", "", True),
            ("Welcome", "Breathe in.", False),
        ]
        assert listed.total == 2
        locked = await desk.get_post(reader, f"{parent}/posts/{paid.id}")
        assert (locked.title, locked.level, locked.body, locked.locked) == (
            "Deep work",
            1,
            "",
            True,
        )
        # Someone who does not follow sees teasers only.
        assert [p.locked for p in (await desk.list_posts(passerby, parent, 10, "")).items] == [
            True,
            True,
        ]
        # The owner reads everything, drafts included.
        mine = await desk.list_posts(owner, parent, 10, "")
        assert [(p.title, p.locked) for p in mine.items] == [
            ("Unfinished", False),
            ("Deep work", False),
            ("Welcome", False),
        ]
        assert draft.id in {p.id for p in mine.items}

        published = await outbox_messages(service.runtime.database, POST_PUBLISHED)
        assert [(m.title, m.level, m.owner_user_id, m.stream) for m in published] == [
            ("Welcome", 0, owner.user_id, parent),
            ("Deep work", 1, owner.user_id, parent),
        ]

        # Following again keeps the follow; unfollowing makes every post a teaser again.
        assert (await desk.follow(reader, parent)).created_at == follow.created_at
        await desk.unfollow(reader, parent)
        assert all(p.locked for p in (await desk.list_posts(reader, parent, 10, "")).items)


async def test_the_feed_lists_the_followed_streams_posts_newest_first_page_by_page(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, reader = service.desk, person()
        published: list[str] = []
        parents: dict[str, str] = {}
        for name in ("Breath", "Strength", "Not followed"):
            owner = practitioner()
            stream = await desk.create_stream(owner, name, "")
            parent = parents[name] = f"streams/{stream.id}"
            for n in range(2):
                post = await desk.create_post(owner, parent, f"{name} {n}", "Text", 0)
                clock.advance(timedelta(seconds=1))
                await desk.publish_post(owner, f"{parent}/posts/{post.id}")
                published.append(post.title)
            await desk.create_post(owner, parent, f"{name} draft", "Text", 0)
            if name != "Not followed":
                await desk.follow(reader, parent)

        first = await desk.feed(reader, 3, "")
        second = await desk.feed(reader, 3, first.next_page_token)
        assert [p.title for p in first.items + second.items] == [
            "Strength 1",
            "Strength 0",
            "Breath 1",
            "Breath 0",
        ]
        assert (first.total, second.total, second.next_page_token) == (4, 4, "")
        assert not any(p.locked for p in first.items + second.items)
        # A page that finds nothing past its cursor still counts what the feed holds.
        await desk.unfollow(reader, parents["Breath"])
        past = await desk.feed(reader, 3, first.next_page_token)
        assert (past.items, past.total) == ([], 2)
        # Another reader's cursor is not this one's.
        with pytest.raises(InvalidArgument):
            await desk.feed(person(), 3, first.next_page_token)


async def test_other_services_page_through_the_followers_at_a_level(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        readers = [person() for _ in range(5)]
        paying = sorted(r.user_id for r in readers[:2])
        for reader in readers[:2]:
            await follow_at(service, stream.id, reader, 1)
        for reader in readers:
            await desk.follow(reader, parent)

        pages, token = [], ""
        while True:
            page = await desk.followers(parent, 0, 2, token)
            pages.append(page.items)
            token = page.next_page_token
            if not token:
                break
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [u for p in pages for u in p] == sorted(r.user_id for r in readers)
        assert (await desk.followers(parent, 1, 100, "")).items == paying
        assert (await desk.followers(parent, 2, 100, "")).items == []

        with pytest.raises(InvalidArgument) as error:
            await desk.followers(parent, -1, 100, "")
        assert fields(error) == ["min_level"]
        with pytest.raises(InvalidArgument) as error:
            await desk.followers(
                parent, 1, 2, (await desk.followers(parent, 0, 2, "")).next_page_token
            )
        assert fields(error) == ["page_token"]
        with pytest.raises(NotFound):
            await desk.followers("streams/0193c6b8-a1b2-7c3d-8e4f-5a6b7c8d9e0f", 0, 100, "")
