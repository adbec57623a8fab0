"""Messaging's repositories: every query its handlers, consumers and jobs make. The unit of
work holds one of each."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import insert_ignoring_conflicts
from chassis.driver_sql import Driver, DriverStatement
from chassis.ids import new_id
from chassis.text_search import TEXT_CONFIG, fts5_query, words
from services.messaging.domain.attachments import PendingUpload
from services.messaging.domain.contacts import PushDevice, PushPlatform
from services.messaging.domain.conversations import (
    Attachment,
    Conversation,
    Membership,
    Message,
    MessageReport,
    Revision,
    direct_key,
)
from services.messaging.domain.live import LoggedUpdate, UpdateKind
from services.messaging.domain.notifications import (
    Channel,
    Kind,
    Notice,
    Notification,
    Preference,
    Preferences,
    Recipient,
)
from services.messaging.domain.webhooks import (
    DISABLED_FAILING,
    Delivery,
    DeliveryState,
    Outcome,
    PartnerWebhook,
)
from services.messaging.tables import (
    blocks,
    channel_deliveries,
    client_relations,
    conversation_participants,
    conversations,
    live_cursor_keys,
    live_updates,
    mails,
    message_attachments,
    message_reports,
    message_revisions,
    messages,
    notification_preferences,
    notifications,
    partner_webhook_deliveries,
    partner_webhooks,
    post_notices,
    practitioner_users,
    push_devices,
    recipients,
)

# SQLite's full-text index of the messages (made, and kept in step, by migration 0008).
_messages_fts = sa.table("messages_fts", sa.column("message_id"))

# Rows of a kind or channel this version no longer offers are left unread.
KIND_VALUES = frozenset(k.value for k in Kind)
CHANNEL_VALUES = frozenset(c.value for c in Channel)


class Recipients:
    """Identity's users as messaging keeps them: address, name, language, zone."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, user_id: str) -> Recipient | None:
        row = (
            await self._c.execute(sa.select(recipients).where(recipients.c.user_id == user_id))
        ).first()
        if row is None:
            return None
        return Recipient(
            row.user_id, row.email, row.full_name, row.locale, row.time_zone, row.phone_number
        )

    async def remember(self, recipient: Recipient, at: datetime, **changed: Any) -> None:
        """Saves what an event says of a user; `changed` names the fields it carries (an
        event about the address alone leaves the name as it was)."""
        values = {"user_id": recipient.user_id, "updated_at": at, **changed}
        held = await self.get(recipient.user_id)
        if held is None:
            await self._c.execute(
                insert_ignoring_conflicts(self._c.dialect.name, recipients, ["user_id"]),
                values,
            )
        await self._c.execute(
            recipients.update().where(recipients.c.user_id == recipient.user_id).values(values)
        )

    async def erase(self, user_id: str) -> None:
        await self._c.execute(recipients.delete().where(recipients.c.user_id == user_id))


def _notification(row: Any) -> Notification:
    return Notification(
        row.id,
        row.recipient_user_id,
        Kind(row.kind),
        row.title,
        row.body,
        row.subject,
        row.created_at,
        row.read_at,
    )


class Notifications:
    """In-app notifications."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, notice: Notice, title: str, body: str, at: datetime) -> Notification | None:
        """Stores a notice's notification unless this event already made it; the one made."""
        made = Notification(
            new_id(),
            notice.recipient_user_id,
            notice.kind,
            title[:300],
            body,
            notice.subject,
            at,
        )
        inserted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name,
                notifications,
                ["event_id", "recipient_user_id", "kind"],
            ).returning(notifications.c.id),
            {
                "id": made.id,
                "recipient_user_id": made.recipient_user_id,
                "kind": made.kind.value,
                "event_id": notice.event_id,
                "title": made.title,
                "body": made.body,
                "subject": made.subject,
                "created_at": made.created_at,
            },
        )
        return made if inserted.first() is not None else None

    def _of(self, user_id: str, unread_only: bool) -> list[sa.ColumnElement[bool]]:
        where = [notifications.c.recipient_user_id == user_id]
        if unread_only:
            where.append(notifications.c.read_at.is_(None))
        return where

    async def page(
        self, user_id: str, *, unread_only: bool, before: str | None, fetch: int
    ) -> tuple[list[Notification], int]:
        """Newest first, those older than `before` (an id); and how many match in all."""
        where = self._of(user_id, unread_only)
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(notifications).where(*where)
            )
        ).scalar_one()
        if before is not None:
            where.append(notifications.c.id < before)
        rows = await self._c.execute(
            sa.select(notifications).where(*where).order_by(notifications.c.id.desc()).limit(fetch)
        )
        return [_notification(r) for r in rows], total

    async def of_ids(self, user_id: str, notification_ids: list[str]) -> dict[str, Notification]:
        """The user's notifications among these ids."""
        if not notification_ids:
            return {}
        rows = await self._c.execute(
            sa.select(notifications).where(
                notifications.c.id.in_(notification_ids),
                notifications.c.recipient_user_id == user_id,
            )
        )
        return {r.id: _notification(r) for r in rows}

    async def get(self, user_id: str, notification_id: str) -> Notification | None:
        row = (
            await self._c.execute(
                sa.select(notifications).where(
                    notifications.c.id == notification_id,
                    notifications.c.recipient_user_id == user_id,
                )
            )
        ).first()
        return None if row is None else _notification(row)

    async def mark_read(
        self, user_id: str, at: datetime, notification_id: str | None = None
    ) -> int:
        """Marks one (or every) unread notification of a user read; how many changed."""
        where = [notifications.c.recipient_user_id == user_id, notifications.c.read_at.is_(None)]
        if notification_id is not None:
            where.append(notifications.c.id == notification_id)
        done = await self._c.execute(notifications.update().where(*where).values(read_at=at))
        return done.rowcount

    async def unread(self, user_id: str) -> int:
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(notifications)
                .where(*self._of(user_id, unread_only=True))
            )
        ).scalar_one()

    async def erase(self, user_id: str) -> None:
        await self._c.execute(
            notifications.delete().where(notifications.c.recipient_user_id == user_id)
        )


class PostNotices:
    """Whose post each stream.post_published told of."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def record(self, event_id: str, owner_user_id: str, now: datetime) -> None:
        """Notes the post's owner (once: a redelivered event changes nothing)."""
        await self._c.execute(
            insert_ignoring_conflicts(self._c.dialect.name, post_notices, ["event_id"]).values(
                event_id=event_id, owner_user_id=owner_user_id, created_at=now
            )
        )

    async def erase_of_owner(self, owner_user_id: str) -> int:
        """Deletes every notice of the owner's posts, whoever it went to: in-app
        notifications, mail and text messages or pushes, sent or not; how many posts'."""
        told = sa.select(post_notices.c.event_id).where(
            post_notices.c.owner_user_id == owner_user_id
        )
        for table in (notifications, mails, channel_deliveries):
            await self._c.execute(table.delete().where(table.c.event_id.in_(told)))
        erased = await self._c.execute(
            post_notices.delete().where(post_notices.c.owner_user_id == owner_user_id)
        )
        return erased.rowcount


