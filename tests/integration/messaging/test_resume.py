"""Resuming a live stream, on both databases: a stream opened with the cursor of the last
update its client saw is first replayed, from the live log, what that user may see and
missed (messages as they are now, a deleted one as a deletion; read receipts;
notifications), then CAUGHT_UP, then goes on live; a cursor forged, of another database, too
old or too far behind gets RESYNC instead. On PostgreSQL and RabbitMQ, messages sent through
two replicas while a stream resumes on one reach it each exactly once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Principal
from chassis.bus.rabbitmq import RabbitTransport
from chassis.driver_sql import Driver, DriverStatement
from chassis.ids import new_id
from chassis.media import MediaSettings
from chassis.migrations import upgrade
from estuary.catalog.v1 import events_pb2 as catalog_pb
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging import bootstrap, events
from services.messaging.live import PRUNE_MARGIN
from services.messaging.settings import MessagingSettings
from services.messaging.tables import live_updates
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.conftest import RabbitScope
from tests.infrastructure import postgres_database
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.test_live import (
    CHECK,
    QUIET_SECONDS,
    next_of,
    nothing_on,
    opened,
    pair,
    who,
)
from tests.integration.messaging.world import World, world

PAUSE = DriverStatement("SELECT pg_sleep(:seconds)")


async def resumed(
    w: World, user: Principal, cursor: str
) -> tuple[AsyncIterator[pb.LiveEvent], list[pb.LiveEvent], pb.LiveEvent]:
    """The user's stream resumed from a cursor: the stream, what it replayed, and the
    CAUGHT_UP or RESYNC that closed the replay."""
    stream = w.service.live.updates(user, cursor)
    assert (await next_of(stream)).WhichOneof("event") == "ready"
    replayed = []
    while True:
        event = await next_of(stream)
        if event.WhichOneof("event") in ("caught_up", "resync"):
            return stream, replayed, event
        replayed.append(event)


async def cursor_after(w: World, user: Principal, name: str, text: str, sender: Any) -> str:
    """Sends a message and returns the cursor the user's stream heard it with."""
    stream = await opened(w, user)
    await w.service.conversations.send(sender, name, text, "")
    heard = await next_of(stream)
    assert heard.message.text == text
    assert heard.cursor
    await stream.aclose()  # type: ignore[attr-defined]
    return heard.cursor


async def logged_updates(w: World) -> int:
    async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
        counted = await uow.connection.execute(sa.select(sa.func.count()).select_from(live_updates))
        return int(counted.scalar_one())


async def test_a_resumed_stream_is_replayed_what_it_missed_as_it_is_now_then_goes_live(
    empty_database_url,
):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        cursor = await cursor_after(w, pat, name, "Hello", ana)

        # While pat is away: two messages, one edited and one deleted, a read, a notification.
        tuesday = await desk.send(ana, name, "Tuesday?", "")
        oops = await desk.send(ana, name, "Wrong chat", "")
        await desk.edit(ana, f"{name}/messages/{tuesday.id}", "Wednesday?")
        await desk.delete(ana, f"{name}/messages/{oops.id}")
        await desk.mark_read(ana, name)
        await w.publish(
            events.PRACTITIONER_APPROVED,
            catalog_pb.PractitionerApproved(
                practitioner_id=new_id(), user_id=pat.user_id, display_name="Pat Ray"
            ),
        )

        stream, replayed, closing = await resumed(w, pat, cursor)
        assert [e.WhichOneof("event") for e in replayed] == [
            "message",
            "message",
            "read",
            "notification",
        ]
        edited, deleted, read, notification = replayed
        assert (edited.message.name, edited.message.text) == (
            f"{name}/messages/{tuesday.id}",
            "Wednesday?",
        )
        assert deleted.message.name == f"{name}/messages/{oops.id}"
        assert (deleted.message.text, deleted.message.HasField("delete_time")) == ("", True)
        assert read.read.receipt.user_id == ana.user_id
        assert read.read.receipt.last_read_message == f"{name}/messages/{oops.id}"
        assert notification.notification.kind == pb.NOTIFICATION_KIND_PRACTITIONER_APPROVED
        assert len({e.cursor for e in replayed}) == 4 and all(e.cursor for e in replayed)
        assert closing.WhichOneof("event") == "caught_up" and closing.cursor

        live = await desk.send(ana, name, "And now live", "")
        heard = await next_of(stream)
        assert heard.message.name == f"{name}/messages/{live.id}" and heard.cursor
        assert await nothing_on(stream)

        # Resuming from the last cursor seen replays nothing more.
        _, again, closing = await resumed(w, pat, heard.cursor)
        assert again == [] and closing.WhichOneof("event") == "caught_up"
        # Nor from CAUGHT_UP's, when nothing came after it.
        _, again, _ = await resumed(w, pat, closing.cursor)
        assert again == []


