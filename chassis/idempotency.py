"""Idempotent requests: a retry with the same key gets what the first call made.

A record is keyed by (operation, caller, key): the same key from two callers is two
requests, and one caller can never read what another's key made. The record is claimed at
the start of the unit of work, in its transaction: a concurrent retry with the same key
waits on that row (PostgreSQL holds a second insert of a unique key until the first
transaction ends; SQLite has one writer) and then finds the first call's answer, or, if the
first call failed and rolled back, claims the key itself. A record commits if and only if
the change it answers for does.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import Principal
from chassis.db import insert_ignoring_conflicts
from chassis.errors import InvalidArgument
from chassis.tables import idempotency_records

REQUEST_ID_MAX_LENGTH = 100
ANONYMOUS_CALLER = "anonymous"


def fingerprint(*parts: str) -> str:
    """A digest of what a request asked for, to catch a key reused for another ask."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def caller_of(principal: Principal | None) -> str:
    """Whose key it is: the user or service that called, or anonymous."""
    return principal.subject if principal is not None else ANONYMOUS_CALLER


@functools.cache
def _claim(dialect: str) -> sa.Insert:
    return insert_ignoring_conflicts(
        dialect, idempotency_records, ["operation", "caller", "request_id"]
    ).returning(idempotency_records.c.operation)


@dataclass
class IdempotentRequest:
    """One call that may be retried: its operation, its caller's key and what it asked."""

    operation: str
    caller: str
    key: str
    asked: str
    _claimed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if len(self.key) > REQUEST_ID_MAX_LENGTH:
            raise InvalidArgument.field(
                "request_id", f"must be at most {REQUEST_ID_MAX_LENGTH} characters", "too_long"
            )

    @classmethod
    def of(
        cls, operation: str, principal: Principal | None, key: str, *asked: str
    ) -> IdempotentRequest:
        """A request by this principal with this key, fingerprinted by what it asked."""
        return cls(operation, caller_of(principal), key, fingerprint(*asked))

    async def earlier_result(self, connection: AsyncConnection, now: datetime) -> str | None:
        """Claims the key; if an earlier call with it committed, the id of what it made.

        Call it first in the unit of work, before reading what the change depends on.
        """
        if not self.key:
            return None
        claimed = await connection.execute(
            _claim(connection.dialect.name),
            {
                "operation": self.operation,
                "caller": self.caller,
                "request_id": self.key,
                "fingerprint": self.asked,
                "resource_id": "",
                "created_at": now,
            },
        )
        if claimed.first() is not None:
            self._claimed = True
            return None
        row = (
            await connection.execute(
                sa.select(
                    idempotency_records.c.fingerprint, idempotency_records.c.resource_id
                ).where(
                    idempotency_records.c.operation == self.operation,
                    idempotency_records.c.caller == self.caller,
                    idempotency_records.c.request_id == self.key,
                )
            )
        ).one()
        if row.fingerprint != self.asked:
            raise InvalidArgument.field(
                "request_id", "was already used for a different request", "request_id_reused"
            )
        return str(row.resource_id)

    async def remember(self, connection: AsyncConnection, resource_id: str) -> None:
        """Records what this call made, in the same transaction as making it."""
        if not self._claimed:
            return
        await connection.execute(
            idempotency_records.update()
            .where(
                idempotency_records.c.operation == self.operation,
                idempotency_records.c.caller == self.caller,
                idempotency_records.c.request_id == self.key,
            )
            .values(resource_id=resource_id)
        )
