"""Identity's unit of work: the chassis's transaction with identity's repositories on it."""

from __future__ import annotations

from typing import Any, Self

from google.protobuf.message import Message

from chassis.audit import StaffAction
from chassis.bus.envelope import EventType
from chassis.db import ConstraintViolation
from chassis.errors import AlreadyExists, FieldViolation
from chassis.ids import new_id
from chassis.uow import UnitOfWork
from services.identity.events import event_message, staff_action_entry
from services.identity.repository import (
    AuditLog,
    OneTimeTokens,
    Sessions,
    SigningKeys,
    Users,
)


def email_taken(_violation: ConstraintViolation | None = None) -> AlreadyExists:
    """Two accounts may not share an email (whatever its case or spelling of the domain)."""
    return AlreadyExists(
        "an account with this email already exists",
        reason="EMAIL_TAKEN",
        violations=[FieldViolation("email", "is already registered", "taken")],
    )


class IdentityUnitOfWork(UnitOfWork):
    users: Users
    sessions: Sessions
    one_time_tokens: OneTimeTokens
    signing_keys: SigningKeys
    audit_log: AuditLog

    conflicts = {"users.email_key": email_taken}

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.users = Users(self.connection)
        self.sessions = Sessions(self.connection)
        self.one_time_tokens = OneTimeTokens(self.connection)
        self.signing_keys = SigningKeys(self.connection)
        self.audit_log = AuditLog(self.connection)
        return self

    def event_message(self, event: Any) -> tuple[EventType[Any], Message, str]:
        """Identity's domain events as the messages its events module maps them to."""
        return event_message(event)

    async def record_staff_action(self, action: StaffAction) -> None:
        """Identity keeps the audit log: its own staff actions are filed in place."""
        await self.audit_log.record(
            staff_action_entry(
                new_id(), self.service, self.staff_action_message(action), self.clock.now()
            )
        )
