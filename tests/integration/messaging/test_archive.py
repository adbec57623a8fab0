"""Archiving, on both databases: a participant's archived conversation leaves their list (and
only theirs) for the archived list, comes back when someone else writes in it or when they
bring it back, and a stranger archives nothing; a cursor of one list is refused by the other."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.errors import InvalidArgument, NotFound
from chassis.ids import new_id
from tests.builders import person
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import world


async def test_an_archived_conversation_leaves_its_archivers_list_until_someone_writes(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        ana, bo = person(new_id()), person(new_id())
        with_ana = await desk.start(ana, pat.user_id)
        with_bo = await desk.start(bo, pat.user_id)
        name = f"conversations/{with_ana.id}"

        archived = await desk.archive(pat, name, archived=True)
        assert archived.archived
        assert [c.id for c in (await desk.page(pat, 0, "")).page.items] == [with_bo.id]
        shelf = (await desk.page(pat, 0, "", archived=True)).page.items
        assert [(c.id, c.archived) for c in shelf] == [(with_ana.id, True)]
        assert [c.id for c in (await desk.page(ana, 0, "")).page.items] == [with_ana.id]
        assert (await desk.archive(pat, name, archived=True)).archived  # again: unchanged

        await desk.send(pat, name, "A note to myself", "")  # their own words: still archived
        assert [c.id for c in (await desk.page(pat, 0, "", archived=True)).page.items] == [
            with_ana.id
        ]
        w.clock.advance(timedelta(minutes=1))
        await desk.send(ana, name, "Are you there?", "")
        back = [c.id for c in (await desk.page(pat, 0, "")).page.items]
        assert back == [with_ana.id, with_bo.id]
        assert (await desk.page(pat, 0, "", archived=True)).page.items == []

        await desk.archive(pat, name, archived=True)
        restored = await desk.archive(pat, name, archived=False)
        assert not restored.archived
        assert with_ana.id in [c.id for c in (await desk.page(pat, 0, "")).page.items]
        with pytest.raises(NotFound):
            await desk.archive(person(new_id()), name, archived=True)


async def test_a_cursor_belongs_to_its_list(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        for _ in range(3):
            await desk.start(person(new_id()), pat.user_id)
        first = await desk.page(pat, 1, "")
        assert first.page.next_page_token
        with pytest.raises(InvalidArgument) as refused:
            await desk.page(pat, 1, first.page.next_page_token, archived=True)
        assert [v.field for v in refused.value.violations] == ["page_token"]