class PreferenceRows:
    """The pairs each user switched."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def of(self, user_id: str) -> Preferences:
        rows = await self._c.execute(
            sa.select(notification_preferences).where(notification_preferences.c.user_id == user_id)
        )
        return Preferences(
            Preference(Kind(r.kind), Channel(r.channel), r.enabled)
            for r in rows
            if r.kind in KIND_VALUES and r.channel in CHANNEL_VALUES
        )

    async def save(self, user_id: str, changes: list[Preference], at: datetime) -> None:
        table = notification_preferences
        for change in changes:
            key = {"user_id": user_id, "kind": change.kind.value, "channel": change.channel.value}
            await self._c.execute(
                insert_ignoring_conflicts(
                    self._c.dialect.name, table, ["user_id", "kind", "channel"]
                ),
                {**key, "enabled": change.enabled, "updated_at": at},
            )
            await self._c.execute(
                table.update()
                .where(*(table.c[name] == value for name, value in key.items()))
                .values(enabled=change.enabled, updated_at=at)
            )

    async def erase(self, user_id: str) -> None:
        await self._c.execute(
            notification_preferences.delete().where(notification_preferences.c.user_id == user_id)
        )


@dataclass(frozen=True)
class QueuedMail:
    """A mail waiting in the outbox."""

    id: str
    to_address: str
    subject: str
    text_body: str
    html_body: str
    attempts: int
    created_at: datetime
    event_id: str = ""
    recipient_user_id: str = ""
    kind: str = ""


class Mails:
    """The outbox of mail."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def queue(
        self,
        notice: Notice,
        to_address: str,
        subject: str,
        text_body: str,
        html_body: str,
        at: datetime,
    ) -> bool:
        """Queues a notice's mail unless this event already queued it; whether it did."""
        inserted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, mails, ["event_id", "recipient_user_id", "kind"]
            ).returning(mails.c.id),
            {
                "id": new_id(),
                "event_id": notice.event_id,
                "recipient_user_id": notice.recipient_user_id,
                "kind": notice.kind.value,
                "to_address": to_address,
                "subject": subject[:300],
                "text_body": text_body,
                "html_body": html_body,
                "created_at": at,
                "next_attempt_at": at,
            },
        )
        return inserted.first() is not None

    async def last_queued(self, user_id: str, kind: Kind) -> datetime | None:
        """When the newest mail of a kind to a user was queued."""
        found: datetime | None = (
            await self._c.execute(
                sa.select(sa.func.max(mails.c.created_at)).where(
                    mails.c.recipient_user_id == user_id, mails.c.kind == kind.value
                )
            )
        ).scalar()
        return found

    async def claim_due(self, now: datetime, limit: int, hold: timedelta) -> list[QueuedMail]:
        """Takes up to `limit` mails due for an attempt, each for `hold` (a run that dies
        leaves them to the next one after that); mails another run holds are skipped."""
        due = sa.select(mails.c.id).where(
            mails.c.sent_at.is_(None),
            mails.c.next_attempt_at <= now,
            sa.or_(mails.c.claimed_until.is_(None), mails.c.claimed_until < now),
        )
        ids = list(
            (await self._c.execute(due.order_by(mails.c.next_attempt_at).limit(limit))).scalars()
        )
        claimed: list[QueuedMail] = []
        for mail_id in ids:
            taken = await self._c.execute(
                mails.update()
                .where(
                    mails.c.id == mail_id,
                    mails.c.sent_at.is_(None),
                    sa.or_(mails.c.claimed_until.is_(None), mails.c.claimed_until < now),
                )
                .values(claimed_until=now + hold)
                .returning(
                    mails.c.id,
                    mails.c.to_address,
                    mails.c.subject,
                    mails.c.text_body,
                    mails.c.html_body,
                    mails.c.attempts,
                    mails.c.created_at,
                    mails.c.event_id,
                    mails.c.recipient_user_id,
                    mails.c.kind,
                )
            )
            row = taken.first()
            if row is not None:
                claimed.append(QueuedMail(*row))
        return claimed

    async def sent(self, mail_id: str, at: datetime) -> None:
        await self._c.execute(
            mails.update()
            .where(mails.c.id == mail_id)
            .values(sent_at=at, claimed_until=None, attempts=mails.c.attempts + 1)
        )

    async def failed(self, mail_id: str, retry_at: datetime, error: str) -> None:
        await self._c.execute(
            mails.update()
            .where(mails.c.id == mail_id)
            .values(
                attempts=mails.c.attempts + 1,
                next_attempt_at=retry_at,
                claimed_until=None,
                last_error=error[:500],
            )
        )

    async def forget_sent(self, before: datetime) -> int:
        """Deletes mail sent before then; how many."""
        done = await self._c.execute(
            mails.delete().where(mails.c.sent_at.is_not(None), mails.c.sent_at < before)
        )
        return done.rowcount

    async def unsent(self) -> int:
        return (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(mails).where(mails.c.sent_at.is_(None))
            )
        ).scalar_one()

    async def erase(self, user_id: str) -> None:
        await self._c.execute(mails.delete().where(mails.c.recipient_user_id == user_id))


class PushDevices:
    """The devices users registered for push."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def register(self, device: PushDevice, token_digest: str) -> PushDevice:
        """Adds the device, or gives the token's device to this user; the device as held."""
        await self._c.execute(
            insert_ignoring_conflicts(self._c.dialect.name, push_devices, ["token_digest"]),
            {
                "id": device.id,
                "user_id": device.user_id,
                "platform": device.platform.value,
                "token": device.token,
                "token_digest": token_digest,
                "created_at": device.created_at,
            },
        )
        await self._c.execute(
            push_devices.update()
            .where(
                push_devices.c.token_digest == token_digest,
                push_devices.c.user_id != device.user_id,
            )
            .values(user_id=device.user_id, platform=device.platform.value)
        )
        row = (
            await self._c.execute(
                sa.select(push_devices).where(push_devices.c.token_digest == token_digest)
            )
        ).one()
        return _device(row)

    async def of(self, user_id: str) -> list[PushDevice]:
        """A user's devices, newest first."""
        rows = await self._c.execute(
            sa.select(push_devices)
            .where(push_devices.c.user_id == user_id)
            .order_by(push_devices.c.id.desc())
        )
        return [_device(r) for r in rows]

    async def count(self, user_id: str) -> int:
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(push_devices)
                .where(push_devices.c.user_id == user_id)
            )
        ).scalar_one()

    async def unregister(self, user_id: str, device_id: str) -> bool:
        """Removes one of the user's devices; whether there was one."""
        done = await self._c.execute(
            push_devices.delete().where(
                push_devices.c.id == device_id, push_devices.c.user_id == user_id
            )
        )
        return done.rowcount > 0

    async def erase(self, user_id: str) -> None:
        await self._c.execute(push_devices.delete().where(push_devices.c.user_id == user_id))


def _device(row: Any) -> PushDevice:
    return PushDevice(row.id, row.user_id, PushPlatform(row.platform), row.token, row.created_at)


@dataclass(frozen=True)
class QueuedDelivery:
    """A text message or push notification waiting in the outbox."""

    id: str
    event_id: str
    recipient_user_id: str
    kind: Kind
    channel: Channel
    title: str
    body: str
    subject: str
    attempts: int


