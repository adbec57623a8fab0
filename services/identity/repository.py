"""Every query identity makes, in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.auth.principal import Role
from chassis.emails import email_key
from chassis.ids import new_id
from chassis.lifecycle import Lifecycle
from chassis.pagination import PageRequest
from services.identity.domain.audit import AuditEntry, AuditFilter
from services.identity.domain.credentials import (
    KeyStatus,
    OneTimeToken,
    RefreshToken,
    TokenPurpose,
)
from services.identity.domain.users import WRONG_STATUS, User, UserStatus
from services.identity.tables import (
    audit_entries,
    auth_sessions,
    one_time_tokens,
    refresh_tokens,
    signing_keys,
    user_roles,
    users,
)

# A user's fields as the users table stores them (roles live in user_roles).
_STORED_FIELDS = tuple(f.name for f in dataclasses.fields(User) if f.name != "roles")
_USER_COLUMNS = tuple(users.c[name] for name in _STORED_FIELDS)


_USER_WITH_ROLES = (
    sa.select(*_USER_COLUMNS, user_roles.c.role)
    .outerjoin(user_roles, user_roles.c.user_id == users.c.id)
    .where(users.c.id == sa.bindparam("user_id"))
)


def _user(row: sa.Row, roles: set[str]) -> User:
    stored = {name: row._mapping[name] for name in _STORED_FIELDS}
    stored.update(status=UserStatus(row.status), preferences=dict(row.preferences or {}))
    return User(**stored, roles=roles)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _newest_first(
    connection: AsyncConnection,
    table: sa.Table,
    columns: Iterable[sa.ColumnElement[Any]],
    conditions: Sequence[sa.ColumnElement[bool]],
    page: PageRequest,
) -> tuple[Sequence[sa.Row[Any]], int]:
    """The rows of a page in id order, newest first (ids are UUIDv7), page.fetch of them,
    and how many match in all."""
    total = (
        await connection.execute(sa.select(sa.func.count()).select_from(table).where(*conditions))
    ).scalar_one()
    query = sa.select(*columns).where(*conditions)
    if page.after is not None:
        query = query.where(table.c.id < page.after[0])
    rows = (await connection.execute(query.order_by(table.c.id.desc()).limit(page.fetch))).all()
    return rows, total


@dataclass(frozen=True)
class UserFilter:
    query: str = ""
    role: str | None = None
    status: str | None = None


# The one way an account's status changes: only from the status the change expects.
USER_STATUS = Lifecycle(users, noun="user", reason=WRONG_STATUS)


def _columns(user: User, names: Iterable[str]) -> dict[str, Any]:
    """The named fields of the entity as column values, with updated_at."""
    columns: dict[str, Any] = {name: getattr(user, name) for name in names}
    columns["updated_at"] = user.updated_at
    if "email" in columns:
        columns["email_key"] = email_key(user.email)
    if "status" in columns:
        columns["status"] = user.status.value
    return columns


class Users:
    """Accounts and their roles."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def get(self, user_id: str) -> User | None:
        # One round trip on the hottest read (every /users/me): the row once per role.
        rows = (await self._c.execute(_USER_WITH_ROLES, {"user_id": user_id})).all()
        if not rows:
            return None
        return _user(rows[0], {r.role for r in rows if r.role is not None})

    async def get_by_email(self, email: str) -> User | None:
        row = (
            await self._c.execute(
                sa.select(*_USER_COLUMNS).where(users.c.email_key == email_key(email))
            )
        ).first()
        if row is None:
            return None
        return _user(row, await self._roles_of(row.id))

    async def get_many(self, user_ids: Sequence[str]) -> list[User]:
        if not user_ids:
            return []
        rows = (
            await self._c.execute(sa.select(*_USER_COLUMNS).where(users.c.id.in_(user_ids)))
        ).all()
        roles = await self._roles_of_many([r.id for r in rows])
        return [_user(r, roles.get(r.id, set())) for r in rows]

    async def email_taken(self, email: str) -> bool:
        found = await self._c.execute(
            sa.select(users.c.id).where(users.c.email_key == email_key(email))
        )
        return found.first() is not None

    async def add(self, user: User) -> None:
        await self._c.execute(users.insert().values(**_columns(user, _STORED_FIELDS)))
        await self._write_roles(user)

    async def save(self, user: User, *fields: str) -> None:
        """Writes the named fields of the entity, and its updated_at (only those, so a
        concurrent change to other fields is not overwritten)."""
        await self._c.execute(
            users.update().where(users.c.id == user.id).values(**_columns(user, fields))
        )

    async def save_status(self, user: User, seen: UserStatus, *fields: str) -> None:
        """Writes the entity's new status (and the named fields) only if the stored status is
        still the one the domain saw: a guarded change, which of concurrent ones one wins."""
        await USER_STATUS.move(
            self._c, user.id, expected=seen.value, values=_columns(user, ("status", *fields))
        )

    async def save_roles(self, user: User) -> None:
        """Writes the entity's roles, and its updated_at."""
        await self._write_roles(user)
        await self.save(user)

    async def _write_roles(self, user: User) -> None:
        await self._c.execute(user_roles.delete().where(user_roles.c.user_id == user.id))
        rows = [{"user_id": user.id, "role": role} for role in sorted(user.roles)]
        if rows:
            await self._c.execute(user_roles.insert(), rows)

    async def count_active_admins(self) -> int:
        """How many active accounts hold the admin role."""
        return (
            await self._c.execute(
                sa.select(sa.func.count())
                .select_from(users.join(user_roles, user_roles.c.user_id == users.c.id))
                .where(user_roles.c.role == Role.ADMIN.value, users.c.status == "active")
            )
        ).scalar_one()

    async def list(self, flt: UserFilter, page: PageRequest) -> tuple[list[User], int]:
        """The rows of a page of users (page.fetch of them), newest first, and how many match
        in all."""
        conditions: list[sa.ColumnElement[bool]] = []
        if flt.query:
            needle = _like_escape(flt.query.strip().lower())
            conditions.append(
                sa.or_(
                    users.c.email_key.like(f"{needle}%", escape="\\"),
                    sa.func.lower(users.c.full_name).like(f"{needle}%", escape="\\"),
                    sa.func.lower(users.c.full_name).like(f"% {needle}%", escape="\\"),
                )
            )
        if flt.status:
            conditions.append(users.c.status == flt.status)
        if flt.role:
            conditions.append(
                users.c.id.in_(sa.select(user_roles.c.user_id).where(user_roles.c.role == flt.role))
            )
        rows, total = await _newest_first(self._c, users, _USER_COLUMNS, conditions, page)
        roles = await self._roles_of_many([r.id for r in rows])
        return [_user(r, roles.get(r.id, set())) for r in rows], total

    async def _roles_of(self, user_id: str) -> set[str]:
        rows = await self._c.execute(
            sa.select(user_roles.c.role).where(user_roles.c.user_id == user_id)
        )
        return {r.role for r in rows}

    async def _roles_of_many(self, user_ids: Sequence[str]) -> dict[str, set[str]]:
        if not user_ids:
            return {}
        rows = await self._c.execute(
            sa.select(user_roles.c.user_id, user_roles.c.role).where(
                user_roles.c.user_id.in_(user_ids)
            )
        )
        found: dict[str, set[str]] = {}
        for row in rows:
            found.setdefault(row.user_id, set()).add(row.role)
        return found


