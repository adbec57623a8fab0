"""Searching one's messages, on both databases (PostgreSQL's full text, SQLite's FTS5): every
word must be in a message, in any conversation the searcher is in and no other; edits are
found by their new words only, deleted messages not at all; pages run newest first; a query
without a word is refused naming it, and FTS syntax in it is only words."""

from __future__ import annotations

import pytest

from chassis.errors import InvalidArgument
from chassis.ids import new_id
from tests.builders import person
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import world


async def test_a_search_finds_ones_own_conversations_messages_holding_every_word(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        ana, bo = person(new_id()), person(new_id())
        with_ana = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        with_bo = f"conversations/{(await desk.start(bo, pat.user_id)).id}"
        tuesday = await desk.send(ana, with_ana, "Is the yoga class on Tuesday?", "")
        await desk.send(bo, with_bo, "Yoga on Tuesday suits me too", "")
        await desk.send(ana, with_ana, "Bring a mat", "")

        mine = await desk.search(ana, "tuesday YOGA", 0, "")
        assert [m.id for m in mine.items] == [tuesday.id] and mine.total == 1
        theirs = await desk.search(pat, "yoga tuesday", 0, "")
        assert [m.text for m in theirs.items] == [
            "Yoga on Tuesday suits me too",
            "Is the yoga class on Tuesday?",
        ]
        assert (await desk.search(ana, "yoga mat", 0, "")).items == []  # not in one message
        assert (await desk.search(person(new_id()), "yoga", 0, "")).items == []

        first = await desk.search(pat, "yoga", 1, "")
        assert first.next_page_token and first.total == 2
        second = await desk.search(pat, "yoga", 1, first.next_page_token)
        assert [m.id for m in second.items] == [tuesday.id] and not second.next_page_token
        with pytest.raises(InvalidArgument) as other_query:
            await desk.search(pat, "mat", 1, first.next_page_token)
        assert [v.field for v in other_query.value.violations] == ["page_token"]


async def test_edits_and_deletions_change_what_is_found(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        ana = person(new_id())
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        sent = await desk.send(ana, name, "See you on Monday", "")
        await desk.edit(ana, f"{name}/messages/{sent.id}", "See you on Wednesday")
        assert (await desk.search(pat, "monday", 0, "")).items == []
        assert [m.id for m in (await desk.search(pat, "wednesday", 0, "")).items] == [sent.id]
        await desk.delete(ana, f"{name}/messages/{sent.id}")
        assert (await desk.search(pat, "wednesday", 0, "")).items == []


async def test_a_query_without_a_word_is_refused_and_syntax_is_only_words(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w))
        ana = person(new_id())
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        await desk.send(ana, name, "NEAR the OR gate, AND the * star", "")
        for query in ("", "   ", "?!*", "x" * 201):
            with pytest.raises(InvalidArgument) as refused:
                await desk.search(ana, query, 0, "")
            assert [v.field for v in refused.value.violations] == ["query"], query
        found = await desk.search(ana, 'near" OR "gate* AND (star', 0, "")
        assert len(found.items) == 1
        # "or" is a word like any other: a message without "gate" is not found by it.
        assert (await desk.search(ana, "star OR planet", 0, "")).items == []