class ChannelDeliveries:
    """The outbox of text messages and push notifications."""

    PENDING = "pending"
    SENT = "sent"
    # Nowhere to send it any more (the number or every device removed), or given up on.
    DROPPED = "dropped"
    FAILED = "failed"

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def queue(
        self, notice: Notice, channel: Channel, title: str, body: str, at: datetime
    ) -> bool:
        """Queues a notice on a channel unless this event already queued it; whether it did."""
        inserted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name,
                channel_deliveries,
                ["event_id", "recipient_user_id", "kind", "channel"],
            ).returning(channel_deliveries.c.id),
            {
                "id": new_id(),
                "event_id": notice.event_id,
                "recipient_user_id": notice.recipient_user_id,
                "kind": notice.kind.value,
                "channel": channel.value,
                "title": title[:300],
                "body": body,
                "subject": notice.subject,
                "state": self.PENDING,
                "created_at": at,
                "next_attempt_at": at,
            },
        )
        return inserted.first() is not None

    async def claim_due(self, now: datetime, limit: int, hold: timedelta) -> list[QueuedDelivery]:
        """Takes up to `limit` deliveries due for an attempt, each for `hold`, as the mail
        job takes mail; those another run holds are skipped."""
        table = channel_deliveries
        free = sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)
        due = (
            sa.select(table.c.id)
            .where(table.c.state == self.PENDING, table.c.next_attempt_at <= now, free)
            .order_by(table.c.next_attempt_at)
            .limit(limit)
        )
        claimed: list[QueuedDelivery] = []
        for delivery_id in list((await self._c.execute(due)).scalars()):
            taken = await self._c.execute(
                table.update()
                .where(table.c.id == delivery_id, table.c.state == self.PENDING, free)
                .values(claimed_until=now + hold)
                .returning(
                    table.c.id,
                    table.c.event_id,
                    table.c.recipient_user_id,
                    table.c.kind,
                    table.c.channel,
                    table.c.title,
                    table.c.body,
                    table.c.subject,
                    table.c.attempts,
                )
            )
            row = taken.first()
            if row is not None and row.kind in KIND_VALUES and row.channel in CHANNEL_VALUES:
                claimed.append(
                    QueuedDelivery(
                        row.id,
                        row.event_id,
                        row.recipient_user_id,
                        Kind(row.kind),
                        Channel(row.channel),
                        row.title,
                        row.body,
                        row.subject,
                        row.attempts,
                    )
                )
        return claimed

    async def finished(self, delivery_id: str, state: str, at: datetime, note: str = "") -> None:
        """Settles a claimed delivery: sent, dropped (nowhere to send) or failed for good."""
        await self._c.execute(
            channel_deliveries.update()
            .where(channel_deliveries.c.id == delivery_id)
            .values(
                state=state,
                finished_at=at,
                claimed_until=None,
                attempts=channel_deliveries.c.attempts + int(state != self.DROPPED),
                last_error=note[:500],
            )
        )

    async def retry_later(self, delivery_id: str, retry_at: datetime, error: str) -> None:
        await self._c.execute(
            channel_deliveries.update()
            .where(channel_deliveries.c.id == delivery_id)
            .values(
                attempts=channel_deliveries.c.attempts + 1,
                next_attempt_at=retry_at,
                claimed_until=None,
                last_error=error[:500],
            )
        )

    async def forget_finished(self, before: datetime) -> int:
        """Deletes deliveries settled before then; how many."""
        done = await self._c.execute(
            channel_deliveries.delete().where(
                channel_deliveries.c.finished_at.is_not(None),
                channel_deliveries.c.finished_at < before,
            )
        )
        return done.rowcount

    async def erase(self, user_id: str) -> None:
        await self._c.execute(
            channel_deliveries.delete().where(channel_deliveries.c.recipient_user_id == user_id)
        )


# Conversations ---------------------------------------------------------------------------


_BLOCKED_BETWEEN = sa.select(blocks.c.blocker_id).where(
    sa.or_(
        sa.and_(
            blocks.c.blocker_id == sa.bindparam("one"), blocks.c.blocked_id == sa.bindparam("other")
        ),
        sa.and_(
            blocks.c.blocker_id == sa.bindparam("other"), blocks.c.blocked_id == sa.bindparam("one")
        ),
    )
)


class Relations:
    """Who is a practitioner, and who booked whom, as catalog's and booking's events say."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def practitioner(self, user_id: str, practitioner_id: str, at: datetime) -> None:
        await self._c.execute(
            insert_ignoring_conflicts(self._c.dialect.name, practitioner_users, ["user_id"]),
            {"user_id": user_id, "practitioner_id": practitioner_id, "approved_at": at},
        )

    async def client(self, practitioner_user_id: str, client_id: str, at: datetime) -> None:
        await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, client_relations, ["practitioner_user_id", "client_id"]
            ),
            {"practitioner_user_id": practitioner_user_id, "client_id": client_id, "since": at},
        )

    async def is_practitioner(self, user_id: str) -> bool:
        found = await self._c.execute(
            sa.select(practitioner_users.c.user_id).where(practitioner_users.c.user_id == user_id)
        )
        return found.first() is not None

    async def is_client_of(self, client_id: str, practitioner_user_id: str) -> bool:
        found = await self._c.execute(
            sa.select(client_relations.c.client_id).where(
                client_relations.c.practitioner_user_id == practitioner_user_id,
                client_relations.c.client_id == client_id,
            )
        )
        return found.first() is not None

    async def blocked_between(self, one: str, other: str) -> bool:
        found = await self._c.execute(_BLOCKED_BETWEEN, {"one": one, "other": other})
        return found.first() is not None

    async def block(self, blocker_id: str, blocked_id: str, at: datetime) -> None:
        await self._c.execute(
            insert_ignoring_conflicts(self._c.dialect.name, blocks, ["blocker_id", "blocked_id"]),
            {"blocker_id": blocker_id, "blocked_id": blocked_id, "created_at": at},
        )

    async def unblock(self, blocker_id: str, blocked_id: str) -> None:
        await self._c.execute(
            blocks.delete().where(
                blocks.c.blocker_id == blocker_id, blocks.c.blocked_id == blocked_id
            )
        )


@dataclass(frozen=True)
class Untold:
    """A conversation's messages a digest is to tell of: how many, and the newest."""

    count: int
    newest: Message


def _message(row: Any) -> Message:
    return Message(
        row.id,
        row.conversation_id,
        row.sender_id,
        row.text,
        row.reply_to_id,
        row.created_at,
        row.sender_erased,
        row.edited_at,
        row.deleted_at,
    )


async def _with_attachments(connection: AsyncConnection, found: list[Message]) -> list[Message]:
    """The messages with the attachments each carries, in the order sent."""
    if not found:
        return found
    a = message_attachments
    rows = await connection.execute(
        sa.select(a.c.message_id, a.c.object_key, a.c.content_type, a.c.size)
        .where(a.c.message_id.in_([m.id for m in found]), a.c.discarded.is_(False))
        .order_by(a.c.message_id, a.c.position)
    )
    carried: dict[str, list[Attachment]] = {}
    for row in rows:
        carried.setdefault(row.message_id, []).append(
            Attachment(row.object_key, row.content_type, row.size)
        )
    return [replace(m, attachments=tuple(carried.get(m.id, ()))) for m in found]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    return (at - EPOCH) // MICROSECOND


def activity_key(conversation: Conversation) -> list[Any]:
    """A conversation's place in a list: the most recently active first."""
    return [_micros(conversation.updated_at), conversation.id]


# What sending a message runs, built once: building a statement and its cache key for each
# call cost about as much as running it.
_CONVERSATION_OF_MEMBER = (
    sa.select(conversations)
    .join(
        conversation_participants,
        conversation_participants.c.conversation_id == conversations.c.id,
    )
    .where(
        conversations.c.id == sa.bindparam("conversation_id"),
        conversation_participants.c.user_id == sa.bindparam("user_id"),
    )
)
# A conversation's participants, each with whether a block stands between them and the
# writer in a direct conversation: a writer's membership in one statement, on the driver (a
# send's one read: SQLAlchemy's work for it was most of its CPU).
_MEMBERSHIP = DriverStatement(
    "SELECT c.id, c.direct_key, c.title, c.created_at, c.updated_at,"
    " p.user_id, p.admin, p.archived_at IS NOT NULL,"
    " c.direct_key IS NOT NULL AND EXISTS (SELECT 1 FROM blocks b"
    " WHERE (b.blocker_id = :user_id AND b.blocked_id = p.user_id)"
    " OR (b.blocker_id = p.user_id AND b.blocked_id = :user_id))"
    " FROM conversations c JOIN conversation_participants p ON p.conversation_id = c.id"
    " WHERE c.id = :conversation_id ORDER BY p.user_id"
)