class Sessions:
    """Login sessions and their rotating refresh tokens."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def open(self, user_id: str, user_agent: str, now: datetime) -> str:
        session_id = new_id()
        await self._c.execute(
            auth_sessions.insert().values(
                id=session_id, user_id=user_id, user_agent=user_agent[:500], created_at=now
            )
        )
        return session_id

    async def add_refresh_token(self, token: RefreshToken) -> None:
        await self._c.execute(
            refresh_tokens.insert().values(
                token_hash=token.token_hash,
                session_id=token.session_id,
                user_id=token.user_id,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
            )
        )

    async def find_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """A refresh token by its hash, with whether its session was revoked."""
        row = (
            await self._c.execute(
                sa.select(
                    refresh_tokens.c.token_hash,
                    refresh_tokens.c.session_id,
                    refresh_tokens.c.user_id,
                    refresh_tokens.c.issued_at,
                    refresh_tokens.c.expires_at,
                    refresh_tokens.c.used_at,
                    auth_sessions.c.revoked_at.label("session_revoked_at"),
                )
                .join(auth_sessions, auth_sessions.c.id == refresh_tokens.c.session_id)
                .where(refresh_tokens.c.token_hash == token_hash)
            )
        ).first()
        return None if row is None else RefreshToken(**row._mapping)

    async def mark_used(self, token_hash: str, now: datetime) -> bool:
        """Marks a refresh token rotated; False if another request got there first."""
        return await _use_once(self._c, refresh_tokens, token_hash, now)

    async def touch(self, session_id: str, now: datetime) -> None:
        await self._c.execute(
            auth_sessions.update()
            .where(auth_sessions.c.id == session_id)
            .values(last_refreshed_at=now)
        )

    async def is_active(self, session_id: str) -> bool:
        row = (
            await self._c.execute(
                sa.select(auth_sessions.c.revoked_at).where(auth_sessions.c.id == session_id)
            )
        ).first()
        return row is not None and row.revoked_at is None

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        await self._c.execute(
            auth_sessions.update()
            .where(auth_sessions.c.id == session_id, auth_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=reason)
        )

    async def revoke_all(
        self, user_id: str, now: datetime, reason: str, *, keep: str | None = None
    ) -> int:
        query = auth_sessions.update().where(
            auth_sessions.c.user_id == user_id, auth_sessions.c.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(auth_sessions.c.id != keep)
        result = await self._c.execute(query.values(revoked_at=now, revoke_reason=reason))
        return result.rowcount or 0

    async def purge_expired(self, now: datetime) -> int:
        return await _purge_expired(self._c, refresh_tokens, now)


class OneTimeTokens:
    """Email verification and password reset tokens."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def add(self, token: OneTimeToken) -> None:
        await self._c.execute(
            one_time_tokens.insert().values(
                token_hash=token.token_hash,
                user_id=token.user_id,
                purpose=token.purpose.value,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    async def find(self, token_hash: str, purpose: TokenPurpose) -> OneTimeToken | None:
        row = (
            await self._c.execute(
                sa.select(one_time_tokens).where(
                    one_time_tokens.c.token_hash == token_hash,
                    one_time_tokens.c.purpose == purpose.value,
                )
            )
        ).first()
        if row is None:
            return None
        return OneTimeToken(**{**row._mapping, "purpose": TokenPurpose(row.purpose)})

    async def use(self, token_hash: str, now: datetime) -> bool:
        """Spends a token; False if it was already spent (a concurrent use)."""
        return await _use_once(self._c, one_time_tokens, token_hash, now)

    async def spend_all(self, user_id: str, purpose: TokenPurpose, now: datetime) -> None:
        """Spends every outstanding token of a purpose, so only the newest one works."""
        await self._c.execute(
            one_time_tokens.update()
            .where(
                one_time_tokens.c.user_id == user_id,
                one_time_tokens.c.purpose == purpose.value,
                one_time_tokens.c.used_at.is_(None),
            )
            .values(used_at=now)
        )

    async def delete_for_user(self, user_id: str) -> None:
        await self._c.execute(one_time_tokens.delete().where(one_time_tokens.c.user_id == user_id))

    async def purge_expired(self, now: datetime) -> int:
        return await _purge_expired(self._c, one_time_tokens, now)


async def _use_once(
    connection: AsyncConnection, table: sa.Table, token_hash: str, now: datetime
) -> bool:
    """Marks a stored token used unless it already was: of concurrent uses, one gets True."""
    result = await connection.execute(
        table.update()
        .where(table.c.token_hash == token_hash, table.c.used_at.is_(None))
        .values(used_at=now)
    )
    return result.rowcount == 1


async def _purge_expired(connection: AsyncConnection, table: sa.Table, now: datetime) -> int:
    """Deletes the stored tokens past their expiry; how many."""
    result = await connection.execute(table.delete().where(table.c.expires_at < now))
    return result.rowcount or 0


@dataclass(frozen=True)
class StoredKey:
    kid: str
    private_key_pem: str
    public_jwk: dict[str, str]
    status: KeyStatus
    created_at: datetime


class SigningKeys:
    """The keys that sign tokens."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def all(self) -> list[StoredKey]:
        rows = await self._c.execute(sa.select(signing_keys).order_by(signing_keys.c.created_at))
        return [
            StoredKey(
                r.kid, r.private_key_pem, dict(r.public_jwk), KeyStatus(r.status), r.created_at
            )
            for r in rows
        ]

    async def add(self, key: StoredKey) -> None:
        await self._c.execute(
            signing_keys.insert().values(
                kid=key.kid,
                algorithm="EdDSA",
                private_key_pem=key.private_key_pem,
                public_jwk=key.public_jwk,
                status=key.status.value,
                created_at=key.created_at,
            )
        )

    async def promote(self, kid: str) -> bool:
        """Makes a next key the active one, demoting the active key; False if already done."""
        await self._c.execute(
            signing_keys.update()
            .where(signing_keys.c.status == KeyStatus.ACTIVE.value, signing_keys.c.kid != kid)
            .values(status=KeyStatus.VERIFYING.value)
        )
        result = await self._c.execute(
            signing_keys.update()
            .where(signing_keys.c.kid == kid, signing_keys.c.status == KeyStatus.NEXT.value)
            .values(status=KeyStatus.ACTIVE.value)
        )
        return result.rowcount == 1

    async def set_status(self, kid: str, status: KeyStatus, now: datetime) -> int:
        values: dict[str, Any] = {"status": status.value}
        if status is KeyStatus.RETIRED:
            values["retired_at"] = now
        result = await self._c.execute(
            signing_keys.update().where(signing_keys.c.kid == kid).values(**values)
        )
        return result.rowcount or 0


class AuditLog:
    """What staff did, in every service, with the state before and after."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._c = connection

    async def record(self, entry: AuditEntry) -> None:
        # The entry's fields are the table's columns, one for one.
        await self._c.execute(audit_entries.insert().values(**asdict(entry)))

    async def list(self, flt: AuditFilter, page: PageRequest) -> tuple[list[AuditEntry], int]:
        """The rows of a page of entries (page.fetch of them), newest first, and how many
        match in all."""
        conditions: list[sa.ColumnElement[bool]] = [
            audit_entries.c[column] == value
            for column, value in (
                ("service", flt.service),
                ("actor_id", flt.actor_id),
                ("target", flt.target),
                ("target_user_id", flt.target_user_id),
            )
            if value
        ]
        rows, total = await _newest_first(
            self._c, audit_entries, audit_entries.columns, conditions, page
        )
        return [AuditEntry(**r._mapping) for r in rows], total
