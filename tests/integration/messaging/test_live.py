"""Live streams on the real unit of work, on both databases: a stream opens READY and then
carries its user's new messages, read receipts, typing and notifications, only once their
change has committed and only to the conversation's participants; it ends when the token
expires, when the account is suspended, and when its reader falls too far behind. On
PostgreSQL and RabbitMQ, a message sent through one messaging replica reaches a stream
served by another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chassis.accounts import AccountStatus
from chassis.auth.principal import Principal
from chassis.bus.rabbitmq import RabbitTransport
from chassis.errors import FailedPrecondition, PermissionDenied, ResourceExhausted, Unauthenticated
from chassis.ids import new_id
from chassis.media import MediaSettings
from chassis.migrations import upgrade
from estuary.catalog.v1 import events_pb2 as catalog_pb
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging import bootstrap, events
from services.messaging.live import BACKLOG
from services.messaging.settings import MessagingSettings
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.conftest import RabbitScope
from tests.infrastructure import postgres_database
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import World, world

WAIT_SECONDS = 5.0
QUIET_SECONDS = 0.3
CHECK = {"live_check_seconds": 0.05}


def who(w: World, user_id: str | None = None) -> Principal:
    """A signed-in user whose token lives an hour past the world's frozen now."""
    return replace(person(user_id or new_id()), expires_at=w.clock.now() + timedelta(hours=1))


async def opened(w: World, who: Principal) -> AsyncIterator[pb.LiveEvent]:
    """The user's stream, past its READY and CAUGHT_UP (a stream not resumed)."""
    stream = w.service.live.updates(who)
    first = await asyncio.wait_for(anext(stream), WAIT_SECONDS)
    assert first.WhichOneof("event") == "ready"
    second = await asyncio.wait_for(anext(stream), WAIT_SECONDS)
    assert second.WhichOneof("event") == "caught_up"
    assert second.cursor
    return stream


async def next_of(stream: AsyncIterator[pb.LiveEvent]) -> pb.LiveEvent:
    return await asyncio.wait_for(anext(stream), WAIT_SECONDS)


async def nothing_on(stream: AsyncIterator[pb.LiveEvent]) -> bool:
    try:
        await asyncio.wait_for(anext(stream), QUIET_SECONDS)
    except TimeoutError:
        return True
    return False


async def pair(w: World) -> tuple[Principal, Principal, str]:
    """A client and a practitioner with a conversation: (ana, pat, its name)."""
    pat_id = await practitioner(w)
    ana, pat = who(w), who(w, pat_id)
    started = await w.service.conversations.start(ana, pat_id)
    return ana, pat, f"conversations/{started.id}"