class _MemberRow(NamedTuple):
    """A row of _MEMBERSHIP, as the driver gives it."""

    id: str
    direct_key: str | None
    title: str
    created_at: Any
    updated_at: Any
    user_id: str
    admin: bool
    archived: bool
    blocked: bool


# A message written, in one round trip on PostgreSQL: its row, the conversation's time, the
# conversation back in the lists of those who archived it, and read by its sender.
_ADD_MESSAGE = DriverStatement(
    "INSERT INTO messages (id, conversation_id, sender_id, text, reply_to_id, created_at)"
    " VALUES (:id, :conversation_id, :sender_id, :text, :reply_to_id, :created_at)"
)
_TOUCH_CONVERSATION = DriverStatement(
    "UPDATE conversations SET updated_at = :created_at WHERE id = :conversation_id"
)
_UNARCHIVE_FOR_OTHERS = DriverStatement(
    "UPDATE conversation_participants SET archived_at = NULL"
    " WHERE conversation_id = :conversation_id AND user_id <> :sender_id"
    " AND archived_at IS NOT NULL"
)
# Ids grow with time: the sender's mark only moves forward.
_READ_BY_SENDER = DriverStatement(
    "UPDATE conversation_participants SET last_read_message_id = :id"
    " WHERE conversation_id = :conversation_id AND user_id = :sender_id"
    " AND last_read_message_id < :id"
)


