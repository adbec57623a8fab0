"""Staff actions: one rule about whom staff may act on, and one log every action lands in.

A service records a staff action in the unit of work that makes the change
(`uow.record_staff_action`), so the record exists if and only if the change does. Identity,
which keeps the audit log, stores it there directly; every other service emits it as
staff_action.recorded through its outbox and identity's consumer files it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2

from chassis.auth.principal import Principal
from chassis.bus.envelope import EventType
from chassis.errors import PermissionDenied
from chassis.wire import timestamp
from estuary.chassis.v1 import events_pb2

STAFF_ACTION_RECORDED = EventType.of(events_pb2.StaffActionRecorded)

# The events every service emits through the chassis rather than its own domain.
EMITTED_BY_EVERY_SERVICE = (STAFF_ACTION_RECORDED,)


def refuse_own_account(principal: Principal, owner_user_id: str) -> None:
    """Staff never act on their own account or on what belongs to them, in any service."""
    if principal.is_user and principal.user_id == owner_user_id:
        raise PermissionDenied(
            "staff cannot act on their own account or what belongs to it", reason="OWN_ACCOUNT"
        )


@dataclass(frozen=True)
class StaffAction:
    """What a staff member did to what, with the state before and after."""

    actor: Principal
    action: str
    target: str
    target_user_id: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""

    def __post_init__(self) -> None:
        refuse_own_account(self.actor, self.target_user_id)

    def to_proto(
        self, *, service: str, request_id: str, time: datetime
    ) -> events_pb2.StaffActionRecorded:
        return events_pb2.StaffActionRecorded(
            service=service,
            actor_id=self.actor.user_id,
            action=self.action,
            target=self.target,
            target_user_id=self.target_user_id,
            before=_struct(self.before),
            after=_struct(self.after),
            reason=self.reason,
            request_id=request_id,
            record_time=timestamp(time),
        )


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(dict(values))
    return found
