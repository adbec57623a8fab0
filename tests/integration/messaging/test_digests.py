"""Digests of unread messages, on both databases: a message left unread past the delay is
mailed once, every conversation's in one mail, with each sender's newest words; what was read
in time, what a digest already told, and a user who switched digests off get nothing; a user
gets at most one digest per delay; two runs at once queue one mail."""

from __future__ import annotations

from datetime import timedelta

from chassis.auth.principal import Principal
from chassis.ids import new_id
from estuary.catalog.v1 import events_pb2 as catalog_pb
from services.messaging import events
from services.messaging.domain.notifications import Channel, Kind
from tests.builders import person
from tests.integration.messaging.world import World, world
from tests.races import race

DELAY = timedelta(minutes=15)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


async def practitioner(w: World, email: str) -> Principal:
    """A registered user (with an address and a name) whom catalog approved."""
    user_id = await w.register(email)
    await w.publish(
        events.PRACTITIONER_APPROVED,
        catalog_pb.PractitionerApproved(
            practitioner_id=new_id(), user_id=user_id, display_name="Pat Ray"
        ),
    )
    return person(user_id)


async def digests(w: World) -> list:
    """The digest mails sent so far (the mail job run first)."""
    await w.send_mail()
    return [m for m in w.mailer.sent if "unread message" in m["Subject"]]


async def test_messages_unread_past_the_delay_are_mailed_once_in_one_digest(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        ana = person(await w.register("ana@example.com"))
        pat = await practitioner(w, "pat@example.com")
        sam = await practitioner(w, "sam@example.com")
        with_pat = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        with_sam = f"conversations/{(await desk.start(ana, sam.user_id)).id}"
        await desk.send(pat, with_pat, "Is Tuesday at 10 good for you?", "")
        await desk.send(pat, with_pat, "Or Wednesday?", "")
        await desk.send(sam, with_sam, "x" * 300, "")

        assert await w.service.digests.send_due() == 0  # not unread long enough yet
        w.clock.advance(DELAY)
        assert await w.service.digests.send_due() == 1
        [digest] = await digests(w)
        assert digest["To"] == "ana@example.com"
        assert digest["Subject"] == "3 unread messages on Estuary"
        body = text_of(digest)
        assert '- Ana Sousa (2): "Or Wednesday?"' in body  # registered() names everyone Ana
        assert '(1): "' + "x" * 139 + '…"' in body
        assert "/messages" in body
        # Told once: a second run, or a later one, makes no second mail of them.
        assert await w.service.digests.send_due() == 0
        w.clock.advance(DELAY)
        assert await w.service.digests.send_due() == 0
        assert len(await digests(w)) == 1
        # The senders, who read their own messages, are told of nothing.
        assert all(m["To"] == "ana@example.com" for m in await digests(w))


async def test_read_in_time_or_switched_off_is_not_mailed(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        ana = person(await w.register("ana@example.com"))
        bo = person(await w.register("bo@example.com"))
        pat = await practitioner(w, "pat@example.com")
        with_ana = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        with_bo = f"conversations/{(await desk.start(bo, pat.user_id)).id}"
        await desk.send(pat, with_ana, "See you Tuesday", "")
        await desk.send(pat, with_bo, "See you Wednesday", "")
        await desk.mark_read(ana, with_ana)
        await w.desk.update_preferences(bo, [(Kind.MESSAGE_DIGEST, Channel.EMAIL, False)])
        w.clock.advance(DELAY)
        await w.service.digests.send_due()
        assert await digests(w) == []


async def test_a_busy_conversation_makes_one_digest_per_delay(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        ana = person(await w.register("ana@example.com"))
        pat = await practitioner(w, "pat@example.com")
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        await desk.send(pat, name, "First", "")
        w.clock.advance(DELAY)
        assert await w.service.digests.send_due() == 1
        await desk.send(pat, name, "Second", "")
        w.clock.advance(DELAY - timedelta(minutes=1))
        assert await w.service.digests.send_due() == 0  # the last digest is too recent
        w.clock.advance(timedelta(minutes=1))
        assert await w.service.digests.send_due() == 1
        first, second = await digests(w)
        assert '"First"' in text_of(first) and '"First"' not in text_of(second)
        assert second["Subject"] == "1 unread message on Estuary"


async def test_two_runs_at_once_queue_one_digest(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        ana = person(await w.register("ana@example.com"))
        pat = await practitioner(w, "pat@example.com")
        name = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        await desk.send(pat, name, "Hello", "")
        w.clock.advance(DELAY)
        outcome = await race([w.service.digests.send_due] * 2)
        assert not outcome.losses, outcome.losses
        assert len(await digests(w)) == 1