class Conversations:
    """Direct conversations, their participants and messages."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def direct(self, one: str, other: str) -> str | None:
        """The id of the pair's conversation, if they have one."""
        return (
            await self._c.execute(
                sa.select(conversations.c.id).where(
                    conversations.c.direct_key == direct_key(one, other)
                )
            )
        ).scalar()

    async def start_direct(self, one: str, other: str, at: datetime) -> str:
        """The pair's conversation: made now, or the one that exists (also when another
        request made it at the same moment)."""
        made = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, conversations, ["direct_key"]
            ).returning(conversations.c.id),
            {
                "id": new_id(),
                "direct_key": direct_key(one, other),
                "created_at": at,
                "updated_at": at,
            },
        )
        conversation_id = made.scalar()
        if conversation_id is None:
            existing = await self.direct(one, other)
            assert existing is not None
            return existing
        await self._c.execute(
            conversation_participants.insert(),
            [
                {"conversation_id": conversation_id, "user_id": user_id, "joined_at": at}
                for user_id in (one, other)
            ],
        )
        return conversation_id

    async def start_group(self, creator: str, others: list[str], title: str, at: datetime) -> str:
        """A new group of its creator (its first admin) and others."""
        conversation_id = new_id()
        await self._c.execute(
            conversations.insert().values(
                id=conversation_id, direct_key=None, title=title, created_at=at, updated_at=at
            )
        )
        await self._c.execute(
            conversation_participants.insert(),
            [
                {
                    "conversation_id": conversation_id,
                    "user_id": user_id,
                    "admin": user_id == creator,
                    "joined_at": at,
                }
                for user_id in (creator, *others)
            ],
        )
        return conversation_id

    async def lock(self, conversation_id: str) -> None:
        """Holds the conversation's row until this transaction ends (PostgreSQL; a SQLite
        writer holds the whole database already), so changes of its members queue."""
        if self._c.dialect.name == "postgresql":
            await self._c.execute(
                sa.select(conversations.c.id)
                .where(conversations.c.id == conversation_id)
                .with_for_update()
            )

    async def join(self, conversation_id: str, user_id: str, at: datetime) -> bool:
        """Adds a participant, who has read what came before they joined; False if they
        are in already."""
        newest = (
            sa.select(sa.func.coalesce(sa.func.max(messages.c.id), ""))
            .where(messages.c.conversation_id == conversation_id)
            .scalar_subquery()
        )
        added = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, conversation_participants, ["conversation_id", "user_id"]
            )
            .values(
                conversation_id=conversation_id,
                user_id=user_id,
                last_read_message_id=newest,
                joined_at=at,
            )
            .returning(conversation_participants.c.user_id)
        )
        return added.first() is not None

    async def leave(self, conversation_id: str, user_id: str) -> bool:
        """Removes a participant; False if they were not in it. A group left without an
        admin gets its longest-standing participant as one."""
        p = conversation_participants
        gone = await self._c.execute(
            p.delete()
            .where(p.c.conversation_id == conversation_id, p.c.user_id == user_id)
            .returning(p.c.user_id)
        )
        if gone.first() is None:
            return False
        admins = sa.select(p.c.user_id).where(p.c.conversation_id == conversation_id, p.c.admin)
        if (await self._c.execute(admins.limit(1))).first() is None:
            eldest = (
                sa.select(p.c.user_id)
                .where(p.c.conversation_id == conversation_id)
                .order_by(p.c.joined_at, p.c.user_id)
                .limit(1)
                .scalar_subquery()
            )
            await self._c.execute(
                p.update()
                .where(p.c.conversation_id == conversation_id, p.c.user_id == eldest)
                .values(admin=True)
            )
        return True

    async def rename(self, conversation_id: str, title: str) -> None:
        await self._c.execute(
            conversations.update().where(conversations.c.id == conversation_id).values(title=title)
        )

    async def participants(self, conversation_id: str) -> tuple[str, ...]:
        rows = await self._c.execute(
            sa.select(conversation_participants.c.user_id)
            .where(conversation_participants.c.conversation_id == conversation_id)
            .order_by(conversation_participants.c.user_id)
        )
        return tuple(rows.scalars())

    def _unread(self, user_id: str) -> Any:
        """The caller's unread messages per conversation: others' after their last read."""
        p = conversation_participants
        return (
            sa.select(messages.c.conversation_id, sa.func.count().label("unread"))
            .join(
                p,
                sa.and_(p.c.conversation_id == messages.c.conversation_id, p.c.user_id == user_id),
            )
            .where(messages.c.sender_id != user_id, messages.c.id > p.c.last_read_message_id)
            .group_by(messages.c.conversation_id)
        )

    async def _seen_by(self, user_id: str, rows: list[Any]) -> list[Conversation]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        counted = await self._c.execute(
            self._unread(user_id).where(messages.c.conversation_id.in_(ids))
        )
        unread = {conversation_id: count for conversation_id, count in counted}
        people: dict[str, dict[str, str]] = {i: {} for i in ids}
        admins: dict[str, list[str]] = {i: [] for i in ids}
        archived: set[str] = set()
        for conversation_id, member, read, admin, archived_at in await self._c.execute(
            sa.select(
                conversation_participants.c.conversation_id,
                conversation_participants.c.user_id,
                conversation_participants.c.last_read_message_id,
                conversation_participants.c.admin,
                conversation_participants.c.archived_at,
            )
            .where(conversation_participants.c.conversation_id.in_(ids))
            .order_by(conversation_participants.c.user_id)
        ):
            people[conversation_id][member] = read
            if admin:
                admins[conversation_id].append(member)
            if member == user_id and archived_at is not None:
                archived.add(conversation_id)
        newest = (
            sa.select(sa.func.max(messages.c.id))
            .where(messages.c.conversation_id.in_(ids))
            .group_by(messages.c.conversation_id)
        )
        newest_messages = [
            _message(m)
            for m in await self._c.execute(sa.select(messages).where(messages.c.id.in_(newest)))
        ]
        last = {m.conversation_id: m for m in await _with_attachments(self._c, newest_messages)}
        return [
            Conversation(
                r.id,
                tuple(people[r.id]),
                r.created_at,
                r.updated_at,
                unread.get(r.id, 0),
                last.get(r.id),
                people[r.id],
                is_group=r.direct_key is None,
                title=r.title,
                admin_ids=tuple(admins[r.id]),
                archived=r.id in archived,
            )
            for r in rows
        ]

    async def set_archived(self, user_id: str, conversation_id: str, at: datetime | None) -> None:
        """Archives a conversation for one participant (None: back in their list)."""
        p = conversation_participants
        await self._c.execute(
            p.update()
            .where(p.c.conversation_id == conversation_id, p.c.user_id == user_id)
            .values(archived_at=at)
        )

    async def get(self, user_id: str, conversation_id: str) -> Conversation | None:
        """A conversation the user is in; None for any other."""
        row = await self._row_of_member(user_id, conversation_id)
        return None if row is None else (await self._seen_by(user_id, [row]))[0]

    async def membership(self, user_id: str, conversation_id: str) -> Membership | None:
        """A conversation the user is in, with who is in it and whether a block stands
        between them, but none of its reading state (unread count, newest message, read
        receipts): what a write to it needs, in one statement. None for any other."""
        driver = Driver(self._c)
        members = [
            _MemberRow(*row)
            for row in await driver.execute(
                _MEMBERSHIP, {"user_id": user_id, "conversation_id": conversation_id}
            )
        ]
        mine = [m for m in members if m.user_id == user_id]
        if not mine:
            return None
        first = members[0]
        at = conversations.c.created_at.type
        conversation = Conversation(
            first.id,
            tuple(m.user_id for m in members),
            driver.read(at, first.created_at),
            driver.read(at, first.updated_at),
            is_group=first.direct_key is None,
            title=first.title,
            admin_ids=tuple(m.user_id for m in members if m.admin),
            archived=bool(mine[0].archived),
        )
        return Membership(conversation, blocked=any(m.blocked for m in members))

    async def _row_of_member(self, user_id: str, conversation_id: str) -> Any:
        return (
            await self._c.execute(
                _CONVERSATION_OF_MEMBER, {"user_id": user_id, "conversation_id": conversation_id}
            )
        ).first()

    async def page(
        self, user_id: str, *, after: tuple[Any, ...] | None, fetch: int, archived: bool = False
    ) -> tuple[list[Conversation], int, int]:
        """The user's conversations (those they archived, or the others), most recently
        active first; how many in all; how many messages they have not read anywhere."""
        p = conversation_participants
        mine = sa.select(p.c.conversation_id).where(
            p.c.user_id == user_id,
            p.c.archived_at.is_not(None) if archived else p.c.archived_at.is_(None),
        )
        where: list[sa.ColumnElement[bool]] = [conversations.c.id.in_(mine)]
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(conversations).where(*where)
            )
        ).scalar_one()
        unread_total = (
            await self._c.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(self._unread(user_id).subquery().c.unread), 0)
                )
            )
        ).scalar_one()
        if after is not None:
            micros, last_id = after
            at = EPOCH + micros * MICROSECOND
            where.append(
                sa.or_(
                    conversations.c.updated_at < at,
                    sa.and_(conversations.c.updated_at == at, conversations.c.id < last_id),
                )
            )
        rows = list(
            await self._c.execute(
                sa.select(conversations)
                .where(*where)
                .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
                .limit(fetch)
            )
        )
        return await self._seen_by(user_id, rows), total, int(unread_total)

    def message_writes(self, message: Message) -> list[tuple[DriverStatement, dict[str, Any]]]:
        """The writes of a message, read by its sender; the conversation is active again, and
        back in the lists of those who archived it. Nothing reads them back before the
        commit, which sends them (UnitOfWork.write_with_commit)."""
        driver = Driver(self._c)
        written = {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "sender_id": message.sender_id,
            "text": message.text,
            "reply_to_id": message.reply_to_id,
            "created_at": driver.bind(messages.c.created_at.type, message.created_at),
        }
        return [
            (_ADD_MESSAGE, written),
            (_TOUCH_CONVERSATION, written),
            (_UNARCHIVE_FOR_OTHERS, written),
            (_READ_BY_SENDER, written),
        ]

    async def search(
        self, user_id: str, text: str, *, before: str | None, fetch: int
    ) -> tuple[list[Message], int]:
        """The messages of the user's conversations that hold every word of text (deleted
        and erased ones hold none), newest first, older than `before` (an id); how many."""
        mine = sa.select(conversation_participants.c.conversation_id).where(
            conversation_participants.c.user_id == user_id
        )
        matches: sa.ColumnElement[bool]
        if self._c.dialect.name == "postgresql":
            # Every word, and nothing but words (no OR or quotes from the searcher).
            matches = sa.func.to_tsvector(TEXT_CONFIG, messages.c.text).op("@@")(
                sa.func.plainto_tsquery(TEXT_CONFIG, " ".join(words(text)))
            )
        else:
            matches = messages.c.id.in_(
                sa.select(_messages_fts.c.message_id).where(
                    sa.literal_column("messages_fts").op("MATCH")(fts5_query(text))
                )
            )
        where: list[sa.ColumnElement[bool]] = [messages.c.conversation_id.in_(mine), matches]
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(messages).where(*where))
        ).scalar_one()
        if before is not None:
            where.append(messages.c.id < before)
        rows = await self._c.execute(
            sa.select(messages).where(*where).order_by(messages.c.id.desc()).limit(fetch)
        )
        return await _with_attachments(self._c, [_message(r) for r in rows]), int(total)

    async def message(
        self, conversation_id: str, message_id: str, *, lock: bool = False
    ) -> Message | None:
        """A message of a conversation; locked for this transaction if asked (PostgreSQL: a
        SQLite writer holds the whole database), so an edit and a deletion queue."""
        query = sa.select(messages).where(
            messages.c.id == message_id, messages.c.conversation_id == conversation_id
        )
        if lock and self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return None if row is None else (await _with_attachments(self._c, [_message(row)]))[0]

    async def messages_by_id(self, message_ids: list[str]) -> dict[str, Message]:
        """Messages by their ids (those that exist), with their attachments."""
        if not message_ids:
            return {}
        rows = await self._c.execute(sa.select(messages).where(messages.c.id.in_(message_ids)))
        found = await _with_attachments(self._c, [_message(r) for r in rows])
        return {m.id: m for m in found}

    async def read_up_to(self, conversation_id: str, user_id: str) -> str | None:
        """The newest message a participant has read ("" before any); None if they left."""
        p = conversation_participants
        read = await self._c.execute(
            sa.select(p.c.last_read_message_id).where(
                p.c.conversation_id == conversation_id, p.c.user_id == user_id
            )
        )
        return read.scalar()

    async def messages(
        self, conversation_id: str, *, before: str | None, fetch: int
    ) -> tuple[list[Message], int]:
        """A conversation's messages, newest first, older than `before` (an id)."""
        where = [messages.c.conversation_id == conversation_id]
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(messages).where(*where))
        ).scalar_one()
        if before is not None:
            where.append(messages.c.id < before)
        rows = await self._c.execute(
            sa.select(messages).where(*where).order_by(messages.c.id.desc()).limit(fetch)
        )
        return await _with_attachments(self._c, [_message(r) for r in rows]), total

    async def mark_read(self, user_id: str, conversation_id: str) -> None:
        """Everything in the conversation up to its newest message is read by the user."""
        newest = (
            sa.select(sa.func.max(messages.c.id))
            .where(messages.c.conversation_id == conversation_id)
            .scalar_subquery()
        )
        p = conversation_participants
        await self._c.execute(
            p.update()
            .where(
                p.c.conversation_id == conversation_id,
                p.c.user_id == user_id,
                newest.is_not(None),
                p.c.last_read_message_id < newest,
            )
            .values(last_read_message_id=newest)
        )

    def _untold(self, before: datetime) -> sa.ColumnElement[bool]:
        """Others' messages a participant has neither read nor been told of by a digest,
        sent at or before a moment (the participants table joined)."""
        p = conversation_participants
        return sa.and_(
            messages.c.conversation_id == p.c.conversation_id,
            messages.c.sender_id != p.c.user_id,
            messages.c.id > p.c.last_read_message_id,
            messages.c.id > p.c.digested_message_id,
            messages.c.created_at <= before,
        )

    async def awaiting_digest(self, before: datetime, limit: int) -> list[str]:
        """Users with messages unread and untold since before, the longest waiting first."""
        p = conversation_participants
        rows = await self._c.execute(
            sa.select(p.c.user_id)
            .join(messages, self._untold(before))
            .group_by(p.c.user_id)
            .order_by(sa.func.min(messages.c.id))
            .limit(limit)
        )
        return list(rows.scalars())

    async def untold(self, user_id: str, before: datetime) -> list[Untold]:
        """Per conversation of a user: how many messages are unread and untold since before,
        and the newest of them; the most recent conversation first."""
        p = conversation_participants
        counted = (
            sa.select(
                messages.c.conversation_id,
                sa.func.count().label("untold"),
                sa.func.max(messages.c.id).label("newest"),
            )
            .select_from(p)
            .join(messages, self._untold(before))
            .where(p.c.user_id == user_id)
            .group_by(messages.c.conversation_id)
            .subquery()
        )
        rows = await self._c.execute(
            sa.select(counted.c.untold, messages)
            .join(messages, messages.c.id == counted.c.newest)
            .order_by(messages.c.id.desc())
        )
        return [Untold(row.untold, _message(row)) for row in rows]

    async def mark_told(self, user_id: str, conversation_id: str, message_id: str) -> None:
        """A digest told the participant of the conversation's messages up to this one."""
        p = conversation_participants
        await self._c.execute(
            p.update()
            .where(
                p.c.conversation_id == conversation_id,
                p.c.user_id == user_id,
                p.c.digested_message_id < message_id,
            )
            .values(digested_message_id=message_id)
        )

    async def replace_text(self, message: Message, text: str, reason: str, at: datetime) -> Message:
        """A message edited (reason "edited") or deleted ("deleted", its text emptied), what
        it said kept as a revision; the message as it now is."""
        await self._c.execute(
            message_revisions.insert().values(
                id=new_id(), message_id=message.id, text=message.text, reason=reason, replaced_at=at
            )
        )
        changed: dict[str, Any] = {"text": text}
        if reason == "edited":
            changed["edited_at"] = at
        else:
            changed["deleted_at"] = at
        await self._c.execute(
            messages.update().where(messages.c.id == message.id).values(**changed)
        )
        found = await self.message(message.conversation_id, message.id)
        assert found is not None
        return found

    async def revisions(self, message_id: str) -> list[Revision]:
        """What a message said before each change, oldest first."""
        rows = await self._c.execute(
            sa.select(message_revisions)
            .where(message_revisions.c.message_id == message_id)
            .order_by(message_revisions.c.id)
        )
        return [Revision(r.text, r.reason, r.replaced_at) for r in rows]

    async def erase_sender(self, user_id: str) -> None:
        """An erased user's messages keep their place, not their words (nor their earlier
        words, kept for staff)."""
        theirs = sa.select(messages.c.id).where(messages.c.sender_id == user_id)
        await self._c.execute(
            message_revisions.delete().where(message_revisions.c.message_id.in_(theirs))
        )
        await self._c.execute(
            messages.update()
            .where(messages.c.sender_id == user_id)
            .values(text="", sender_erased=True)
        )


