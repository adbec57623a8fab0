"""The audit log: every staff action in any service, and what a staff member may ask of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chassis.errors import InvalidArgument
from chassis.ids import is_uuid

TARGET_MAX_LENGTH = 200
SERVICE_MAX_LENGTH = 30


@dataclass(frozen=True)
class AuditEntry:
    """One staff action in any service, as the audit log keeps it."""

    id: str
    service: str
    actor_id: str
    action: str
    target: str
    target_user_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str
    request_id: str
    created_at: datetime


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a staff member asks for; empty fields match everything."""

    service: str = ""
    actor_id: str = ""
    target: str = ""
    target_user_id: str = ""

    def check(self) -> None:
        """Refuses, naming the field, ids that are not user ids and overlong names."""
        for field, value in (("target_user_id", self.target_user_id), ("actor_id", self.actor_id)):
            if value and not is_uuid(value):
                raise InvalidArgument.field(field, "must be a user id", "invalid_id")
        for field, value, longest in (
            ("target", self.target, TARGET_MAX_LENGTH),
            ("service", self.service, SERVICE_MAX_LENGTH),
        ):
            if len(value) > longest:
                raise InvalidArgument.field(field, "is too long", "too_long")
