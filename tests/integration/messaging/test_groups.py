"""Group conversations on the real unit of work, on both databases: a practitioner starts a
group of their clients, everyone in it reads and writes it; only people the maker may write
to come in, only admins bring people in, take them out and rename it, anyone leaves and a
group left without an admin gets one; someone out of it reads nothing of it; a newcomer has
nothing unread; a block stops neither side's group messages but stops bringing the other in;
a group never holds more than 50, however many are added at once."""

from __future__ import annotations

import pytest

from chassis.auth.principal import Principal, Role
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.ids import new_id
from estuary.booking.v1 import events_pb2 as booking_pb
from services.messaging import events
from services.messaging.domain.conversations import GROUP_MAX_PARTICIPANTS
from services.messaging.uow import MessagingUnitOfWork
from tests.builders import person
from tests.integration.messaging.test_conversations import practitioner
from tests.integration.messaging.world import World, snapshot, world
from tests.races import race


async def clients_of(w: World, pat_id: str, count: int) -> list[Principal]:
    """People who booked the practitioner (so the practitioner may write to them)."""
    made = []
    for _ in range(count):
        client_id = new_id()
        await w.publish(
            events.BOOKING_CONFIRMED,
            booking_pb.BookingConfirmed(booking=snapshot(client_id, pat_id)),
        )
        made.append(person(client_id))
    return made


async def test_a_practitioner_starts_a_group_of_clients_who_all_read_and_write_it(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w), Role.PRACTITIONER)
        ana, bo = await clients_of(w, pat.user_id, 2)
        group = await desk.start_group(pat, "  Tuesday yoga  ", [ana.user_id, bo.user_id])
        assert (group.is_group, group.title, group.admin_ids) == (
            True,
            "Tuesday yoga",
            (pat.user_id,),
        )
        assert sorted(group.participant_ids) == sorted([pat.user_id, ana.user_id, bo.user_id])
        name = f"conversations/{group.id}"
        sent = await desk.send(ana, name, "Mats provided?", "")
        assert (await desk.get(bo, name)).unread == 1
        assert (await desk.get(pat, name)).unread == 1
        assert [m.id for m in (await desk.messages(bo, name, 0, "")).items] == [sent.id]
        mine = await desk.page(bo, 0, "")
        assert [c.id for c in mine.page.items] == [group.id] and mine.unread == 1
        # A second group of the same people is another group (a pair has one direct one).
        again = await desk.start_group(pat, "Tuesday yoga", [ana.user_id, bo.user_id])
        assert again.id != group.id


async def test_who_may_be_brought_in_and_by_whom(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w), Role.PRACTITIONER)
        ana, bo = await clients_of(w, pat.user_id, 2)
        stranger = person(new_id())
        with pytest.raises(PermissionDenied) as refused:
            await desk.start_group(pat, "Yoga", [ana.user_id, stranger.user_id])
        assert refused.value.reason == "NOT_A_PRACTITIONER_OR_CLIENT"
        for ids, field in (
            ([], "participant_user_ids"),
            ([ana.user_id, ana.user_id], "participant_user_ids[1]"),
            ([pat.user_id], "participant_user_ids[0]"),
            (["not-an-id"], "participant_user_ids[0]"),
            ([new_id() for _ in range(GROUP_MAX_PARTICIPANTS)], "participant_user_ids"),
        ):
            with pytest.raises(InvalidArgument) as bad:
                await desk.start_group(pat, "Yoga", ids)
            assert [v.field for v in bad.value.violations] == [field], ids
        for title in ("", "   ", "x" * 101, "bell\x07"):
            with pytest.raises(InvalidArgument) as bad:
                await desk.start_group(pat, title, [ana.user_id])
            assert [v.field for v in bad.value.violations] == ["title"], title
        group = await desk.start_group(pat, "Yoga", [ana.user_id])
        name = f"conversations/{group.id}"
        with pytest.raises(PermissionDenied) as not_admin:
            await desk.add_participant(ana, name, bo.user_id)
        assert not_admin.value.reason == "NOT_A_GROUP_ADMIN"
        with pytest.raises(PermissionDenied):
            await desk.add_participant(pat, name, stranger.user_id)
        with pytest.raises(NotFound):
            await desk.add_participant(stranger, name, bo.user_id)  # not in it: no such group
        grown = await desk.add_participant(pat, name, bo.user_id)
        assert bo.user_id in grown.participant_ids
        assert (await desk.add_participant(pat, name, bo.user_id)).participant_ids == (
            grown.participant_ids
        )
        direct = f"conversations/{(await desk.start(ana, pat.user_id)).id}"
        with pytest.raises(FailedPrecondition) as pair:
            await desk.add_participant(pat, direct, bo.user_id)
        assert pair.value.reason == "NOT_A_GROUP"


