"""Messaging's conversation handlers: a user starts a direct conversation with someone they
may write to, or a group of such people (its admins bring people in, take them out and
rename it; anyone may leave), sends and reads messages in the conversations they are in, and
blocks people. Nobody learns anything of a conversation they are not in (NOT_FOUND, as for
one that does not exist)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chassis.auth.principal import Principal
from chassis.clock import Clock
from chassis.errors import InvalidArgument, NotFound, PermissionDenied
from chassis.ids import is_uuid, new_id
from chassis.media import MediaStore, UploadForm
from chassis.media.port import allowed_type
from chassis.pagination import KeyPart, Page, page_request
from chassis.text_search import words
from services.messaging import events
from services.messaging.attachments import readable
from services.messaging.domain.attachments import (
    PendingUpload,
    attachment_key,
    attachment_references,
    not_your_upload,
    stored_size,
)
from services.messaging.domain.conversations import (
    CONVERSATION_PREFIX,
    GROUP_MAX_PARTICIPANTS,
    Attachment,
    Conversation,
    Message,
    MessageReport,
    Revision,
    Standing,
    blocked,
    group_full,
    group_title,
    may_start,
    message_deleted,
    message_text,
    not_a_group,
    not_an_admin,
    not_your_message,
    report_reason,
)
from services.messaging.live import LiveHub
from services.messaging.repository import activity_key
from services.messaging.settings import MessagingSettings
from services.messaging.uow import MessagingUnitOfWork


def user_id_in(field: str, value: str) -> str:
    if not is_uuid(value):
        raise InvalidArgument.field(field, "must be a user id", "invalid")
    return value


def conversation_id_in(field: str, name: str) -> str:
    conversation_id = name.removeprefix(CONVERSATION_PREFIX)
    if not name.startswith(CONVERSATION_PREFIX) or not is_uuid(conversation_id):
        raise InvalidArgument.field(field, "must be conversations/{id}", "invalid")
    return conversation_id


def message_id_in(field: str, name: str, conversation_id: str) -> str:
    prefix = f"{CONVERSATION_PREFIX}{conversation_id}/messages/"
    message_id = name.removeprefix(prefix)
    if not name.startswith(prefix) or not is_uuid(message_id):
        raise InvalidArgument.field(
            field, f"must be a message of this conversation ({prefix}{{id}})", "invalid"
        )
    return message_id


def message_name_in(field: str, name: str) -> tuple[str, str]:
    """The conversation and message ids of "conversations/{id}/messages/{id}"."""
    parts = name.split("/")
    if (
        len(parts) != 4
        or parts[0] != "conversations"
        or parts[2] != "messages"
        or not (is_uuid(parts[1]) and is_uuid(parts[3]))
    ):
        raise InvalidArgument.field(field, "must be conversations/{id}/messages/{id}", "invalid")
    return parts[1], parts[3]


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(
        f"{CONVERSATION_PREFIX}{conversation_id} was not found", reason="CONVERSATION_NOT_FOUND"
    )


@dataclass(frozen=True)
class ConversationPage:
    page: Page[Conversation]
    unread: int


SEARCH_MAX_LENGTH = 200


@dataclass
class ConversationDesk:
    """What a signed-in user does with their conversations."""

    unit_of_work: Callable[..., MessagingUnitOfWork]
    clock: Clock
    live: LiveHub
    media: MediaStore
    settings: MessagingSettings

    async def start(self, caller: Principal, other_id: str) -> Conversation:
        other_id = user_id_in("participant_user_id", other_id)
        me = caller.user_id
        async with self.unit_of_work() as uow:
            conversation_id = await uow.conversations.direct(me, other_id)
            if conversation_id is None:
                may_start(me, other_id, await _standing(uow, caller, other_id))
                conversation_id = await uow.conversations.start_direct(
                    me, other_id, self.clock.now()
                )
            found = await uow.conversations.get(me, conversation_id)
            await uow.commit()
        assert found is not None
        return found

    async def start_group(
        self, caller: Principal, title: str, participant_ids: Sequence[str]
    ) -> Conversation:
        """A new group of the caller (its admin) and people each of whom the caller may
        write to on their own."""
        title = group_title(title)
        me = caller.user_id
        others: list[str] = []
        for i, raw in enumerate(participant_ids):
            field = f"participant_user_ids[{i}]"
            other = user_id_in(field, raw)
            if other in others:
                raise InvalidArgument.field(field, "is listed twice", "duplicate")
            others.append(other)
        if not others:
            raise InvalidArgument.field(
                "participant_user_ids", "must name at least one other person", "required"
            )
        if len(others) >= GROUP_MAX_PARTICIPANTS:
            raise InvalidArgument.field(
                "participant_user_ids",
                f"must name at most {GROUP_MAX_PARTICIPANTS - 1} others",
                "too_many",
            )
        async with self.unit_of_work() as uow:
            for i, other in enumerate(others):
                standing = await _standing(uow, caller, other)
                may_start(me, other, standing, f"participant_user_ids[{i}]")
            conversation_id = await uow.conversations.start_group(
                me, others, title, self.clock.now()
            )
            found = await uow.conversations.get(me, conversation_id)
            await uow.commit()
        assert found is not None
        return found

    async def add_participant(self, caller: Principal, name: str, user_id: str) -> Conversation:
        """A group's admin brings someone in (whom they may write to); again: unchanged."""
        conversation_id = conversation_id_in("name", name)
        user_id = user_id_in("user_id", user_id)
        me = caller.user_id
        async with self.unit_of_work() as uow:
            found = await self._group_to_change(uow, me, conversation_id)
            if me not in found.admin_ids:
                raise not_an_admin()
            if user_id not in found.participant_ids:
                may_start(me, user_id, await _standing(uow, caller, user_id), "user_id")
                if len(found.participant_ids) >= GROUP_MAX_PARTICIPANTS:
                    raise group_full()
                await uow.conversations.join(conversation_id, user_id, self.clock.now())
                joined = await uow.conversations.get(me, conversation_id)
                assert joined is not None
                found = joined
            await uow.commit()
        return found

    async def remove_participant(self, caller: Principal, name: str, user_id: str) -> None:
        """Someone leaves a group (themselves), or an admin takes someone out."""
        conversation_id = conversation_id_in("name", name)
        user_id = user_id_in("user_id", user_id)
        me = caller.user_id
        async with self.unit_of_work() as uow:
            found = await self._group_to_change(uow, me, conversation_id)
            if user_id != me and me not in found.admin_ids:
                raise not_an_admin()
            if not await uow.conversations.leave(conversation_id, user_id):
                raise NotFound(
                    f"{user_id} is not in this conversation", reason="PARTICIPANT_NOT_FOUND"
                )
            await uow.commit()

    async def rename(self, caller: Principal, name: str, title: str) -> Conversation:
        """A group's admin gives it another title."""
        conversation_id = conversation_id_in("name", name)
        title = group_title(title)
        me = caller.user_id
        async with self.unit_of_work() as uow:
            found = await self._group_to_change(uow, me, conversation_id)
            if me not in found.admin_ids:
                raise not_an_admin()
            await uow.conversations.rename(conversation_id, title)
            await uow.commit()
        return replace(found, title=title)

    async def _group_to_change(
        self, uow: MessagingUnitOfWork, me: str, conversation_id: str
    ) -> Conversation:
        """A group of the caller's, its row held so changes of its members queue."""
        await uow.conversations.lock(conversation_id)
        found = await uow.conversations.get(me, conversation_id)
        if found is None:
            raise _not_found(conversation_id)
        if not found.is_group:
            raise not_a_group()
        return found

    async def get(self, caller: Principal, name: str) -> Conversation:
        conversation_id = conversation_id_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            found = await uow.conversations.get(caller.user_id, conversation_id)
        if found is None:
            raise _not_found(conversation_id)
        return found

    async def page(
        self, caller: Principal, page_size: int, page_token: str, archived: bool = False
    ) -> ConversationPage:
        request = page_request(
            page_size,
            page_token,
            query={"user": caller.user_id, "archived": archived},
            key=[KeyPart.NUMBER_OR_NULL, KeyPart.ID],
        )
        async with self.unit_of_work(write=False) as uow:
            found, total, unread = await uow.conversations.page(
                caller.user_id, after=request.after, fetch=request.fetch, archived=archived
            )
        return ConversationPage(request.page(found, total, activity_key), unread)

    async def send(
        self,
        caller: Principal,
        conversation: str,
        text: str,
        reply_to: str,
        attachments: Sequence[str] = (),
    ) -> Message:
        conversation_id = conversation_id_in("conversation", conversation)
        carried = attachment_references(conversation_id, attachments)
        text = message_text(text, attachments=bool(carried))
        reply_to_id = message_id_in("reply_to", reply_to, conversation_id) if reply_to else ""
        me = caller.user_id
        async with self.unit_of_work() as uow:
            found = await _writable(uow, me, conversation_id)
            if (
                reply_to_id
                and await uow.conversations.message(conversation_id, reply_to_id) is None
            ):
                raise InvalidArgument.field(
                    "reply_to", "is not a message of this conversation", "not_found"
                )
            message_id = new_id()
            checked = await self._attach(uow, me, conversation_id, message_id, carried)
            message = Message(
                message_id,
                conversation_id,
                me,
                text,
                reply_to_id,
                self.clock.now(),
                attachments=checked,
            )
            for statement, parameters in uow.conversations.message_writes(message):
                uow.write_with_commit(statement, parameters)
            [message] = await readable(self.media, [message])
            self.live.message_sent(uow, found, message)
            uow.emit(
                events.MESSAGE_SENT,
                events.message_sent(message, found.participant_ids),
                subject=f"conversations/{conversation_id}",
            )
            await uow.commit()
        return message

    async def _attach(
        self,
        uow: MessagingUnitOfWork,
        me: str,
        conversation_id: str,
        message_id: str,
        references: Sequence[str],
    ) -> tuple[Attachment, ...]:
        """The caller's uploads to this conversation, each taken by the message once the
        store shows it holds what the slot allowed; else an error naming the reference."""
        pending: list[PendingUpload] = []
        for i, reference in enumerate(references):
            upload = await uow.attachments.pending(reference, me, conversation_id)
            if upload is None:
                raise not_your_upload(f"attachments[{i}]")
            pending.append(upload)
        checked = []
        for i, upload in enumerate(pending):
            field = f"attachments[{i}]"
            size = stored_size(field, upload, await self.media.stat(upload.reference))
            if not await uow.attachments.attach(upload, message_id, i, size):
                raise not_your_upload(field)
            checked.append(Attachment(upload.reference, upload.content_type, size))
        return tuple(checked)

    async def upload_attachment(
        self, caller: Principal, conversation: str, content_type: str
    ) -> UploadForm:
        """An upload slot for a participant: a form for one object of an allowed type, at
        most the settings' size for it, under the conversation's prefix; its key is the
        reference a message then carries."""
        conversation_id = conversation_id_in("conversation", conversation)
        settings = self.settings
        content_type = allowed_type(content_type, settings.attachment_types)
        me = caller.user_id
        async with self.unit_of_work() as uow:
            await _writable(uow, me, conversation_id)
            attachment_id = new_id()
            reference = attachment_key(conversation_id, attachment_id)
            form = await self.media.presign_upload(
                reference, content_type, max_bytes=settings.largest_attachment(content_type)
            )
            await uow.attachments.add_pending(
                PendingUpload(
                    attachment_id,
                    conversation_id,
                    me,
                    reference,
                    form.content_type,
                    form.max_bytes,
                    self.clock.now(),
                )
            )
            await uow.commit()
        return form

    async def messages(
        self, caller: Principal, conversation: str, page_size: int, page_token: str
    ) -> Page[Message]:
        conversation_id = conversation_id_in("conversation", conversation)
        request = page_request(
            page_size, page_token, query={"conversation": conversation_id}, key=[KeyPart.ID]
        )
        async with self.unit_of_work(write=False) as uow:
            if await uow.conversations.get(caller.user_id, conversation_id) is None:
                raise _not_found(conversation_id)
            found, total = await uow.conversations.messages(
                conversation_id,
                before=request.after[0] if request.after else None,
                fetch=request.fetch,
            )
        return request.page(await readable(self.media, found), total, lambda m: [m.id])

    async def search(
        self, caller: Principal, query: str, page_size: int, page_token: str
    ) -> Page[Message]:
        """The caller's messages (in every conversation they are in) holding every word of
        the query, newest first."""
        query = query.strip()
        if not words(query) or len(query) > SEARCH_MAX_LENGTH:
            raise InvalidArgument.field(
                "query", f"must hold a word to look for, in at most {SEARCH_MAX_LENGTH} characters"
            )
        request = page_request(
            page_size, page_token, query={"user": caller.user_id, "q": query}, key=[KeyPart.ID]
        )
        async with self.unit_of_work(write=False) as uow:
            found, total = await uow.conversations.search(
                caller.user_id,
                query,
                before=request.after[0] if request.after else None,
                fetch=request.fetch,
            )
        return request.page(await readable(self.media, found), total, lambda m: [m.id])

    async def mark_read(self, caller: Principal, name: str) -> Conversation:
        conversation_id = conversation_id_in("name", name)
        async with self.unit_of_work() as uow:
            await uow.conversations.mark_read(caller.user_id, conversation_id)
            found = await uow.conversations.get(caller.user_id, conversation_id)
            if found is None:
                raise _not_found(conversation_id)
            self.live.conversation_read(uow, found, caller.user_id)
            await uow.commit()
        return found

    async def archive(self, caller: Principal, name: str, archived: bool) -> Conversation:
        """Takes a conversation out of the caller's list (archived) or back in; a new
        message from someone else brings it back by itself."""
        conversation_id = conversation_id_in("name", name)
        async with self.unit_of_work() as uow:
            found = await uow.conversations.get(caller.user_id, conversation_id)
            if found is None:
                raise _not_found(conversation_id)
            at = self.clock.now() if archived else None
            await uow.conversations.set_archived(caller.user_id, conversation_id, at)
            await uow.commit()
        return replace(found, archived=archived)

    async def typing(self, caller: Principal, name: str) -> None:
        """Tells the other participants, live, that the caller is typing."""
        conversation_id = conversation_id_in("conversation", name)
        me = caller.user_id
        async with self.unit_of_work(write=False) as uow:
            found = await _writable(uow, me, conversation_id)
        self.live.typing(found, me)

    async def block(self, caller: Principal, user_id: str) -> None:
        user_id = user_id_in("user_id", user_id)
        if user_id == caller.user_id:
            raise InvalidArgument.field("user_id", "is you", "self")
        async with self.unit_of_work() as uow:
            await uow.relations.block(caller.user_id, user_id, self.clock.now())
            await uow.commit()

    async def unblock(self, caller: Principal, user_id: str) -> None:
        user_id = user_id_in("user_id", user_id)
        async with self.unit_of_work() as uow:
            await uow.relations.unblock(caller.user_id, user_id)
            await uow.commit()

    async def edit(self, caller: Principal, name: str, text: str) -> Message:
        """The sender changes a message's text (what it said is kept for staff)."""
        text = message_text(text)
        async with self.unit_of_work() as uow:
            conversation, found = await self._own_message(uow, caller, name)
            if found.deleted_at is not None:
                raise message_deleted()
            if found.text != text:
                found = await uow.conversations.replace_text(
                    found, text, "edited", self.clock.now()
                )
                [found] = await readable(self.media, [found])
                self.live.message_sent(uow, conversation, found)
            else:
                [found] = await readable(self.media, [found])
            await uow.commit()
        return found

    async def delete(self, caller: Principal, name: str) -> Message:
        """The sender deletes a message: its place stays, its words go (kept for staff), its
        attachments go for good; again: unchanged."""
        async with self.unit_of_work() as uow:
            conversation, found = await self._own_message(uow, caller, name)
            if found.deleted_at is None:
                # Its objects go with it: the sweep job deletes them from the media store.
                await uow.attachments.discard_of_message(found.id)
                found = await uow.conversations.replace_text(found, "", "deleted", self.clock.now())
                self.live.message_sent(uow, conversation, found)
            await uow.commit()
        return found

    async def _own_message(
        self, uow: MessagingUnitOfWork, caller: Principal, name: str
    ) -> tuple[Conversation, Message]:
        conversation_id, message_id = message_name_in("name", name)
        conversation = await uow.conversations.get(caller.user_id, conversation_id)
        if conversation is None:
            raise _not_found(conversation_id)
        found = await uow.conversations.message(conversation_id, message_id, lock=True)
        if found is None:
            raise NotFound(f"{name} was not found", reason="MESSAGE_NOT_FOUND")
        if found.sender_id != caller.user_id:
            raise not_your_message()
        return conversation, found

    async def history(self, caller: Principal, name: str) -> tuple[Message, list[Revision]]:
        """Staff read a message as it is and what it said before each edit or deletion."""
        if not caller.is_staff:
            raise PermissionDenied("staff only")
        conversation_id, message_id = message_name_in("name", name)
        async with self.unit_of_work(write=False) as uow:
            found = await uow.conversations.message(conversation_id, message_id)
            if found is None:
                raise NotFound(f"{name} was not found", reason="MESSAGE_NOT_FOUND")
            return found, await uow.conversations.revisions(message_id)

    async def report(self, caller: Principal, message: str, reason: str) -> MessageReport:
        """A participant reports another's message to staff; again, the first report."""
        conversation_id, message_id = message_name_in("message", message)
        reason = report_reason(reason)
        me = caller.user_id
        async with self.unit_of_work() as uow:
            if await uow.conversations.get(me, conversation_id) is None:
                raise _not_found(conversation_id)
            found = await uow.conversations.message(conversation_id, message_id)
            if found is None:
                raise NotFound(f"{message} was not found", reason="MESSAGE_NOT_FOUND")
            if found.sender_id == me:
                raise InvalidArgument.field("message", "is your own message", "own")
            report_id = await uow.reports.add(message_id, me, reason, self.clock.now())
            report = await uow.reports.get(report_id)
            await uow.commit()
        return report

    async def reports(
        self, caller: Principal, page_size: int, page_token: str
    ) -> Page[MessageReport]:
        """Every report, the newest first: for staff."""
        if not caller.is_staff:
            raise PermissionDenied("only staff read reports", reason="STAFF_ONLY")
        request = page_request(page_size, page_token, query={"reports": "all"}, key=[KeyPart.ID])
        async with self.unit_of_work(write=False) as uow:
            found, total = await uow.reports.page(
                before=request.after[0] if request.after else None, fetch=request.fetch
            )
        return request.page(found, total, lambda r: [r.id])


async def _standing(uow: MessagingUnitOfWork, caller: Principal, other_id: str) -> Standing:
    """What messaging knows of the caller and another, for whether one may write to the other."""
    relations = uow.relations
    me = caller.user_id
    return Standing(
        caller_is_staff=caller.is_staff,
        other_is_practitioner=await relations.is_practitioner(other_id),
        other_is_callers_client=await relations.is_client_of(other_id, me),
        blocked=await relations.blocked_between(me, other_id),
    )


async def _writable(uow: MessagingUnitOfWork, me: str, conversation_id: str) -> Conversation:
    """A conversation the caller is in and may write to: not found for anyone else, refused
    across a block in a direct one."""
    found = await uow.conversations.membership(me, conversation_id)
    if found is None:
        raise _not_found(conversation_id)
    if found.blocked:
        raise blocked()
    return found.conversation
