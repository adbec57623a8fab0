"""request_id idempotency for create calls: a retry gets the resource the first call made."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.errors import InvalidArgument
from chassis.tables import idempotency_records

REQUEST_ID_MAX_LENGTH = 100


def fingerprint(*parts: str) -> str:
    """A digest of what a request asked for, to catch a request_id reused for another ask."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def check_request_id(request_id: str) -> None:
    """Refuses request ids we cannot store."""
    if len(request_id) > REQUEST_ID_MAX_LENGTH:
        raise InvalidArgument.field(
            "request_id", f"must be at most {REQUEST_ID_MAX_LENGTH} characters", "too_long"
        )


async def previous_result(
    connection: AsyncConnection, operation: str, request_id: str, request_fingerprint: str
) -> str | None:
    """The resource id an earlier call with this request_id created, if any."""
    row = (
        await connection.execute(
            sa.select(idempotency_records.c.fingerprint, idempotency_records.c.resource_id).where(
                idempotency_records.c.operation == operation,
                idempotency_records.c.request_id == request_id,
            )
        )
    ).first()
    if row is None:
        return None
    if row.fingerprint != request_fingerprint:
        raise InvalidArgument.field(
            "request_id", "was already used for a different request", "request_id_reused"
        )
    return str(row.resource_id)


async def remember_result(
    connection: AsyncConnection,
    operation: str,
    request_id: str,
    request_fingerprint: str,
    resource_id: str,
    now: datetime,
) -> None:
    """Records what this request_id created, in the same transaction as the creation."""
    await connection.execute(
        idempotency_records.insert().values(
            operation=operation,
            request_id=request_id,
            fingerprint=request_fingerprint,
            resource_id=resource_id,
            created_at=now,
        )
    )
