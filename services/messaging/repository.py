"""Messaging's repositories: every query its handlers, consumers and jobs make. The unit of
work holds one of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus
from chassis.db import insert_ignoring_conflicts
from chassis.ids import new_id
from chassis.tables import account_statuses
from services.messaging.domain.notifications import (
    Channel,
    Kind,
    Notice,
    Notification,
    Preference,
    Preferences,
    Recipient,
)
from services.messaging.tables import mails, notification_preferences, notifications, recipients

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
        return Recipient(row.user_id, row.email, row.full_name, row.locale, row.time_zone)

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

    async def is_deleted(self, user_id: str) -> bool:
        status = (
            await self._c.execute(
                sa.select(account_statuses.c.status).where(account_statuses.c.user_id == user_id)
            )
        ).scalar()
        return status == AccountStatus.DELETED.value


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

    async def add(self, notice: Notice, title: str, body: str, at: datetime) -> bool:
        """Stores a notice's notification unless this event already made it; whether it did."""
        inserted = await self._c.execute(
            insert_ignoring_conflicts(
                self._c.dialect.name,
                notifications,
                ["event_id", "recipient_user_id", "kind"],
            ).returning(notifications.c.id),
            {
                "id": new_id(),
                "recipient_user_id": notice.recipient_user_id,
                "kind": notice.kind.value,
                "event_id": notice.event_id,
                "title": title[:300],
                "body": body,
                "subject": notice.subject,
                "created_at": at,
            },
        )
        return inserted.first() is not None

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

    async def unsent(self) -> int:
        return (
            await self._c.execute(
                sa.select(sa.func.count()).select_from(mails).where(mails.c.sent_at.is_(None))
            )
        ).scalar_one()

    async def erase(self, user_id: str) -> None:
        await self._c.execute(mails.delete().where(mails.c.recipient_user_id == user_id))
