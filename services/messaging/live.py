"""Live updates: the streams this replica serves (one per connected WebSocket, through the
gateway) and the broadcast that carries each update to every replica, so a message sent
through one replica reaches a socket served by another.

A change's update is broadcast after its unit of work commits (never one that rolled back);
each replica hands it to the streams of its recipients that it serves. Broadcasts are at most
once, so what the database keeps (a message, a read, a notification) is also written to the
live log in the change's transaction, and its update carries a cursor: a client that
reconnects with the last cursor it saw is replayed, from the log, what it is entitled to and
missed, then goes on live (Zulip's event queues, with the log as the queue). A cursor that
cannot be resumed from gets RESYNC: the client lists what changed instead."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from chassis.accounts import AccountStatuses
from chassis.auth.principal import Principal
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.errors import ResourceExhausted, Unauthenticated
from chassis.jobs import PeriodicJob
from chassis.media import MediaStore
from chassis.wire import timestamp
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging.attachments import readable
from services.messaging.cursors import CursorSigner
from services.messaging.domain.conversations import CONVERSATION_PREFIX, Conversation, Message
from services.messaging.domain.live import LoggedUpdate, UpdateKind, latest_of_each
from services.messaging.domain.notifications import Notification
from services.messaging.uow import MessagingUnitOfWork
from services.messaging.wire import message_to_proto, notification_to_proto

log = logging.getLogger(__name__)

TOPIC = "messaging.live"
# Updates one stream may have waiting; a reader further behind is told to reconnect and resume.
BACKLOG = 256
# Log rows are kept this much longer than a cursor is honoured, so replicas' clocks a little
# apart never prune a row a cursor still in its window would replay.
PRUNE_MARGIN = timedelta(hours=1)
PRUNE_INTERVAL = timedelta(minutes=10)


@dataclass(frozen=True)
class ResumePolicy:
    """How far back a stream may resume: updates one replay gives at most, and how old a
    cursor may be."""

    max_updates: int = 500
    retention: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class CatchUp:
    """What a stream is given before it goes live: the updates it missed, then CAUGHT_UP or
    RESYNC at the log's head (the seam: live updates at or before it are skipped)."""

    missed: list[pb.LiveEvent]
    closing: pb.LiveEvent
    head: int


def read_receipt(conversation_id: str, reader_id: str, last_read_id: str) -> pb.LiveEvent:
    """A participant's read receipt: the newest message they read ("" for none)."""
    name = CONVERSATION_PREFIX + conversation_id
    last = f"{name}/messages/{last_read_id}" if last_read_id else ""
    receipt = pb.ReadReceipt(user_id=reader_id, last_read_message=last)
    return pb.LiveEvent(read=pb.ReadUpdate(conversation=name, receipt=receipt))


@dataclass(eq=False)
class Listener:
    """One open stream: the updates waiting for it, and whether it fell behind."""

    user_id: str
    # Each update with its live log position (0 for typing).
    waiting: asyncio.Queue[tuple[int, pb.LiveEvent]] = field(
        default_factory=lambda: asyncio.Queue(BACKLOG)
    )
    fell_behind: bool = False
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, position: int, event: pb.LiveEvent) -> None:
        try:
            self.waiting.put_nowait((position, event))
        except asyncio.QueueFull:
            self.fell_behind = True
        self.woken.set()