async def test_leaving_removing_and_an_admin_always_left(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w), Role.PRACTITIONER)
        ana, bo, cy = await clients_of(w, pat.user_id, 3)
        group = await desk.start_group(pat, "Yoga", [ana.user_id, bo.user_id, cy.user_id])
        name = f"conversations/{group.id}"
        with pytest.raises(PermissionDenied):
            await desk.remove_participant(ana, name, bo.user_id)
        await desk.remove_participant(pat, name, bo.user_id)
        with pytest.raises(NotFound):
            await desk.get(bo, name)
        with pytest.raises(NotFound):
            await desk.send(bo, name, "Still here?", "")
        with pytest.raises(NotFound) as absent:
            await desk.remove_participant(pat, name, bo.user_id)
        assert absent.value.reason in ("PARTICIPANT_NOT_FOUND", "CONVERSATION_NOT_FOUND")
        await desk.remove_participant(pat, name, pat.user_id)  # the only admin leaves
        left = await desk.get(ana, name)
        assert pat.user_id not in left.participant_ids
        assert left.admin_ids == (
            min(ana.user_id, cy.user_id, key=lambda u: (left.read_up_to, u)),
        ) or (len(left.admin_ids) == 1 and left.admin_ids[0] in (ana.user_id, cy.user_id))
        heir = person(left.admin_ids[0])
        renamed = await desk.rename(heir, name, "Yoga, Tuesdays")
        assert renamed.title == "Yoga, Tuesdays"
        other = ana if heir.user_id == cy.user_id else cy
        with pytest.raises(PermissionDenied):
            await desk.rename(other, name, "Mine now")
        await desk.remove_participant(other, name, other.user_id)  # anyone may leave
        assert other.user_id not in (await desk.get(heir, name)).participant_ids


async def test_a_newcomer_reads_the_history_with_nothing_unread(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w), Role.PRACTITIONER)
        ana, bo = await clients_of(w, pat.user_id, 2)
        name = f"conversations/{(await desk.start_group(pat, 'Yoga', [ana.user_id])).id}"
        await desk.send(ana, name, "First!", "")
        await desk.add_participant(pat, name, bo.user_id)
        seen = await desk.get(bo, name)
        assert seen.unread == 0
        assert [m.text for m in (await desk.messages(bo, name, 0, "")).items] == ["First!"]
        await desk.send(ana, name, "Welcome, Bo", "")
        assert (await desk.get(bo, name)).unread == 1


async def test_a_block_stops_bringing_someone_in_not_the_groups_messages(empty_database_url):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w), Role.PRACTITIONER)
        ana, bo, cy = await clients_of(w, pat.user_id, 3)
        name = (
            f"conversations/{(await desk.start_group(pat, 'Yoga', [ana.user_id, bo.user_id])).id}"
        )
        await desk.block(ana, bo.user_id)
        await desk.send(bo, name, "Hello all", "")
        await desk.send(ana, name, "Hi", "")
        await desk.block(cy, pat.user_id)
        with pytest.raises(FailedPrecondition) as blocked:
            await desk.add_participant(pat, name, cy.user_id)
        assert blocked.value.reason == "BLOCKED"


async def test_a_group_never_holds_more_than_its_limit_however_many_come_at_once(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        staff = person(new_id(), Role.STAFF)  # staff may write to anyone
        members = [new_id() for _ in range(GROUP_MAX_PARTICIPANTS - 2)]
        name = f"conversations/{(await desk.start_group(staff, 'All hands', members)).id}"
        newcomers = [new_id() for _ in range(6)]
        outcome = await race(
            [lambda who=who: desk.add_participant(staff, name, who) for who in newcomers]
        )
        assert len(outcome.wins) == 1, outcome.outcomes
        assert all(
            isinstance(e, FailedPrecondition) and e.reason == "GROUP_FULL" for e in outcome.losses
        ), outcome.losses
        assert len((await desk.get(staff, name)).participant_ids) == GROUP_MAX_PARTICIPANTS


async def test_a_writes_view_of_a_conversation_is_its_membership_without_reading_state(
    empty_database_url,
):
    async with world(empty_database_url) as w:
        desk = w.service.conversations
        pat = person(await practitioner(w), Role.PRACTITIONER)
        ana, bo = await clients_of(w, pat.user_id, 2)
        group = await desk.start_group(pat, "Tuesday yoga", [ana.user_id, bo.user_id])
        direct = await desk.start(ana, pat.user_id)
        await desk.archive(bo, f"conversations/{group.id}", True)
        async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
            for viewer, conversation in ((bo, group), (ana, direct), (pat, group)):
                full = await uow.conversations.get(viewer.user_id, conversation.id)
                members = await uow.conversations.membership(viewer.user_id, conversation.id)
                assert full is not None and members is not None
                kept = ("participant_ids", "is_group", "title", "admin_ids", "archived")
                assert [getattr(members.conversation, f) for f in kept] == [
                    getattr(full, f) for f in kept
                ]
                assert not members.blocked
            assert await uow.conversations.membership(bo.user_id, direct.id) is None
        # A block, whoever made it, stands between the two of a direct conversation (both
        # see it), not between the members of a group.
        await desk.block(pat, ana.user_id)
        async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
            for viewer, conversation, blocked in (
                (ana, direct, True),
                (pat, direct, True),
                (ana, group, False),
                (pat, group, False),
            ):
                members = await uow.conversations.membership(viewer.user_id, conversation.id)
                assert members is not None and members.blocked is blocked
