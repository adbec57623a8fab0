"""The demo's conversations: the demo client has written to the practitioners they booked,
and each answered, so a newcomer signed in as the client finds conversations with unread
messages at once.

Messaging learns who is a practitioner and who booked whom from catalog's and booking's
events, which wait in the outboxes while seeding: the seed tells it directly, as those
events will when the suite runs (they change nothing then)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.catalog.service_layer import Catalog
from services.messaging.uow import MessagingUnitOfWork
from suite.demo_bookings import BOOKED_WITH, _user

EXCHANGES = (
    (
        "Hello! Before my first session: should I bring anything, or wear something loose?",
        "Hi, welcome! Loose clothes are perfect, and a bottle of water. See you soon.",
    ),
    (
        "Could we focus on my lower back next time? It has been stiff since the weekend.",
        "Of course. Come five minutes early and we will look at it together first.",
    ),
)


async def seed_conversations(
    messaging: Any, catalog: Catalog, *, practitioner_user_ids: Sequence[str], client_id: str
) -> int:
    """Conversations of the demo client with the practitioners they booked; how many (none
    without a new client: a seeded client keeps what they had)."""
    if not client_id:
        return 0
    practitioners = await catalog.batch_get_practitioners([], list(practitioner_user_ids))
    booked = practitioners[:BOOKED_WITH]
    unit_of_work = messaging.runtime.unit_of_work(MessagingUnitOfWork)
    async with unit_of_work() as uow:
        now = uow.clock.now()
        for practitioner in booked:
            await uow.relations.practitioner(practitioner.user_id, practitioner.id, now)
            await uow.relations.client(practitioner.user_id, client_id, now)
        await uow.commit()
    client = _user(client_id)
    desk = messaging.conversations
    for practitioner, (question, answer) in zip(booked, EXCHANGES, strict=False):
        conversation = await desk.start(client, practitioner.user_id)
        name = f"conversations/{conversation.id}"
        asked = await desk.send(client, name, question, "")
        await desk.send(_user(practitioner.user_id), name, answer, f"{name}/messages/{asked.id}")
    return min(len(booked), len(EXCHANGES))
