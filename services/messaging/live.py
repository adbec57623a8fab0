"""Live updates: the streams this replica serves (one per connected WebSocket, through the
gateway) and the broadcast that carries each update to every replica, so a message sent
through one replica reaches a socket served by another.

A change's update is broadcast after its unit of work commits (never one that rolled back);
each replica hands it to the streams of its recipients that it serves. Delivery is at most
once: the change itself is in the database, and a client that reconnects lists what changed
(the design of Zulip's event queues without their replay: the REST lists are the replay)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field

from chassis.accounts import AccountStatuses
from chassis.auth.principal import Principal
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.errors import ResourceExhausted, Unauthenticated
from chassis.uow import UnitOfWork
from chassis.wire import timestamp
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging.domain.conversations import CONVERSATION_PREFIX, Conversation, Message
from services.messaging.domain.notifications import Notification
from services.messaging.wire import message_to_proto, notification_to_proto

log = logging.getLogger(__name__)

TOPIC = "messaging.live"
# Updates one stream may have waiting; a reader further behind is told to reconnect and list.
BACKLOG = 256


@dataclass(eq=False)
class Listener:
    """One open stream: the updates waiting for it, and whether it fell behind."""

    user_id: str
    waiting: asyncio.Queue[pb.LiveEvent] = field(default_factory=lambda: asyncio.Queue(BACKLOG))
    fell_behind: bool = False
    woken: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: pb.LiveEvent) -> None:
        try:
            self.waiting.put_nowait(event)
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
        *,
        check_seconds: float = 1.0,
        streams_per_user: int = 8,
    ) -> None:
        self._transport = transport
        self._accounts = accounts
        self._clock = clock
        self._check_seconds = check_seconds
        self._streams_per_user = streams_per_user
        self._listeners: dict[str, set[Listener]] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listens to every replica's broadcasts (the transport must be started)."""
        await self._transport.listen(TOPIC, self._heard)

    def after_commit(self, uow: UnitOfWork, recipients: Iterable[str], event: pb.LiveEvent) -> None:
        """Broadcasts an update once uow has committed the change it tells of."""
        chosen = sorted(set(recipients))
        uow.after_commit(lambda: self.send(chosen, event))

    def message_sent(self, uow: UnitOfWork, conversation: Conversation, message: Message) -> None:
        """A new message, to every participant (the sender's other devices too)."""
        self.after_commit(
            uow, conversation.participant_ids, pb.LiveEvent(message=message_to_proto(message))
        )

    def conversation_read(
        self, uow: UnitOfWork, conversation: Conversation, reader_id: str
    ) -> None:
        """A participant read a conversation up to its newest message: a read receipt."""
        last = conversation.read_up_to.get(reader_id, "")
        name = CONVERSATION_PREFIX + conversation.id
        receipt = pb.ReadReceipt(
            user_id=reader_id, last_read_message=f"{name}/messages/{last}" if last else ""
        )
        self.after_commit(
            uow,
            conversation.participant_ids,
            pb.LiveEvent(read=pb.ReadUpdate(conversation=name, receipt=receipt)),
        )

    def typing(self, conversation: Conversation, typist_id: str) -> None:
        """A participant is typing: the others hear it now (nothing to commit)."""
        others = [p for p in conversation.participant_ids if p != typist_id]
        update = pb.TypingUpdate(
            conversation=CONVERSATION_PREFIX + conversation.id, user_id=typist_id
        )
        self.send(others, pb.LiveEvent(typing=update))

    def notification_made(self, uow: UnitOfWork, notification: Notification) -> None:
        """A new in-app notification, to its recipient."""
        self.after_commit(
            uow,
            [notification.recipient_user_id],
            pb.LiveEvent(notification=notification_to_proto(notification)),
        )

    def send(self, recipients: Iterable[str], event: pb.LiveEvent) -> None:
        """Broadcasts an update to every replica now, for these users' streams."""
        payload = pb.LiveBroadcast(
            recipient_user_ids=sorted(set(recipients)), event=event
        ).SerializeToString()
        task = asyncio.create_task(self._broadcast(payload))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _broadcast(self, payload: bytes) -> None:
        try:
            await self._transport.broadcast(TOPIC, payload)
        except Exception:
            # The change is committed; its live update is lost, and clients list it.
            log.warning("a live update could not be broadcast", exc_info=True)

    async def _heard(self, payload: bytes) -> None:
        broadcast = pb.LiveBroadcast.FromString(payload)
        for user_id in broadcast.recipient_user_ids:
            for listener in self._listeners.get(user_id, ()):
                listener.offer(broadcast.event)

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

    async def updates(self, user: Principal) -> AsyncGenerator[pb.LiveEvent, None]:
        """A user's live stream: READY, then each update for them as it comes, until their
        token expires (Unauthenticated TOKEN_EXPIRED), their account is suspended or deleted
        (PermissionDenied ACCOUNT_SUSPENDED or ACCOUNT_DELETED, within check_seconds), or they
        fall BACKLOG updates behind (ResourceExhausted FELL_BEHIND: reconnect and list).
        A user already holding streams_per_user streams here is refused one more
        (ResourceExhausted TOO_MANY_STREAMS)."""
        if self.streams_of(user.user_id) >= self._streams_per_user:
            raise ResourceExhausted(
                f"at most {self._streams_per_user} live connections per user: close one "
                "before opening another",
                reason="TOO_MANY_STREAMS",
            )
        listener = self._register(user.user_id)
        try:
            yield pb.LiveEvent(ready=pb.StreamReady(connect_time=timestamp(self._clock.now())))
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
                        f"more than {BACKLOG} updates waited unread: reconnect and list what "
                        "changed",
                        reason="FELL_BEHIND",
                    )
                if listener.waiting.empty():
                    listener.woken.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            listener.woken.wait(), timeout=min(self._check_seconds, left)
                        )
                    continue
                yield listener.waiting.get_nowait()
        finally:
            self._unregister(listener)
