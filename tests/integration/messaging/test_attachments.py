"""Attachments by reference, on both databases: a message carries up to ten uploaded objects
("media/{id}", in the order sent; its text may then be empty), readers see them, a deletion
or the sender's erasure takes them away, and a bad, repeated or eleventh reference is refused
naming it (nothing sent)."""

from __future__ import annotations

import pytest

from chassis.errors import InvalidArgument
from chassis.ids import new_id
from tests.builders import person
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import world


async def test_a_message_carries_its_attachments_until_deleted(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        ana = person(new_id())
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        photos = [f"media/{new_id()}" for _ in range(2)]
        sent = await desk.send(ana, name, "", "", photos)
        assert (sent.text, sent.attachments) == ("", tuple(photos))
        [seen] = (await desk.messages(pat, name, 0, "")).items
        assert seen.attachments == tuple(photos)
        await desk.delete(ana, f"{name}/messages/{sent.id}")
        [gone] = (await desk.messages(pat, name, 0, "")).items
        assert gone.attachments == ()
        kept = await desk.send(ana, name, "And the plan", "", [f"media/{new_id()}"])
        await w.erase(ana.user_id)
        erased = next(m for m in (await desk.messages(pat, name, 0, "")).items if m.id == kept.id)
        assert (erased.text, erased.attachments) == ("", ())


async def test_bad_references_are_refused_by_name_and_nothing_is_sent(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        ana = person(new_id())
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        twice = f"media/{new_id()}"
        for references, field in (
            (["http://example.com/x.png"], "attachments[0]"),
            ([f"media/{new_id()}", "media/not-an-id"], "attachments[1]"),
            ([twice, twice], "attachments[1]"),
            ([f"media/{new_id()}" for _ in range(11)], "attachments"),
        ):
            with pytest.raises(InvalidArgument) as refused:
                await desk.send(ana, name, "Look", "", references)
            assert [v.field for v in refused.value.violations] == [field], references
        with pytest.raises(InvalidArgument) as empty:
            await desk.send(ana, name, "", "", [])
        assert [v.field for v in empty.value.violations] == ["text"]
        with pytest.raises(InvalidArgument):
            await desk.send(ana, name, "   ", "", [f"media/{new_id()}"])  # blank is not empty
        assert (await desk.messages(pat, name, 0, "")).items == []
