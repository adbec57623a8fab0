"""Identity's unit of work: the chassis's transaction with identity's repositories on it."""

from __future__ import annotations

from typing import Self

from chassis.uow import UnitOfWork
from services.identity.repository import AuditLog, OneTimeTokens, Sessions, SigningKeys, Users


class IdentityUnitOfWork(UnitOfWork):
    users: Users
    sessions: Sessions
    one_time_tokens: OneTimeTokens
    signing_keys: SigningKeys
    audit_log: AuditLog

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.users = Users(self.connection)
        self.sessions = Sessions(self.connection)
        self.one_time_tokens = OneTimeTokens(self.connection)
        self.signing_keys = SigningKeys(self.connection)
        self.audit_log = AuditLog(self.connection)
        return self
