"""Scheduled posts: a draft set to go out at a time is published by streams' job once its
time has come, exactly once (one stream.post_published) whatever runs at the same moment: the
job twice, another replica, its owner publishing or moving it, a run killed midway
(job_harness.py, SIGKILL inside its transaction); and not before."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, timedelta
from functools import partial
from pathlib import Path

import pytest

from chassis.clock import FrozenClock
from chassis.errors import FailedPrecondition, InvalidArgument
from services.streams.bootstrap import StreamsService
from services.streams.domain.streams import Post, PostState
from services.streams.events import POST_PUBLISHED
from tests.builders import outbox_messages, person
from tests.integration.streams.world import START, built_streams, practitioner
from tests.races import race

ATTEMPTS = 8
ROOT = Path(__file__).resolve().parents[3]
CHILD_SECONDS = 60


async def scheduled_post(service: StreamsService, owner, at, parent="") -> tuple[str, Post]:
    """A draft scheduled for `at` on `parent`, or on a new stream of the owner's."""
    if not parent:
        parent = f"streams/{(await service.desk.create_stream(owner, 'Breath', '')).id}"
    post = await service.desk.create_post(owner, parent, "Monday", "Out.", 0, scheduled_for=at)
    return f"{parent}/posts/{post.id}", post


async def test_a_scheduled_draft_goes_out_once_its_time_has_come(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner, reader = service.desk, practitioner(), person()
        name, post = await scheduled_post(service, owner, START + timedelta(hours=1))
        assert post.state is PostState.DRAFT and post.scheduled_for == START + timedelta(hours=1)
        await desk.follow(reader, name.rsplit("/posts/", 1)[0])

        clock.advance(timedelta(minutes=59))
        assert await desk.publish_due_posts() == 0
        assert (await desk.feed(reader, 20, "")).items == []

        clock.advance(timedelta(minutes=1, seconds=5))
        assert await desk.publish_due_posts() == 1
        published = await desk.get_post(owner, name)
        assert published.state is PostState.PUBLISHED
        assert published.published_at == clock.now()
        assert published.scheduled_for is None
        assert [p.id for p in (await desk.feed(reader, 20, "")).items] == [post.id]
        assert await desk.publish_due_posts() == 0
        events = await outbox_messages(service.runtime.database, POST_PUBLISHED)
        assert [(e.post, e.publish_time.ToDatetime(tzinfo=UTC)) for e in events] == [
            (name, clock.now())
        ]


async def test_a_replica_started_later_publishes_nothing_again(tmp_path):
    # What a restart leaves: the first run's publication and its event committed together.
    url = f"sqlite+aiosqlite:///{tmp_path / 'streams.db'}"
    clock = FrozenClock(START)
    async with built_streams(url, clock) as first:
        await scheduled_post(first, practitioner(), START + timedelta(minutes=5))
        clock.advance(timedelta(minutes=10))
        assert await first.desk.publish_due_posts() == 1
    async with built_streams(url, clock) as second:
        assert await second.desk.publish_due_posts() == 0
        assert len(await outbox_messages(second.runtime.database, POST_PUBLISHED)) == 1


async def test_a_run_killed_midway_publishes_nothing_and_the_next_run_publishes_each_once(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        owner = practitioner()
        first, _ = await scheduled_post(service, owner, START + timedelta(minutes=1))
        parent = first.rsplit("/posts/", 1)[0]
        second, _ = await scheduled_post(service, owner, START + timedelta(minutes=2), parent)
        clock.advance(timedelta(minutes=5))
        spec = {"database_url": empty_database_url, "now": clock.now().isoformat()}
        killed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "tests.integration.streams.job_harness", json.dumps(spec)],
            env=os.environ,
            cwd=ROOT,
            capture_output=True,
            timeout=CHILD_SECONDS,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
        # Its first publication died with its transaction: nothing out, no event.
        for name in (first, second):
            assert (await service.desk.get_post(owner, name)).state is PostState.DRAFT
        assert await outbox_messages(service.runtime.database, POST_PUBLISHED) == []

        assert await service.desk.publish_due_posts() == 2
        assert await service.desk.publish_due_posts() == 0
        events = await outbox_messages(service.runtime.database, POST_PUBLISHED)
        assert sorted(e.post for e in events) == sorted([first, second])


async def test_a_moved_or_cleared_schedule_is_kept(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        moved, _ = await scheduled_post(service, owner, START + timedelta(hours=1))
        parent = moved.rsplit("/posts/", 1)[0]
        cleared, _ = await scheduled_post(service, owner, START + timedelta(hours=1), parent)
        later = START + timedelta(days=2)
        fields = ("", "", 0)
        await desk.update_post(owner, moved, ["schedule_time"], *fields, None, later)
        await desk.update_post(owner, cleared, ["schedule_time"], *fields, None, None)

        clock.advance(timedelta(hours=2))
        assert await desk.publish_due_posts() == 0
        assert (await desk.get_post(owner, moved)).scheduled_for == later
        assert (await desk.get_post(owner, cleared)).scheduled_for is None

        clock.advance(timedelta(days=2))
        assert await desk.publish_due_posts() == 1
        assert (await desk.get_post(owner, moved)).state is PostState.PUBLISHED
        assert (await desk.get_post(owner, cleared)).state is PostState.DRAFT


async def test_a_schedule_in_the_past_too_far_ahead_or_on_a_published_post_is_refused(
    empty_database_url,
):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        stream = await desk.create_stream(owner, "Breath", "")
        parent = f"streams/{stream.id}"
        for at, reason in (
            (START, "in_the_past"),
            (START - timedelta(days=1), "in_the_past"),
            (START + timedelta(days=367), "too_far_ahead"),
        ):
            with pytest.raises(InvalidArgument) as error:
                await desk.create_post(owner, parent, "Monday", "Text", 0, scheduled_for=at)
            [violation] = error.value.violations
            assert (violation.field, violation.code) == ("post.schedule_time", reason)
        assert (await desk.list_posts(owner, parent, 20, "")).items == []

        name, _ = await scheduled_post(service, owner, None, parent)
        await desk.publish_post(owner, name)
        with pytest.raises(FailedPrecondition):
            await desk.update_post(
                owner, name, ["schedule_time"], "", "", 0, None, START + timedelta(hours=1)
            )
        assert (await desk.get_post(owner, name)).scheduled_for is None


async def test_the_job_run_at_once_with_its_owner_publishing_publishes_once(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        name, _ = await scheduled_post(service, owner, START + timedelta(minutes=1))
        clock.advance(timedelta(minutes=2))
        outcome = await race(
            [desk.publish_due_posts for _ in range(ATTEMPTS)]
            + [partial(desk.publish_post, owner, name)]
        )
        job_runs = [w for w in outcome.wins if isinstance(w, int)]
        by_owner = [w for w in outcome.wins if isinstance(w, Post)]
        assert sum(job_runs) + len(by_owner) == 1
        assert all(isinstance(e, FailedPrecondition) for e in outcome.losses)
        assert len(await outbox_messages(service.runtime.database, POST_PUBLISHED)) == 1


async def test_moving_a_schedule_while_the_job_runs_leaves_one_outcome(empty_database_url):
    clock = FrozenClock(START)
    async with built_streams(empty_database_url, clock) as service:
        desk, owner = service.desk, practitioner()
        name, _ = await scheduled_post(service, owner, START + timedelta(minutes=1))
        clock.advance(timedelta(minutes=2))
        later = clock.now() + timedelta(days=1)
        move = partial(desk.update_post, owner, name, ["schedule_time"], "", "", 0, None, later)
        outcome = await race([desk.publish_due_posts, move])
        post = await desk.get_post(owner, name)
        published = len(await outbox_messages(service.runtime.database, POST_PUBLISHED))
        if post.state is PostState.PUBLISHED:
            # The job won: the move found no draft.
            assert [type(e) for e in outcome.losses] == [FailedPrecondition]
            assert published == 1 and post.scheduled_for is None
        else:
            assert outcome.losses == [] and outcome.wins[0] == 0
            assert published == 0 and post.scheduled_for == later
