"""What identity does when other services' events arrive."""

from __future__ import annotations

from chassis.auth.principal import Role
from chassis.bus.consumer import Subscription
from chassis.bus.envelope import EventType, ReceivedEvent
from estuary.catalog.v1 import events_pb2 as catalog_events
from services.identity.handlers import Identity
from services.identity.uow import IdentityUnitOfWork

PRACTITIONER_APPROVED = EventType.of(catalog_events.PractitionerApproved)


async def grant_practitioner_role(
    uow: IdentityUnitOfWork, event: ReceivedEvent[catalog_events.PractitionerApproved]
) -> None:
    """Catalog approved a practitioner: their next token carries the practitioner role."""
    await Identity.grant_role(uow, event.message.user_id, Role.PRACTITIONER)


SUBSCRIPTIONS = (
    Subscription(
        queue="identity.practitioner-role",
        events=[PRACTITIONER_APPROVED],
        handler=grant_practitioner_role,
    ),
)
