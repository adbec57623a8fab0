"""What identity does when other services' events arrive."""

from __future__ import annotations

from chassis.audit import STAFF_ACTION_RECORDED
from chassis.auth.principal import Role
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import EventType, ReceivedEvent
from estuary.catalog.v1 import events_pb2 as catalog_events
from estuary.chassis.v1 import events_pb2 as chassis_events
from services.identity.events import staff_action_entry
from services.identity.service_layer.administration import grant_role
from services.identity.uow import IdentityUnitOfWork

PRACTITIONER_APPROVED = EventType.of(catalog_events.PractitionerApproved)


async def grant_practitioner_role(
    uow: IdentityUnitOfWork, event: ReceivedEvent[catalog_events.PractitionerApproved]
) -> None:
    """Catalog approved a practitioner: their next token carries the practitioner role."""
    await grant_role(uow, event.message.user_id, Role.PRACTITIONER)


async def file_staff_action(
    uow: IdentityUnitOfWork, event: ReceivedEvent[chassis_events.StaffActionRecorded]
) -> None:
    """Another service's staff action: into the one audit log (the event id is its id)."""
    # The CloudEvents source says which service emitted it: "/estuary/<service>".
    service = event.source.rsplit("/", 1)[-1]
    await uow.audit_log.record(staff_action_entry(event.id, service, event.message, event.time))


SUBSCRIPTIONS = (
    Subscription(
        queue="identity.practitioner-role",
        events=[PRACTITIONER_APPROVED],
        handler=grant_practitioner_role,
    ),
    Subscription(
        queue="identity.audit-log",
        events=[STAFF_ACTION_RECORDED],
        handler=file_staff_action,
        description="files every service's staff actions in the audit log",
    ),
)