async def test_a_stream_carries_what_its_participants_do_once_committed(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        ana_stream, pat_stream = await opened(w, ana), await opened(w, pat)
        eve_stream = await opened(w, who(w))

        sent = await desk.send(ana, name, "Is Tuesday free?", "")
        for stream in (pat_stream, ana_stream):
            heard = await next_of(stream)
            assert heard.message.name == f"{name}/messages/{sent.id}"
            assert heard.message.text == "Is Tuesday free?"
        await desk.typing(pat, name)
        typing = await next_of(ana_stream)
        assert (typing.typing.conversation, typing.typing.user_id) == (name, pat.user_id)
        await desk.mark_read(pat, name)
        read = (await next_of(ana_stream)).read
        assert (read.conversation, read.receipt.user_id) == (name, pat.user_id)
        assert read.receipt.last_read_message == f"{name}/messages/{sent.id}"
        assert (await next_of(pat_stream)).WhichOneof("event") == "read"  # their other devices
        assert await nothing_on(eve_stream)
        assert await nothing_on(pat_stream)  # nobody hears their own typing


async def test_a_refused_change_tells_no_one(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        desk = w.service.conversations
        ana, pat, name = await pair(w)
        pat_stream = await opened(w, pat)
        await desk.block(ana, pat.user_id)
        with pytest.raises(FailedPrecondition):
            await desk.send(pat, name, "Still there?", "")
        with pytest.raises(FailedPrecondition):
            await desk.typing(ana, name)
        assert await nothing_on(pat_stream)


async def test_a_new_notification_reaches_its_recipients_stream(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        pat_id = new_id()
        stream = await opened(w, who(w, pat_id))
        approved = catalog_pb.PractitionerApproved(
            practitioner_id=new_id(), user_id=pat_id, display_name="Pat Ray"
        )
        event = await w.publish(events.PRACTITIONER_APPROVED, approved)
        pushed = (await next_of(stream)).notification
        assert pushed.kind == pb.NOTIFICATION_KIND_PRACTITIONER_APPROVED
        assert await w.notifications_of(pat_id) == 1
        await w.deliver(event)  # a redelivery makes no notification, so pushes none
        assert await nothing_on(stream)


async def test_a_stream_ends_when_its_token_expires(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        short = replace(who(w), expires_at=w.clock.now() + timedelta(minutes=1))
        stream = await opened(w, short)
        w.clock.advance(timedelta(minutes=1))
        with pytest.raises(Unauthenticated) as ended:
            await next_of(stream)
        assert ended.value.reason == "TOKEN_EXPIRED"


async def test_a_stream_ends_when_its_account_is_suspended(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        ana = who(w)
        stream = await opened(w, ana)
        w.service.runtime.accounts.note(ana.user_id, AccountStatus.SUSPENDED)
        with pytest.raises(PermissionDenied) as ended:
            await next_of(stream)
        assert ended.value.reason == "ACCOUNT_SUSPENDED"


async def test_a_reader_too_far_behind_is_told_to_reconnect(empty_database_url):
    async with world(empty_database_url, **CHECK) as w:
        await w.service.live.start()
        ana = who(w)
        stream = await opened(w, ana)
        update = pb.LiveEvent(typing=pb.TypingUpdate(conversation="conversations/x"))
        for _ in range(BACKLOG + 1):
            w.service.live.send([ana.user_id], update)
        await asyncio.sleep(QUIET_SECONDS)  # every broadcast handed to the listener
        with pytest.raises(ResourceExhausted) as ended:
            await next_of(stream)
        assert ended.value.reason == "FELL_BEHIND"
        assert w.service.live.streams_of(ana.user_id) == 0  # its listener is gone


async def test_a_user_holds_only_so_many_streams_and_a_closed_one_frees_its_place(
    empty_database_url,
):
    async with world(empty_database_url, live_streams_per_user=2, **CHECK) as w:
        ana, bea = who(w), who(w)
        first, second = await opened(w, ana), await opened(w, ana)
        with pytest.raises(ResourceExhausted) as refused:
            await opened(w, ana)
        assert refused.value.reason == "TOO_MANY_STREAMS"
        assert w.service.live.streams_of(ana.user_id) == 2
        await opened(w, bea)  # another user's streams are theirs alone
        await first.aclose()
        third = await opened(w, ana)
        assert w.service.live.streams_of(ana.user_id) == 2
        await second.aclose()
        await third.aclose()
        assert w.service.live.streams_of(ana.user_id) == 0


@pytest.mark.rabbitmq
async def test_a_message_sent_through_one_replica_reaches_a_stream_on_another_postgres(
    rabbit: RabbitScope, tmp_path: Path
):
    url = rabbit.url
    media = MediaSettings(folder=str(tmp_path / "media"), signing_secret="shared by the replicas")
    with postgres_database() as database_url:
        await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, database_url)
        replicas: list[Any] = []
        for _ in range(2):
            settings = MessagingSettings(
                database_url=database_url, grpc_port=0, media=media, **CHECK
            )
            transport = RabbitTransport(url, rabbit.exchange, delivery_limit=3)
            await transport.start()
            replica = bootstrap.build(settings, transport=transport)
            await replica.live.start()
            replicas.append(replica)
        try:
            first, second = replicas
            pat_id = new_id()
            async with second.runtime.unit_of_work(MessagingUnitOfWork)() as uow:
                await uow.relations.practitioner(pat_id, new_id(), second.runtime.clock.now())
                await uow.commit()
            ana, pat = person(new_id()), person(pat_id)
            started = await second.conversations.start(ana, pat_id)
            name = f"conversations/{started.id}"
            on_first = first.live.updates(pat)
            assert (await next_of(on_first)).WhichOneof("event") == "ready"
            assert (await next_of(on_first)).WhichOneof("event") == "caught_up"
            sent = await second.conversations.send(ana, name, "Across replicas", "")
            heard = await next_of(on_first)
            assert heard.message.name == f"{name}/messages/{sent.id}"
        finally:
            for replica in replicas:
                await replica.runtime.transport.close()
                await replica.runtime.database.dispose()
                for channel in replica.channels:
                    await channel.close()