def _pending(row: Any) -> PendingUpload:
    return PendingUpload(
        row.id,
        row.conversation_id,
        row.uploader_id,
        row.object_key,
        row.content_type,
        row.max_bytes,
        row.created_at,
    )


class Attachments:
    """Upload slots in conversations and the attachments of messages."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add_pending(self, upload: PendingUpload) -> None:
        await self._c.execute(
            message_attachments.insert().values(
                id=upload.id,
                conversation_id=upload.conversation_id,
                uploader_id=upload.uploader_id,
                object_key=upload.reference,
                content_type=upload.content_type,
                max_bytes=upload.max_bytes,
                created_at=upload.created_at,
            )
        )

    async def pending(
        self, reference: str, uploader_id: str, conversation_id: str
    ) -> PendingUpload | None:
        """The uploader's slot in the conversation under this reference, if no message
        carries it yet."""
        a = message_attachments
        row = (
            await self._c.execute(
                sa.select(a).where(
                    a.c.object_key == reference,
                    a.c.uploader_id == uploader_id,
                    a.c.conversation_id == conversation_id,
                    a.c.message_id.is_(None),
                    a.c.discarded.is_(False),
                )
            )
        ).first()
        return None if row is None else _pending(row)

    async def attach(
        self, upload: PendingUpload, message_id: str, position: int, size: int
    ) -> bool:
        """The slot carried by a message; False if another message took it first (the
        second of two concurrent sends waits for the first and finds it taken)."""
        a = message_attachments
        taken = await self._c.execute(
            a.update()
            .where(a.c.id == upload.id, a.c.message_id.is_(None), a.c.discarded.is_(False))
            .values(message_id=message_id, position=position, size=size)
        )
        return taken.rowcount == 1

    async def discard_of_message(self, message_id: str) -> None:
        """A deleted message's attachments: their objects go."""
        a = message_attachments
        await self._c.execute(a.update().where(a.c.message_id == message_id).values(discarded=True))

    async def discard_of_uploader(self, user_id: str) -> None:
        """An erased user's uploads, sent or not: their objects go."""
        a = message_attachments
        await self._c.execute(a.update().where(a.c.uploader_id == user_id).values(discarded=True))

    async def discard_unsent(self, before: datetime) -> None:
        """Upload slots no message took since before: their objects go."""
        a = message_attachments
        await self._c.execute(
            a.update()
            .where(a.c.message_id.is_(None), a.c.created_at < before, a.c.discarded.is_(False))
            .values(discarded=True)
        )

    async def discarded(self, limit: int) -> list[tuple[str, str]]:
        """Discarded rows whose objects are to be deleted, oldest first: (id, key) each."""
        a = message_attachments
        rows = await self._c.execute(
            sa.select(a.c.id, a.c.object_key)
            .where(a.c.discarded.is_(True))
            .order_by(a.c.created_at)
            .limit(limit)
        )
        return [(row.id, row.object_key) for row in rows]

    async def forget(self, attachment_id: str, made_before: datetime) -> None:
        """A discarded row whose object is deleted, once no form for it can be used."""
        a = message_attachments
        await self._c.execute(
            a.delete().where(
                a.c.id == attachment_id, a.c.discarded.is_(True), a.c.created_at < made_before
            )
        )


