"""Who may act: every service's own, event-fed view of suspended and deleted accounts.

Identity announces user.suspended, user.reactivated and user.deleted. Each service records
them in its account_statuses table (the newest announcement wins, so a late redelivery of an
old one changes nothing) and its gRPC servers refuse every write by a user whose account is
not active, without asking identity per request.

Only recent changes matter at the door: a suspended or deleted user can neither log in nor
refresh, so any access token they still hold was issued before the change and dies within
the access token's lifetime. The servers therefore keep in memory the accounts that stopped
being active within `window` (a little over that lifetime), re-read every `refresh_interval`.

Staleness: a change reaches a service when its event does (the outbox hands events over at
commit; the relay's sweep catches any it missed within its poll interval plus grace), and
other replicas of the service see it within one refresh interval after that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import AccountStatus, refuse_inactive_account
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import EventType, ReceivedEvent
from chassis.clock import Clock
from chassis.db import Database, as_utc
from chassis.tables import account_statuses
from chassis.uow import UnitOfWork
from estuary.identity.v1 import events_pb2 as identity_events

log = logging.getLogger(__name__)

USER_SUSPENDED = EventType.of(identity_events.UserSuspended)
USER_REACTIVATED = EventType.of(identity_events.UserReactivated)
USER_DELETED = EventType.of(identity_events.UserDeleted)


# What a service does, beyond refusing writes, when an account's status changes (catalog
# hides a suspended practitioner's listings, say); runs in the consumer's unit of work.
StatusChangeHandler = Callable[[Any, str, AccountStatus], Awaitable[None]]


async def record_account_status(
    connection: AsyncConnection, user_id: str, status: AccountStatus, changed_at: datetime
) -> bool:
    """Records a status unless a newer one is known; True if it was recorded."""
    current = (
        await connection.execute(
            sa.select(account_statuses.c.changed_at)
            .where(account_statuses.c.user_id == user_id)
            .with_for_update()
        )
    ).scalar()
    if current is None:
        await connection.execute(
            account_statuses.insert().values(
                user_id=user_id, status=status.value, changed_at=changed_at
            )
        )
        return True
    if as_utc(current) > changed_at:
        return False
    await connection.execute(
        account_statuses.update()
        .where(account_statuses.c.user_id == user_id)
        .values(status=status.value, changed_at=changed_at)
    )
    return True


async def recorded_status(connection: AsyncConnection, user_id: str) -> AccountStatus:
    """The account's status as this service recorded identity's announcements (ACTIVE when
    none came), read in the caller's transaction: unlike AccountStatuses, never a moment
    late, for a rule that must hold against an erasure committing beside it."""
    status = (
        await connection.execute(
            sa.select(account_statuses.c.status).where(account_statuses.c.user_id == user_id)
        )
    ).scalar()
    return AccountStatus(status) if status else AccountStatus.ACTIVE


async def change_account_status(
    uow: UnitOfWork, user_id: str, status: AccountStatus, changed_at: datetime
) -> bool:
    """Records an account's new status in the unit of work unless a newer one is known
    (True if recorded). Once it commits, this process refuses (or again accepts) the user's
    writes at once; other replicas follow within a refresh interval."""
    if not await record_account_status(uow.connection, user_id, status, changed_at):
        return False
    statuses = uow.accounts
    if statuses is not None:
        uow.after_commit(lambda: statuses.note(user_id, status))
    return True


class AccountStatuses:
    """The accounts that recently stopped being active, as this service knows them."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        window: timedelta,
        refresh_interval: float,
    ) -> None:
        self._database = database
        self._clock = clock
        self._window = window
        self._refresh_interval = refresh_interval
        self._inactive: dict[str, AccountStatus] = {}

    def status_of(self, user_id: str) -> AccountStatus:
        return self._inactive.get(user_id, AccountStatus.ACTIVE)

    def refuse_if_inactive(self, user_id: str) -> None:
        """Raises PermissionDenied for a suspended or deleted account."""
        refuse_inactive_account(self._inactive.get(user_id, AccountStatus.ACTIVE))

    def note(self, user_id: str, status: AccountStatus) -> None:
        """A change this process just committed: effective here at once."""
        if status is AccountStatus.ACTIVE:
            self._inactive.pop(user_id, None)
        else:
            self._inactive[user_id] = status

    async def refresh(self) -> None:
        """Re-reads the recent changes (other replicas' and processes' included)."""
        since = self._clock.now() - self._window
        connection = await self._database.connect(write=False)
        try:
            rows = await connection.execute(
                sa.select(account_statuses.c.user_id, account_statuses.c.status).where(
                    account_statuses.c.changed_at > since,
                    account_statuses.c.status != AccountStatus.ACTIVE.value,
                )
            )
            self._inactive = {r.user_id: AccountStatus(r.status) for r in rows}
        finally:
            await connection.close()

    async def run(self) -> None:
        """Refreshes until cancelled; a failed refresh keeps the last view and tries again."""
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("account statuses not refreshed; keeping the last view")
            await asyncio.sleep(self._refresh_interval)


def account_status_subscription(
    service: str, on_change: StatusChangeHandler | None = None
) -> Subscription:
    """The consumer that keeps a service's account statuses (and its own reaction) current.

    Every service that acts on users' requests subscribes with it, except identity, which
    makes the changes and records them in the same transaction.
    """
    changes: dict[str, AccountStatus] = {
        USER_SUSPENDED.name: AccountStatus.SUSPENDED,
        USER_REACTIVATED.name: AccountStatus.ACTIVE,
        USER_DELETED.name: AccountStatus.DELETED,
    }

    async def apply(uow: UnitOfWork, event: ReceivedEvent[Any]) -> None:
        status = changes[event.type]
        user_id = event.message.user_id
        if not user_id:
            raise ValueError(f"{event.type} {event.id} names no user")
        if not await change_account_status(uow, user_id, status, event.time):
            return  # an older change delivered late: the newer one stands
        if on_change is not None:
            await on_change(uow, user_id, status)

    events: Sequence[EventType[Any]] = (USER_SUSPENDED, USER_REACTIVATED, USER_DELETED)
    return Subscription(
        queue=f"{service}.account-status",
        events=events,
        handler=apply,
        description="refuses writes by suspended and deleted accounts",
    )