async def test_an_update_committed_while_the_log_is_read_comes_once(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        cursor = await cursor_after(w, pat, name, "Hello", ana)
        stream = w.service.live.updates(pat, cursor)
        assert (await next_of(stream)).WhichOneof("event") == "ready"  # listening, not read
        sent = await desk.send(ana, name, "At the seam", "")
        await asyncio.sleep(QUIET_SECONDS)  # its broadcast waits in the stream's listener
        replayed = await next_of(stream)
        assert replayed.message.name == f"{name}/messages/{sent.id}"
        assert (await next_of(stream)).WhichOneof("event") == "caught_up"
        assert await nothing_on(stream)  # its live copy is dropped at the seam


async def test_a_client_resuming_again_and_again_while_messages_commit_misses_none(
    empty_database_url, monkeypatch: pytest.MonkeyPatch
):
    execute_and_commit = Driver.execute_and_commit

    async def slow_to_commit(driver: Driver, steps: Any) -> Any:
        # Time between taking a position and COMMIT, in which a later one could commit first
        # (PostgreSQL's; SQLite's one writer holds the database throughout).
        pause = random.uniform(0, 0.02)
        if driver.dialect == "postgresql":
            answers = await execute_and_commit(driver, [*steps, (PAUSE, {"seconds": pause})])
            return answers[:-1]
        await asyncio.sleep(pause)
        return await execute_and_commit(driver, steps)

    monkeypatch.setattr(Driver, "execute_and_commit", slow_to_commit)
    async with world(empty_database_url, **CHECK) as w:
        desk = w.service.conversations
        _, pat, _ = await pair(w)
        _, _, closing = await resumed(w, pat, "")
        cursor = closing.cursor

        async def sends(tag: str) -> None:
            # A conversation each: sends to one conversation queue on its row.
            client = who(w)
            name = f"conversations/{(await desk.start(client, pat.user_id)).id}"
            for i in range(10):
                await desk.send(client, name, f"{tag}{i}", "")

        # Concurrent transactions take positions and commit in some order; a resume that read
        # a head past a position not yet committed would skip it for good.
        senders = asyncio.gather(*(sends(tag) for tag in "abcd"))
        heard: list[str] = []
        while not senders.done():
            stream, replayed, closing = await resumed(w, pat, cursor)
            await stream.aclose()  # type: ignore[attr-defined]
            heard += [e.message.text for e in replayed]
            cursor = closing.cursor
        await senders
        stream, replayed, _ = await resumed(w, pat, cursor)
        heard += [e.message.text for e in replayed]
        assert sorted(heard) == sorted(f"{tag}{i}" for tag in "abcd" for i in range(10))


async def test_a_resume_replays_only_what_the_user_may_see_now(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        quinn = who(w, await practitioner(w))
        group = await desk.start_group(ana, "Yoga", [pat.user_id, quinn.user_id])
        group_name = f"conversations/{group.id}"
        cursor = await cursor_after(w, quinn, group_name, "Welcome", ana)

        await desk.send(ana, group_name, "Before quinn left", "")
        await desk.remove_participant(quinn, group_name, quinn.user_id)
        await desk.send(ana, name, "Only for pat", "")

        _, replayed, closing = await resumed(w, quinn, cursor)
        assert replayed == []  # a group they left is no longer theirs, before or after
        assert closing.WhichOneof("event") == "caught_up"

        # Another user's cursor is only a place in the log: it gives the bearer their own.
        eve = who(w)
        _, replayed, closing = await resumed(w, eve, cursor)
        assert (replayed, closing.WhichOneof("event")) == ([], "caught_up")
        _, replayed, _ = await resumed(w, pat, cursor)
        assert [e.message.text for e in replayed] == [
            "Before quinn left",
            "Only for pat",
        ]


async def test_a_forged_or_foreign_cursor_gets_resync_and_the_stream_goes_on(
    empty_database_url, tmp_path: Path
):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        ana, pat, name = await pair(w)
        cursor = await cursor_after(w, pat, name, "Hello", ana)
        await w.service.conversations.send(ana, name, "Missed", "")
        altered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
        async with world(f"sqlite+aiosqlite:///{tmp_path}/other.db", **CHECK) as other:
            _, _, elsewhere = await resumed(other, pat, "")
        for forged in (altered, "not-a-cursor", "x" * 500, "%%%", elsewhere.cursor):
            stream, replayed, closing = await resumed(w, pat, forged)
            assert replayed == [], forged
            assert closing.resync.reason == pb.RESYNC_REASON_CURSOR_INVALID, forged
            assert closing.cursor  # where to go on from, once the client has listed
            await stream.aclose()  # type: ignore[attr-defined]
        stream, _, _ = await resumed(w, pat, altered)
        await w.service.conversations.send(ana, name, "Live again", "")
        assert (await next_of(stream)).message.text == "Live again"


async def test_a_cursor_too_old_or_too_far_behind_gets_resync(empty_database_url):
    async with world(
        empty_database_url, live_resume_max_updates=2, live_resume_retention_hours=1, **CHECK
    ) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        cursor = await cursor_after(w, pat, name, "Hello", ana)
        for text in ("one", "two"):
            await desk.send(ana, name, text, "")
        _, replayed, closing = await resumed(w, pat, cursor)
        assert len(replayed) == 2 and closing.WhichOneof("event") == "caught_up"
        await desk.send(ana, name, "three", "")
        _, replayed, closing = await resumed(w, pat, cursor)
        assert replayed == []
        assert closing.resync.reason == pb.RESYNC_REASON_TOO_FAR_BEHIND

        w.clock.advance(timedelta(hours=1, seconds=1))
        fresh = who(w, pat.user_id)  # a token that outlives the wait
        _, replayed, closing = await resumed(w, fresh, cursor)
        assert replayed == []
        assert closing.resync.reason == pb.RESYNC_REASON_CURSOR_EXPIRED


async def test_the_live_log_forgets_what_no_cursor_may_resume_from_but_keeps_its_head(
    empty_database_url,
):
    async with world(empty_database_url, live_resume_retention_hours=1, **CHECK) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        for text in ("one", "two", "three"):
            await desk.send(ana, name, text, "")
        logged = await logged_updates(w)
        assert logged >= 3
        assert await w.service.live.prune() == 0  # all still within the window
        w.clock.advance(timedelta(hours=1) + PRUNE_MARGIN + timedelta(seconds=1))
        assert await w.service.live.prune() == logged - 1
        assert await logged_updates(w) == 1
        fresh = who(w, pat.user_id)
        _, _, closing = await resumed(w, fresh, "")
        cursor = closing.cursor
        sent = await desk.send(ana, name, "after the prune", "")
        _, replayed, _ = await resumed(w, fresh, cursor)
        assert [e.message.name for e in replayed] == [f"{name}/messages/{sent.id}"]


@pytest.mark.rabbitmq
async def test_a_stream_resumed_while_two_replicas_send_gets_each_message_once_postgres(
    rabbit: RabbitScope, tmp_path: Path
):
    media = MediaSettings(folder=str(tmp_path / "media"), signing_secret="shared by the replicas")
    with postgres_database() as database_url:
        await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, database_url)
        replicas: list[Any] = []
        for _ in range(2):
            settings = MessagingSettings(
                database_url=database_url, grpc_port=0, media=media, **CHECK
            )
            transport = RabbitTransport(rabbit.url, rabbit.exchange, delivery_limit=3)
            await transport.start()
            replica = bootstrap.build(settings, transport=transport)
            await replica.live.start()
            replicas.append(replica)
        try:
            first, second = replicas
            pat_id = new_id()
            async with first.runtime.unit_of_work(MessagingUnitOfWork)() as uow:
                await uow.relations.practitioner(pat_id, new_id(), first.runtime.clock.now())
                await uow.commit()
            ana, pat = person(new_id()), person(pat_id)
            name = f"conversations/{(await first.conversations.start(ana, pat_id)).id}"
            await first.conversations.send(ana, name, "before", "")
            stream = first.live.updates(pat)
            assert (await next_of(stream)).WhichOneof("event") == "ready"
            cursor = (await next_of(stream)).cursor
            await stream.aclose()
            await second.conversations.send(ana, name, "while away", "")

            async def sends(replica: Any, tag: str) -> None:
                for i in range(15):
                    await replica.conversations.send(ana, name, f"{tag}{i}", "")

            texts = {f"{tag}{i}" for tag in "ab" for i in range(15)} | {"while away"}
            resumed_stream = second.live.updates(pat, cursor)

            async def heard_all() -> list[pb.LiveEvent]:
                got: list[pb.LiveEvent] = []
                async for event in resumed_stream:
                    got.append(event)
                    if sum(e.WhichOneof("event") == "message" for e in got) == len(texts):
                        return got
                return got

            # Messages commit on both replicas while the stream registers, reads the log and
            # replays: each must come once, from the replay or live, none lost at the seam.
            senders = [
                asyncio.create_task(sends(r, tag)) for r, tag in zip(replicas, "ab", strict=True)
            ]
            await asyncio.sleep(0.05)
            reader = asyncio.create_task(heard_all())
            await asyncio.gather(*senders)
            got = await asyncio.wait_for(reader, 20)
            heard = [e.message.text for e in got if e.WhichOneof("event") == "message"]
            assert sorted(heard) == sorted(texts)  # every one, each once
            assert "caught_up" in [e.WhichOneof("event") for e in got]
            assert await nothing_on(resumed_stream)
        finally:
            for replica in replicas:
                await replica.runtime.transport.close()
                await replica.runtime.database.dispose()
                for channel in replica.channels:
                    await channel.close()
