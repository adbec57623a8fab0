"""A stream's analytics, for its owner and staff only: followers per tier level at the end
of each UTC day of the window (from every follow, level change and unfollow, an erased
follower's past kept as a count), and the likes, saves, comments and poll votes of the posts
published in the window."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from chassis.auth.principal import Role
from chassis.clock import FrozenClock
from chassis.errors import InvalidArgument, PermissionDenied
from chassis.money import Money
from services.streams.bootstrap import StreamsService
from services.streams.uow import StreamsUnitOfWork
from tests.builders import person
from tests.integration.streams.world import START, built_streams, practitioner
from tests.races import race

DAY = timedelta(days=1)


async def raise_level(service: StreamsService, clock: FrozenClock, stream_id: str, user_id: str):
    """Payments' word that a follower paid for level 1."""
    async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
        assert await uow.follows.set_level(stream_id, user_id, 1, clock.now())
        await uow.commit()


def counts(found) -> list[tuple[str, list[tuple[int, int]], int]]:
    return [(d.day.isoformat(), list(d.by_level), d.total) for d in found.subscribers]


async def test_followers_per_level_each_day_follow_every_change(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        name = f"streams/{stream.id}"
        await desk.create_tier(owner, name, "Circle", Money(900, "EUR"))
        ana, ben, cy = person(), person(), person()
        await desk.follow(ana, name)
        await desk.follow(ben, name)
        clock.advance(DAY)
        await raise_level(service, clock, stream.id, ben.user_id)
        await desk.follow(cy, name)
        # Following again changes nothing, in the stream or its history.
        await desk.follow(ana, name)
        clock.advance(DAY)
        await desk.unfollow(ana, name)
        async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
            await uow.follows.forget(cy.user_id, clock.now())
            await uow.commit()

        found = await service.analytics.analytics(owner, f"{name}/analytics", 4)
        assert counts(found) == [
            ("2026-11-29", [(0, 0), (1, 0)], 0),
            ("2026-11-30", [(0, 2), (1, 0)], 2),
            ("2026-12-01", [(0, 2), (1, 1)], 3),
            ("2026-12-02", [(0, 0), (1, 1)], 1),
        ]
        # The erased follower's past is counted under an id that names nobody.
        async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
            changes = await uow.analytics.follow_changes(stream.id, clock.now() + DAY)
        assert cy.user_id not in {c.user_id for c in changes}
        # 30 days when none is asked.
        assert (
            len((await service.analytics.analytics(owner, f"{name}/analytics", 0)).subscribers)
            == 30
        )


async def test_each_recent_posts_engagement_is_counted(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, engagement, owner = service.desk, service.engagement, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        name = f"streams/{stream.id}"
        old = await desk.create_post(owner, name, "Old", "Text", 0)
        await desk.publish_post(owner, f"{name}/posts/{old.id}")
        clock.advance(3 * DAY)
        asked = await desk.create_post(owner, name, "Ask", "Which?", 0, ["A", "B"])
        told = await desk.create_post(owner, name, "Tell", "This", 0)
        for post in (asked, told):
            await desk.publish_post(owner, f"{name}/posts/{post.id}")
        draft = await desk.create_post(owner, name, "Draft", "Later", 0)
        readers = [person() for _ in range(3)]
        at = f"{name}/posts/{asked.id}"
        for n, reader in enumerate(readers):
            await desk.follow(reader, name)
            await engagement.like(reader, at)
            await engagement.vote(reader, at, n % 2)
        await engagement.save(readers[0], at)
        await engagement.comment(readers[0], at, "Morning", "")
        hidden = await engagement.comment(readers[1], at, "Spam", "")
        await engagement.hide_comment(owner, f"{at}/comments/{hidden.id}", hidden=True)
        await engagement.like(readers[2], f"{name}/posts/{told.id}")

        found = await service.analytics.analytics(owner, f"{name}/analytics", 2)
        assert [(p.post_id, p.likes, p.saves, p.comments, p.poll_votes) for p in found.posts] == [
            (told.id, 1, 0, 0, 0),
            (asked.id, 3, 1, 1, 3),
        ]
        assert draft.id not in {p.post_id for p in found.posts}
        assert old.id in {
            p.post_id
            for p in (await service.analytics.analytics(owner, f"{name}/analytics", 5)).posts
        }


async def test_only_the_owner_and_staff_read_a_streams_analytics(empty_database_url):
    async with built_streams(empty_database_url, FrozenClock(START)) as service:
        owner, rival, follower = practitioner(), practitioner(), person()
        stream = await service.desk.create_stream(owner, "Breath", "")
        name = f"streams/{stream.id}/analytics"
        await service.desk.follow(follower, f"streams/{stream.id}")
        for stranger in (rival, follower):
            with pytest.raises(PermissionDenied) as refused:
                await service.analytics.analytics(stranger, name, 7)
            assert refused.value.reason == "NOT_STREAM_OWNER"
        staff = await service.analytics.analytics(person(None, Role.STAFF), name, 7)
        assert staff.subscribers[-1].total == 1
        for days in (-1, 367):
            with pytest.raises(InvalidArgument) as bad:
                await service.analytics.analytics(owner, name, days)
            assert [v.field for v in bad.value.violations] == ["days"]
        with pytest.raises(InvalidArgument):
            await service.analytics.analytics(owner, f"streams/{stream.id}", 7)


async def test_a_follow_and_an_unfollow_sent_many_times_at_once_are_each_one_change(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner, reader = service.desk, practitioner(), person()
        stream = await desk.create_stream(owner, "Breath", "")
        name = f"streams/{stream.id}"
        follows = await race([partial(desk.follow, reader, name) for _ in range(8)])
        assert len(follows.wins) == 8
        clock.advance(DAY)
        await race([partial(desk.unfollow, reader, name) for _ in range(8)])
        async with service.runtime.unit_of_work(StreamsUnitOfWork)() as uow:
            changes = await uow.analytics.follow_changes(stream.id, clock.now() + DAY)
        assert [(c.user_id, c.level) for c in changes] == [
            (reader.user_id, 0),
            (reader.user_id, None),
        ]
        found = await service.analytics.analytics(owner, f"{name}/analytics", 2)
        assert [d.total for d in found.subscribers] == [1, 0]
