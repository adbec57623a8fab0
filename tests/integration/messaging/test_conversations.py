"""Conversations on the real unit of work, on both databases: who may start one with whom
(a client with a practitioner, a practitioner with their clients, staff with anyone), one
per pair however often and concurrently asked, messages with replies, unread counts and
reads, blocks either way, nobody reading a conversation they are not in, and an erased
sender's words gone."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Role
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from chassis.tables import outbox
from estuary.booking.v1 import events_pb2 as booking_pb
from estuary.catalog.v1 import events_pb2 as catalog_pb
from services.messaging import events
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.integration.messaging.world import World, snapshot, world
from tests.races import race

STARTS = 10


async def practitioner(w: World) -> str:
    user_id = new_id()
    await w.publish(
        events.PRACTITIONER_APPROVED,
        catalog_pb.PractitionerApproved(
            practitioner_id=new_id(), user_id=user_id, display_name="Pat Ray"
        ),
    )
    return user_id


async def booked(w: World, client: str, practitioner_user_id: str) -> None:
    await w.publish(
        events.BOOKING_CONFIRMED,
        booking_pb.BookingConfirmed(booking=snapshot(client, practitioner_user_id)),
    )


async def test_who_may_start_a_conversation_with_whom(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana, bob, cai = await practitioner(w), new_id(), new_id(), new_id()
        started = await desk.start(person(ana), pat)
        assert started.participant_ids == tuple(sorted((ana, pat)))
        # One per pair, whoever asks and however often.
        assert (await desk.start(person(ana), pat)).id == started.id
        assert (await desk.start(person(pat), ana)).id == started.id

        with pytest.raises(PermissionDenied) as stranger:
            await desk.start(person(pat), bob)
        assert stranger.value.reason == "NOT_A_PRACTITIONER_OR_CLIENT"
        await booked(w, bob, pat)
        assert bob in (await desk.start(person(pat), bob)).participant_ids

        with pytest.raises(PermissionDenied):
            await desk.start(person(bob), cai)
        assert cai in (await desk.start(person(new_id(), Role.STAFF), cai)).participant_ids

        for caller, other, field in (
            (ana, ana, "participant_user_id"),
            (ana, "nope", "participant_user_id"),
        ):
            with pytest.raises(InvalidArgument) as bad:
                await desk.start(person(caller), other)
            assert bad.value.violations[0].field == field


async def test_messages_replies_unread_counts_and_reads(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana = await practitioner(w), new_id()
        name = f"conversations/{(await desk.start(person(ana), pat)).id}"
        sent = [await desk.send(person(ana), name, f"Hello {n}", "") for n in range(3)]

        theirs = await desk.page(person(pat), 0, "")
        [seen] = theirs.page.items
        assert (seen.unread, theirs.unread) == (3, 3)
        assert seen.last_message is not None and seen.last_message.id == sent[-1].id
        assert (await desk.page(person(ana), 0, "")).unread == 0

        first = f"{name}/messages/{sent[0].id}"
        answer = await desk.send(person(pat), name, "Hi! Tuesday works.", first)
        assert answer.reply_to_id == sent[0].id
        # Answering, the practitioner read what came before; the client has one unread.
        assert (await desk.get(person(pat), name)).unread == 0
        assert (await desk.get(person(ana), name)).unread == 1

        newest = await desk.messages(person(ana), name, 2, "")
        assert [m.text for m in newest.items] == ["Hi! Tuesday works.", "Hello 2"]
        assert newest.total == 4 and newest.next_page_token
        older = await desk.messages(person(ana), name, 2, newest.next_page_token)
        assert [m.text for m in older.items] == ["Hello 1", "Hello 0"]
        assert not older.next_page_token

        read = await desk.mark_read(person(ana), name)
        assert read.unread == 0 and (await desk.page(person(ana), 0, "")).unread == 0
        # Read receipts: each side sees how far the other has read.
        assert read.read_up_to == {ana: answer.id, pat: answer.id}
        await desk.send(person(ana), name, "Great", "")
        assert (await desk.get(person(pat), name)).read_up_to[pat] == answer.id

        other = f"conversations/{(await desk.start(person(new_id()), pat)).id}"
        bad_inputs = [
            ("", "", "text"),
            ("x" * 4001, "", "text"),
            ("bell \x07", "", "text"),
            ("fine", f"{other}/messages/{sent[0].id}", "reply_to"),
            ("fine", f"{name}/messages/{new_id()}", "reply_to"),
        ]
        for text, reply_to, field in bad_inputs:
            with pytest.raises(InvalidArgument) as bad:
                await desk.send(person(ana), name, text, reply_to)
            assert bad.value.violations[0].field == field, (text, reply_to)
        assert (await desk.messages(person(ana), name, 0, "")).total == 5


async def test_conversations_list_the_most_recently_active_first_page_by_page(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        ana = new_id()
        names = []
        for _ in range(3):
            w.clock.advance(timedelta(minutes=1))
            pat = await practitioner(w)
            names.append(f"conversations/{(await desk.start(person(ana), pat)).id}")
        # The oldest conversation comes first once a message is sent in it.
        w.clock.advance(timedelta(minutes=1))
        await desk.send(person(ana), names[0], "bump", "")
        first = await desk.page(person(ana), 2, "")
        rest = await desk.page(person(ana), 2, first.page.next_page_token)
        order = [f"conversations/{c.id}" for c in first.page.items + rest.page.items]
        assert order == [names[0], names[2], names[1]]
        assert first.page.total == 3
        with pytest.raises(InvalidArgument) as forged:
            await desk.page(person(new_id()), 2, first.page.next_page_token)
        assert forged.value.violations[0].field == "page_token"


async def test_nobody_reads_or_writes_a_conversation_they_are_not_in(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana, eve = await practitioner(w), new_id(), person(new_id())
        name = f"conversations/{(await desk.start(person(ana), pat)).id}"
        await desk.send(person(ana), name, "Private", "")
        for attempt in (
            desk.get(eve, name),
            desk.send(eve, name, "Let me in", ""),
            desk.messages(eve, name, 0, ""),
            desk.mark_read(eve, name),
        ):
            with pytest.raises(NotFound) as hidden:
                await attempt
            assert hidden.value.reason == "CONVERSATION_NOT_FOUND"
        assert (await desk.page(eve, 0, "")).page.items == []
        assert (await desk.messages(person(ana), name, 0, "")).total == 1


async def test_a_block_stops_messages_either_way_and_new_conversations(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana, bea = await practitioner(w), new_id(), new_id()
        name = f"conversations/{(await desk.start(person(ana), pat)).id}"
        await desk.block(person(pat), ana)
        for sender in (ana, pat):
            with pytest.raises(FailedPrecondition) as refused:
                await desk.send(person(sender), name, "Still there?", "")
            assert refused.value.reason == "BLOCKED"
        await desk.block(person(bea), pat)
        with pytest.raises(FailedPrecondition):
            await desk.start(person(bea), pat)
        await desk.unblock(person(pat), ana)
        assert (await desk.send(person(ana), name, "Thanks", "")).text == "Thanks"
        assert (await desk.messages(person(pat), name, 0, "")).total == 1
        with pytest.raises(InvalidArgument) as self_block:
            await desk.block(person(ana), ana)
        assert self_block.value.violations[0].field == "user_id"


async def test_an_erased_senders_messages_stay_without_their_words(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana = await practitioner(w), new_id()
        name = f"conversations/{(await desk.start(person(ana), pat)).id}"
        await desk.send(person(ana), name, "My address is Rua Nova 3", "")
        await desk.send(person(pat), name, "See you there", "")
        await w.erase(ana)
        found = {m.sender_id: m for m in (await desk.messages(person(pat), name, 0, "")).items}
        assert (found[ana].text, found[ana].sender_erased) == ("", True)
        assert (found[pat].text, found[pat].sender_erased) == ("See you there", False)


async def test_concurrent_starts_by_a_pair_make_one_conversation(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana = await practitioner(w), new_id()
        await booked(w, ana, pat)
        # Half ask as the client, half as the practitioner.
        pairs = [(ana, pat) if n % 2 else (pat, ana) for n in range(STARTS)]
        outcome = await race([partial(desk.start, person(me), other) for me, other in pairs])
        assert outcome.losses == []
        assert len({c.id for c in outcome.wins}) == 1
        assert (await desk.page(person(ana), 0, "")).page.total == 1


async def test_a_participant_reports_anothers_message_to_staff_once(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana, eve = await practitioner(w), new_id(), new_id()
        name = f"conversations/{(await desk.start(person(ana), pat)).id}"
        mine = await desk.send(person(ana), name, "Hello", "")
        rude = await desk.send(person(pat), name, "Something rude", "")
        message = f"{name}/messages/{rude.id}"
        report = await desk.report(person(ana), message, "  Insulting  ")
        assert (report.reporter_id, report.reason, report.message.text) == (
            ana,
            "Insulting",
            "Something rude",
        )
        assert (await desk.report(person(ana), message, "again")).id == report.id

        refusals = [
            (person(ana), f"{name}/messages/{mine.id}", "x", InvalidArgument, "message"),
            (person(ana), "messages/nope", "x", InvalidArgument, "message"),
            (person(ana), message, " ", InvalidArgument, "reason"),
            (person(ana), message, "x" * 501, InvalidArgument, "reason"),
            (person(eve), message, "x", NotFound, None),
            (person(ana), f"{name}/messages/{new_id()}", "x", NotFound, None),
        ]
        for caller, reported, reason, error, field in refusals:
            with pytest.raises(error) as refused:
                await desk.report(caller, reported, reason)
            if field is not None:
                assert refused.value.violations[0].field == field, (reported, reason)

        staff = person(new_id(), Role.STAFF)
        listed = await desk.reports(staff, 0, "")
        assert [(r.id, r.message.id) for r in listed.items] == [(report.id, rude.id)]
        assert listed.total == 1
        with pytest.raises(PermissionDenied):
            await desk.reports(person(ana), 0, "")


async def test_a_sent_message_leaves_no_event_waiting_in_the_outbox(empty_database_url):
    # message.sent is announced: no queue of the suite is bound for it, and it is done once
    # published rather than kept and retried until one is.
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat, ana = await practitioner(w), new_id()
        name = f"conversations/{(await desk.start(person(ana), pat)).id}"
        await desk.send(person(ana), name, "hello", "")
        w.clock.advance(timedelta(minutes=1))  # past the sweep's grace
        relay = w.service.runtime.relay
        await relay.relay_once()
        assert relay.stats.unroutable == 0
        async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
            waiting = await uow.connection.execute(
                sa.select(outbox.c.event_type).where(outbox.c.published_at.is_(None))
            )
            assert waiting.scalars().all() == []