class Reports:
    """Messages reported to staff."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, message_id: str, reporter_id: str, reason: str, at: datetime) -> str:
        """The report of a message by a reporter: filed now, or the one they filed before."""
        made = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name, message_reports, ["message_id", "reporter_id"]
            ).returning(message_reports.c.id),
            {
                "id": new_id(),
                "message_id": message_id,
                "reporter_id": reporter_id,
                "reason": reason,
                "created_at": at,
            },
        )
        report_id = made.scalar()
        if report_id is None:
            report_id = (
                await self._c.execute(
                    sa.select(message_reports.c.id).where(
                        message_reports.c.message_id == message_id,
                        message_reports.c.reporter_id == reporter_id,
                    )
                )
            ).scalar_one()
        return str(report_id)

    def _joined(self) -> Any:
        return sa.select(message_reports, messages).join(
            messages, messages.c.id == message_reports.c.message_id
        )

    @staticmethod
    def _report(row: Any) -> MessageReport:
        m = row._mapping
        message = Message(
            m[messages.c.id],
            m[messages.c.conversation_id],
            m[messages.c.sender_id],
            m[messages.c.text],
            m[messages.c.reply_to_id],
            m[messages.c.created_at],
            m[messages.c.sender_erased],
        )
        return MessageReport(
            m[message_reports.c.id],
            message,
            m[message_reports.c.reporter_id],
            m[message_reports.c.reason],
            m[message_reports.c.created_at],
        )

    async def get(self, report_id: str) -> MessageReport:
        row = (await self._c.execute(self._joined().where(message_reports.c.id == report_id))).one()
        return self._report(row)

    async def page(self, *, before: str | None, fetch: int) -> tuple[list[MessageReport], int]:
        """Every report, the newest first, older than `before` (an id)."""
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(message_reports))
        ).scalar_one()
        query = self._joined()
        if before is not None:
            query = query.where(message_reports.c.id < before)
        rows = await self._c.execute(query.order_by(message_reports.c.id.desc()).limit(fetch))
        return [self._report(r) for r in rows], total


# Partner webhooks ------------------------------------------------------------------------


def _webhook(row: Any) -> PartnerWebhook:
    return PartnerWebhook(
        row.id,
        row.url,
        row.description,
        tuple(row.event_types),
        row.enabled,
        row.created_at,
        row.updated_at,
        row.disabled_reason,
        row.consecutive_failures,
        row.secret,
    )


class PartnerWebhooks:
    """Partners' endpoints."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, webhook: PartnerWebhook) -> None:
        await self._c.execute(
            partner_webhooks.insert().values(
                id=webhook.id,
                url=webhook.url,
                description=webhook.description,
                event_types=list(webhook.event_types),
                enabled=webhook.enabled,
                secret=webhook.secret,
                created_at=webhook.created_at,
                updated_at=webhook.updated_at,
            )
        )

    async def get(self, webhook_id: str, *, lock: bool = False) -> PartnerWebhook | None:
        query = sa.select(partner_webhooks).where(partner_webhooks.c.id == webhook_id)
        if lock:
            query = query.with_for_update()
        row = (await self._c.execute(query)).first()
        return _webhook(row) if row is not None else None

    async def save(self, webhook: PartnerWebhook) -> None:
        """Writes what staff may change (the failure count only as enabling resets it)."""
        await self._c.execute(
            partner_webhooks.update()
            .where(partner_webhooks.c.id == webhook.id)
            .values(
                description=webhook.description,
                event_types=list(webhook.event_types),
                enabled=webhook.enabled,
                disabled_reason=webhook.disabled_reason,
                consecutive_failures=webhook.consecutive_failures,
                secret=webhook.secret,
                updated_at=webhook.updated_at,
            )
        )

    async def delete(self, webhook_id: str) -> None:
        await self._c.execute(
            partner_webhook_deliveries.delete().where(
                partner_webhook_deliveries.c.webhook_id == webhook_id
            )
        )
        await self._c.execute(partner_webhooks.delete().where(partner_webhooks.c.id == webhook_id))

    async def page(self, *, before: str | None, fetch: int) -> tuple[list[PartnerWebhook], int]:
        """Every endpoint, the newest first, older than `before` (an id)."""
        total = (
            await self._c.execute(sa.select(sa.func.count()).select_from(partner_webhooks))
        ).scalar_one()
        query = sa.select(partner_webhooks)
        if before is not None:
            query = query.where(partner_webhooks.c.id < before)
        rows = await self._c.execute(query.order_by(partner_webhooks.c.id.desc()).limit(fetch))
        return [_webhook(r) for r in rows], total

    async def subscribed(self, event_type: str) -> list[str]:
        """The enabled endpoints subscribed to an event type (the table is small: staff make
        each row, so the types are matched here rather than in SQL on two dialects' JSON)."""
        rows = await self._c.execute(
            sa.select(partner_webhooks.c.id, partner_webhooks.c.event_types).where(
                partner_webhooks.c.enabled.is_(True)
            )
        )
        return [r.id for r in rows if event_type in r.event_types]

    async def succeeded(self, webhook_id: str, at: datetime) -> None:
        """A delivery got through: the run of failures is over."""
        await self._c.execute(
            partner_webhooks.update()
            .where(partner_webhooks.c.id == webhook_id, partner_webhooks.c.consecutive_failures > 0)
            .values(consecutive_failures=0, updated_at=at)
        )

    async def gave_up_once_more(self, webhook_id: str, at: datetime, disable_after: int) -> bool:
        """Counts a delivery given up on; switches the endpoint off once `disable_after`
        come in a row. Whether this switched it off."""
        await self._c.execute(
            partner_webhooks.update()
            .where(partner_webhooks.c.id == webhook_id)
            .values(consecutive_failures=partner_webhooks.c.consecutive_failures + 1)
        )
        disabled = await self._c.execute(
            partner_webhooks.update()
            .where(
                partner_webhooks.c.id == webhook_id,
                partner_webhooks.c.enabled.is_(True),
                partner_webhooks.c.consecutive_failures >= disable_after,
            )
            .values(enabled=False, disabled_reason=DISABLED_FAILING, updated_at=at)
        )
        return bool(disabled.rowcount)


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery with what sending it needs: its body, where and with which secret."""

    id: str
    webhook_id: str
    body: str
    attempts: int
    url: str
    secret: str = field(repr=False)


_DELIVERY_COLUMNS = (
    partner_webhook_deliveries.c.id,
    partner_webhook_deliveries.c.webhook_id,
    partner_webhook_deliveries.c.event_id,
    partner_webhook_deliveries.c.event_type,
    partner_webhook_deliveries.c.state,
    partner_webhook_deliveries.c.attempts,
    partner_webhook_deliveries.c.created_at,
    partner_webhook_deliveries.c.next_attempt_at,
    partner_webhook_deliveries.c.last_attempt_at,
    partner_webhook_deliveries.c.last_status_code,
    partner_webhook_deliveries.c.last_latency_ms,
    partner_webhook_deliveries.c.last_error,
    partner_webhook_deliveries.c.delivered_at,
)


def _delivery(row: Any) -> Delivery:
    values = list(row)
    values[4] = DeliveryState(values[4])
    return Delivery(*values)


class WebhookDeliveries:
    """Events on their way to partners' endpoints, and the log of how each went."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(
        self, webhook_ids: list[str], event_id: str, event_type: str, body: str, at: datetime
    ) -> int:
        """One delivery per endpoint, unless this event already made it; how many made."""
        made = 0
        for webhook_id in webhook_ids:
            inserted = await self._c.execute(
                insert_ignoring_conflicts(
                    self._c.dialect.name, partner_webhook_deliveries, ["webhook_id", "event_id"]
                ).returning(partner_webhook_deliveries.c.id),
                {
                    "id": new_id(),
                    "webhook_id": webhook_id,
                    "event_id": event_id,
                    "event_type": event_type,
                    "body": body,
                    "state": DeliveryState.PENDING.value,
                    "next_attempt_at": at,
                    "created_at": at,
                },
            )
            made += inserted.first() is not None
        return made

    async def get(self, webhook_id: str, delivery_id: str) -> Delivery | None:
        """A delivery of this endpoint's (another endpoint's id finds nothing)."""
        row = (
            await self._c.execute(
                sa.select(*_DELIVERY_COLUMNS).where(
                    partner_webhook_deliveries.c.id == delivery_id,
                    partner_webhook_deliveries.c.webhook_id == webhook_id,
                )
            )
        ).first()
        return _delivery(row) if row is not None else None

    async def page(
        self, webhook_id: str, *, before: str | None, fetch: int
    ) -> tuple[list[Delivery], int]:
        """An endpoint's deliveries, the newest first, older than `before` (an id)."""
        mine = partner_webhook_deliveries.c.webhook_id == webhook_id
        total = (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(partner_webhook_deliveries).where(mine)
            )
        ).scalar_one()
        query = sa.select(*_DELIVERY_COLUMNS).where(mine)
        if before is not None:
            query = query.where(partner_webhook_deliveries.c.id < before)
        rows = await self._c.execute(
            query.order_by(partner_webhook_deliveries.c.id.desc()).limit(fetch)
        )
        return [_delivery(r) for r in rows], total

    async def claim_due(self, now: datetime, limit: int, hold: timedelta) -> list[DueDelivery]:
        """Takes up to `limit` deliveries due for an attempt to an enabled endpoint, each for
        `hold` (a run that dies leaves them to the next one after that). Rows another run
        holds, or is taking at this moment (PostgreSQL: locked, skipped), are not taken."""
        d = partner_webhook_deliveries
        free = sa.or_(d.c.claimed_until.is_(None), d.c.claimed_until < now)
        due = (
            sa.select(d.c.id)
            .join(partner_webhooks, partner_webhooks.c.id == d.c.webhook_id)
            .where(
                d.c.state == DeliveryState.PENDING.value,
                d.c.next_attempt_at <= now,
                free,
                partner_webhooks.c.enabled.is_(True),
            )
            .order_by(d.c.next_attempt_at)
            .limit(limit)
            .with_for_update(of=d, skip_locked=True)
        )
        ids = list((await self._c.execute(due)).scalars())
        claimed: list[DueDelivery] = []
        for delivery_id in ids:
            # Guarded: a row another run claimed between the two statements is left to it.
            taken = await self._c.execute(
                d.update()
                .where(d.c.id == delivery_id, d.c.state == DeliveryState.PENDING.value, free)
                .values(claimed_until=now + hold)
                .returning(d.c.id, d.c.webhook_id, d.c.body, d.c.attempts)
            )
            row = taken.first()
            if row is None:
                continue
            endpoint = (
                await self._c.execute(
                    sa.select(partner_webhooks.c.url, partner_webhooks.c.secret).where(
                        partner_webhooks.c.id == row.webhook_id
                    )
                )
            ).one()
            claimed.append(
                DueDelivery(
                    row.id, row.webhook_id, row.body, row.attempts, endpoint.url, endpoint.secret
                )
            )
        return claimed

    async def attempted(
        self,
        delivery_id: str,
        at: datetime,
        outcome: Outcome,
        state: DeliveryState,
        retry_at: datetime | None,
    ) -> None:
        """Records an attempt: delivered, waiting for `retry_at`, or given up."""
        d = partner_webhook_deliveries
        await self._c.execute(
            d.update()
            .where(d.c.id == delivery_id)
            .values(
                state=state.value,
                attempts=d.c.attempts + 1,
                claimed_until=None,
                next_attempt_at=retry_at,
                last_attempt_at=at,
                last_status_code=outcome.status_code,
                last_latency_ms=outcome.latency_ms,
                last_error=outcome.error[:500],
                delivered_at=at if state is DeliveryState.DELIVERED else None,
            )
        )

    async def forget_finished(self, before: datetime) -> int:
        """Deletes deliveries delivered or given up on before then; how many. Pending ones
        (still to be tried) are never deleted."""
        d = partner_webhook_deliveries
        done = await self._c.execute(
            d.delete().where(
                d.c.state != DeliveryState.PENDING.value,
                d.c.last_attempt_at.is_not(None),
                d.c.last_attempt_at < before,
            )
        )
        return done.rowcount

    async def replay(self, delivery_id: str, at: datetime) -> None:
        """Due again now, with a fresh round of attempts."""
        d = partner_webhook_deliveries
        await self._c.execute(
            d.update()
            .where(d.c.id == delivery_id)
            .values(
                state=DeliveryState.PENDING.value,
                attempts=0,
                next_attempt_at=at,
                delivered_at=None,
            )
        )


