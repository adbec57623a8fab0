"""Editing and deleting messages, on both databases: only the sender edits or deletes; the
others read the new text and when it changed, or that it was deleted (no text); what it said
before stays for staff only, and goes with an erased sender's account; an edit never brings
back a deleted message, however the two race; each change reaches the participants live."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from chassis.auth.principal import Role
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from tests.builders import person
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import World, world
from tests.races import race


async def pair(w: World):
    desk = w.service.conversations
    pat = person(await practitioner(w))
    ana = person(new_id())
    name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
    return desk, ana, pat, name


async def test_the_sender_edits_and_deletes_and_the_others_see_it(empty_database_url):
    async with world(empty_database_url) as w:
        desk, ana, pat, name = await pair(w)
        sent = await desk.send(ana, name, "Is Tuesday at 10 free?", "")
        message = f"{name}/messages/{sent.id}"
        edited = await desk.edit(ana, message, "Is Tuesday at 11 free?")
        assert (edited.text, edited.edited_at) == ("Is Tuesday at 11 free?", w.clock.now())
        [seen] = (await desk.messages(pat, name, 0, "")).items
        assert (seen.text, seen.edited_at, seen.deleted_at) == (
            "Is Tuesday at 11 free?",
            w.clock.now(),
            None,
        )
        assert (await desk.edit(ana, message, "Is Tuesday at 11 free?")).text == edited.text
        with pytest.raises(PermissionDenied) as theirs:
            await desk.edit(pat, message, "Mine now")
        assert theirs.value.reason == "NOT_YOUR_MESSAGE"
        with pytest.raises(PermissionDenied):
            await desk.delete(pat, message)
        with pytest.raises(NotFound):
            await desk.edit(person(new_id()), message, "A stranger's words")
        with pytest.raises(InvalidArgument) as empty:
            await desk.edit(ana, message, "   ")
        assert [v.field for v in empty.value.violations] == ["text"]

        deleted = await desk.delete(ana, message)
        assert (deleted.text, deleted.deleted_at) == ("", w.clock.now())
        [gone] = (await desk.messages(pat, name, 0, "")).items
        assert (gone.id, gone.text, gone.deleted_at is not None) == (sent.id, "", True)
        assert (await desk.delete(ana, message)).deleted_at == deleted.deleted_at
        with pytest.raises(FailedPrecondition) as late:
            await desk.edit(ana, message, "Back again")
        assert late.value.reason == "MESSAGE_DELETED"


async def test_staff_alone_read_what_a_message_said_before(empty_database_url):
    async with world(empty_database_url) as w:
        desk, ana, pat, name = await pair(w)
        sent = await desk.send(ana, name, "first words", "")
        message = f"{name}/messages/{sent.id}"
        await desk.edit(ana, message, "second words")
        await desk.delete(ana, message)
        staff = person(new_id(), Role.STAFF)
        now, revisions = await desk.history(staff, message)
        assert now.text == "" and now.deleted_at is not None
        assert [(r.text, r.reason) for r in revisions] == [
            ("first words", "edited"),
            ("second words", "deleted"),
        ]
        for reader in (ana, pat):
            with pytest.raises(PermissionDenied):
                await desk.history(reader, message)
        await w.erase(ana.user_id)
        _, after_erasure = await desk.history(staff, message)
        assert after_erasure == []


async def test_an_edit_racing_a_deletion_never_brings_the_words_back(empty_database_url):
    async with world(empty_database_url) as w:
        desk, ana, _, name = await pair(w)
        for round_ in range(5):
            sent = await desk.send(ana, name, f"draft {round_}", "")
            message = f"{name}/messages/{sent.id}"
            await race(
                [
                    lambda message=message: desk.edit(ana, message, "rewritten"),
                    lambda message=message: desk.delete(ana, message),
                ]
            )
            staff = person(new_id(), Role.STAFF)
            now, revisions = await desk.history(staff, message)
            assert (now.text, now.deleted_at is not None) == ("", True), round_
            assert revisions[-1].reason == "deleted"


async def test_an_edit_reaches_the_participants_live(empty_database_url):
    async with world(empty_database_url, live_check_seconds=0.05) as w:
        await w.service.live.start()
        desk, ana, pat, name = await pair(w)
        stream = w.service.live.updates(
            replace(person(pat.user_id), expires_at=w.clock.now() + timedelta(hours=1))
        )
        assert (await asyncio.wait_for(anext(stream), 5)).WhichOneof("event") == "ready"
        assert (await asyncio.wait_for(anext(stream), 5)).WhichOneof("event") == "caught_up"
        sent = await desk.send(ana, name, "Tuesday?", "")
        assert (await asyncio.wait_for(anext(stream), 5)).message.text == "Tuesday?"
        await desk.edit(ana, f"{name}/messages/{sent.id}", "Wednesday?")
        heard = await asyncio.wait_for(anext(stream), 5)
        assert (heard.message.text, heard.message.HasField("edit_time")) == ("Wednesday?", True)