class LiveHub:
    """The live streams of this replica, fed by what every replica broadcasts."""

    def __init__(
        self,
        transport: Transport,
        accounts: AccountStatuses,
        clock: Clock,
        unit_of_work: Callable[..., MessagingUnitOfWork],
        media: MediaStore,
        *,
        check_seconds: float = 1.0,
        streams_per_user: int = 8,
        resume: ResumePolicy | None = None,
    ) -> None:
        self._transport = transport
        self._accounts = accounts
        self._clock = clock
        self._unit_of_work = unit_of_work
        self._media = media
        self._check_seconds = check_seconds
        self._streams_per_user = streams_per_user
        self._resume = resume or ResumePolicy()
        self._signer: CursorSigner | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listens to every replica's broadcasts (the transport must be started)."""
        await self._transport.listen(TOPIC, self._heard)

    def after_commit(
        self,
        uow: MessagingUnitOfWork,
        recipients: Iterable[str],
        event: pb.LiveEvent,
        update: LoggedUpdate,
    ) -> None:
        """Logs an update with uow's change and broadcasts it once that has committed."""
        chosen = sorted(set(recipients))
        logged = uow.log_live(update)
        uow.after_commit(lambda: self.send(chosen, event, logged))

    def message_sent(
        self, uow: MessagingUnitOfWork, conversation: Conversation, message: Message
    ) -> None:
        """A message sent, edited or deleted, to every participant (the sender's other
        devices too)."""
        self.after_commit(
            uow,
            conversation.participant_ids,
            pb.LiveEvent(message=message_to_proto(message)),
            LoggedUpdate(UpdateKind.MESSAGE, message.id, conversation_id=conversation.id),
        )

    def conversation_read(
        self, uow: MessagingUnitOfWork, conversation: Conversation, reader_id: str
    ) -> None:
        """A participant read a conversation up to its newest message: a read receipt."""
        last = conversation.read_up_to.get(reader_id, "")
        self.after_commit(
            uow,
            conversation.participant_ids,
            read_receipt(conversation.id, reader_id, last),
            LoggedUpdate(UpdateKind.READ, reader_id, conversation_id=conversation.id),
        )

    def typing(self, conversation: Conversation, typist_id: str) -> None:
        """A participant is typing: the others hear it now (nothing to commit)."""
        others = [p for p in conversation.participant_ids if p != typist_id]
        update = pb.TypingUpdate(
            conversation=CONVERSATION_PREFIX + conversation.id, user_id=typist_id
        )
        self.send(others, pb.LiveEvent(typing=update))

    def notification_made(self, uow: MessagingUnitOfWork, notification: Notification) -> None:
        """A new in-app notification, to its recipient."""
        self.after_commit(
            uow,
            [notification.recipient_user_id],
            pb.LiveEvent(notification=notification_to_proto(notification)),
            LoggedUpdate(
                UpdateKind.NOTIFICATION,
                notification.id,
                recipient_user_id=notification.recipient_user_id,
            ),
        )

    def send(
        self, recipients: Iterable[str], event: pb.LiveEvent, logged: LoggedUpdate | None = None
    ) -> None:
        """Broadcasts an update to every replica now, for these users' streams (with its
        cursor, when it is in the live log)."""
        task = asyncio.create_task(self._broadcast(sorted(set(recipients)), event, logged))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _broadcast(
        self, recipients: list[str], event: pb.LiveEvent, logged: LoggedUpdate | None
    ) -> None:
        try:
            broadcast = pb.LiveBroadcast(recipient_user_ids=recipients, event=event)
            if logged is not None and logged.created_at is not None:
                signer = await self._cursor_signer()
                broadcast.event.cursor = signer.issue(logged.position, logged.created_at)
                broadcast.position = logged.position
            await self._transport.broadcast(TOPIC, broadcast.SerializeToString())
        except Exception:
            # The change is committed and logged: its stream gets it on resuming.
            log.warning("a live update could not be broadcast", exc_info=True)

    async def _heard(self, payload: bytes) -> None:
        broadcast = pb.LiveBroadcast.FromString(payload)
        for user_id in broadcast.recipient_user_ids:
            for listener in self._listeners.get(user_id, ()):
                listener.offer(broadcast.position, broadcast.event)

    async def _cursor_signer(self) -> CursorSigner:
        """The signer of this database's cursors (its key read once)."""
        if self._signer is None:
            async with self._unit_of_work(write=False) as uow:
                self._signer = CursorSigner(await uow.live_log.cursor_secret())
        return self._signer

    def _register(self, user_id: str) -> Listener:
        listener = Listener(user_id)
        self._listeners.setdefault(user_id, set()).add(listener)
        return listener

    def _unregister(self, listener: Listener) -> None:
        mine = self._listeners[listener.user_id]
        mine.discard(listener)
        if not mine:
            del self._listeners[listener.user_id]

    def streams_of(self, user_id: str) -> int:
        """How many streams of a user this replica serves."""
        return len(self._listeners.get(user_id, ()))

    async def updates(
        self, user: Principal, resume_cursor: str = ""
    ) -> AsyncGenerator[pb.LiveEvent, None]:
        """A user's live stream: READY; what they missed since resume_cursor, then CAUGHT_UP
        (RESYNC if it cannot be resumed from); then each update for them as it comes, until
        their token expires (Unauthenticated TOKEN_EXPIRED), their account is suspended or deleted
        (PermissionDenied ACCOUNT_SUSPENDED or ACCOUNT_DELETED, within check_seconds), or they
        fall BACKLOG updates behind (ResourceExhausted FELL_BEHIND: reconnect and resume).
        A user already holding streams_per_user streams here is refused one more
        (ResourceExhausted TOO_MANY_STREAMS)."""
        if self.streams_of(user.user_id) >= self._streams_per_user:
            raise ResourceExhausted(
                f"at most {self._streams_per_user} live connections per user: close one "
                "before opening another",
                reason="TOO_MANY_STREAMS",
            )
        # Listening before the log is read: an update committed meanwhile is either in the
        # replay or waiting here (or both: then the seam drops the live copy).
        listener = self._register(user.user_id)
        try:
            yield pb.LiveEvent(ready=pb.StreamReady(connect_time=timestamp(self._clock.now())))
            catch_up = await self._catch_up(user.user_id, resume_cursor)
            for missed in catch_up.missed:
                yield missed
            yield catch_up.closing
            while True:
                left = (user.expires_at - self._clock.now()).total_seconds()
                if left <= 0:
                    raise Unauthenticated(
                        "the access token expired: connect again with a fresh one",
                        reason="TOKEN_EXPIRED",
                    )
                self._accounts.refuse_if_inactive(user.user_id)
                if listener.fell_behind:
                    raise ResourceExhausted(
                        f"more than {BACKLOG} updates waited unread: reconnect with the "
                        "last cursor received",
                        reason="FELL_BEHIND",
                    )
                if listener.waiting.empty():
                    listener.woken.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            listener.woken.wait(), timeout=min(self._check_seconds, left)
                        )
                    continue
                position, event = listener.waiting.get_nowait()
                # Committed at or before the replay's head: replayed already, or no longer
                # the user's to see.
                if 0 < position <= catch_up.head:
                    continue
                yield event
        finally:
            self._unregister(listener)

    async def _catch_up(self, user_id: str, resume_cursor: str) -> CatchUp:
        """What a stream opened with resume_cursor missed, as the database holds it now."""
        signer = await self._cursor_signer()
        now = self._clock.now()
        async with self._unit_of_work(write=False) as uow:
            # The head first: every position before it has committed (see the unit of work),
            # so the query after it sees each update up to the head.
            head = await uow.live_log.head()
            refused, missed = await self._missed(uow, user_id, resume_cursor, head, signer)
        if refused is None:
            closing = pb.LiveEvent(caught_up=pb.StreamCaughtUp())
        else:
            closing = pb.LiveEvent(resync=pb.StreamResync(reason=refused))
        closing.cursor = signer.issue(head, now)
        return CatchUp(missed, closing, head)

    async def _missed(
        self,
        uow: MessagingUnitOfWork,
        user_id: str,
        resume_cursor: str,
        head: int,
        signer: CursorSigner,
    ) -> tuple[pb.ResyncReason | None, list[pb.LiveEvent]]:
        """The updates missed since the cursor, or why it cannot be resumed from."""
        if not resume_cursor:
            return None, []
        cursor = signer.read(resume_cursor)
        # A position beyond the head was never issued by this database.
        if cursor is None or cursor.position > head:
            return pb.RESYNC_REASON_CURSOR_INVALID, []
        if self._clock.now() - cursor.issued_at > self._resume.retention:
            return pb.RESYNC_REASON_CURSOR_EXPIRED, []
        limit = self._resume.max_updates
        found = await uow.live_log.missed(
            user_id, after=cursor.position, upto=head, limit=limit + 1
        )
        if len(found) > limit:
            return pb.RESYNC_REASON_TOO_FAR_BEHIND, []
        return None, await self._replayed(uow, user_id, latest_of_each(found), signer)

    async def _replayed(
        self,
        uow: MessagingUnitOfWork,
        user_id: str,
        updates: list[LoggedUpdate],
        signer: CursorSigner,
    ) -> list[pb.LiveEvent]:
        """Each update as the live event of its subject as it is now (a deleted message as
        a deletion), in log order; one whose subject is gone is left out."""
        message_ids = [u.subject_id for u in updates if u.kind is UpdateKind.MESSAGE]
        notification_ids = [u.subject_id for u in updates if u.kind is UpdateKind.NOTIFICATION]
        found = await uow.conversations.messages_by_id(message_ids)
        messages = {m.id: m for m in await readable(self._media, list(found.values()))}
        notifications = await uow.notifications.of_ids(user_id, notification_ids)
        events = []
        for update in updates:
            event = await self._replay_of(uow, update, messages, notifications)
            if event is None or update.created_at is None:
                continue
            event.cursor = signer.issue(update.position, update.created_at)
            events.append(event)
        return events

    async def _replay_of(
        self,
        uow: MessagingUnitOfWork,
        update: LoggedUpdate,
        messages: dict[str, Message],
        notifications: dict[str, Notification],
    ) -> pb.LiveEvent | None:
        if update.kind is UpdateKind.MESSAGE:
            message = messages.get(update.subject_id)
            return None if message is None else pb.LiveEvent(message=message_to_proto(message))
        if update.kind is UpdateKind.NOTIFICATION:
            notification = notifications.get(update.subject_id)
            if notification is None:
                return None
            return pb.LiveEvent(notification=notification_to_proto(notification))
        conversation_id = update.conversation_id or ""
        last = await uow.conversations.read_up_to(conversation_id, update.subject_id)
        return None if last is None else read_receipt(conversation_id, update.subject_id, last)

    async def prune(self) -> int:
        """Deletes the live log's updates no cursor may resume from any more; how many."""
        async with self._unit_of_work() as uow:
            forgotten = await uow.live_log.forget_before(
                self._clock.now() - self._resume.retention - PRUNE_MARGIN
            )
            await uow.commit()
        return forgotten

    def jobs(self) -> list[PeriodicJob]:
        return [PeriodicJob("messaging.prune_live_log", PRUNE_INTERVAL, self.prune)]