_APPEND_LIVE = DriverStatement(
    "INSERT INTO live_updates (kind, conversation_id, recipient_user_id, subject_id, created_at)"
    " VALUES (:kind, :conversation_id, :recipient_user_id, :subject_id, :created_at)"
    " RETURNING position"
)
# The same, once an advisory lock is held: taken by the statement, before the position is.
_APPEND_LIVE_LOCKED = DriverStatement(
    "WITH serialized AS MATERIALIZED (SELECT pg_advisory_xact_lock(:lock::bigint))"
    " INSERT INTO live_updates (kind, conversation_id, recipient_user_id, subject_id, created_at)"
    " SELECT :kind, :conversation_id, :recipient_user_id, :subject_id, :created_at"
    " FROM serialized RETURNING position"
)


class LiveLog:
    """The live updates kept in the database, in commit order, and the key of their cursors."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def cursor_secret(self) -> bytes:
        """The key this database's live cursors are signed with (made by its migration)."""
        secret = await self._c.execute(
            sa.select(live_cursor_keys.c.secret).where(live_cursor_keys.c.id == 1)
        )
        return bytes.fromhex(secret.scalar_one())

    def append(
        self, update: LoggedUpdate, *, lock_first: int | None = None
    ) -> tuple[DriverStatement, dict[str, Any]]:
        """The write of an update at the log's end, which returns its position. With
        lock_first (PostgreSQL), the advisory lock of that key is taken first, by the same
        statement."""
        driver = Driver(self._c)
        written = {
            "kind": update.kind.value,
            "conversation_id": update.conversation_id,
            "recipient_user_id": update.recipient_user_id,
            "subject_id": update.subject_id,
            "created_at": driver.bind(live_updates.c.created_at.type, update.created_at),
        }
        if lock_first is None:
            return _APPEND_LIVE, written
        return _APPEND_LIVE_LOCKED, {**written, "lock": lock_first}

    async def head(self) -> int:
        """The position of the newest committed update (0 before any)."""
        newest = await self._c.execute(sa.select(sa.func.max(live_updates.c.position)))
        return newest.scalar() or 0

    async def missed(
        self, user_id: str, *, after: int, upto: int, limit: int
    ) -> list[LoggedUpdate]:
        """The user's updates after one position and up to another, in log order, at most
        `limit`: those of conversations they are in now, and their own notifications."""
        mine = sa.select(conversation_participants.c.conversation_id).where(
            conversation_participants.c.user_id == user_id
        )
        u = live_updates
        rows = await self._c.execute(
            sa.select(u)
            .where(
                u.c.position > after,
                u.c.position <= upto,
                sa.or_(u.c.recipient_user_id == user_id, u.c.conversation_id.in_(mine)),
            )
            .order_by(u.c.position)
            .limit(limit)
        )
        return [
            LoggedUpdate(
                UpdateKind(r.kind),
                r.subject_id,
                r.conversation_id,
                r.recipient_user_id,
                r.position,
                r.created_at,
            )
            for r in rows
        ]

    async def forget_before(self, before: datetime) -> int:
        """Deletes the updates made before a moment but the newest (which keeps the head
        where it was, so cursors at it stay valid); how many."""
        newest = sa.select(sa.func.max(live_updates.c.position)).scalar_subquery()
        done = await self._c.execute(
            live_updates.delete().where(
                live_updates.c.created_at < before, live_updates.c.position < newest
            )
        )
        return done.rowcount
