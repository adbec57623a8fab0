"""Partner webhooks: staff manage partners' endpoints and read and replay their deliveries;
each consumed event of a subscribed type becomes one delivery per enabled endpoint, in the
consumer's transaction (so exactly once per event and endpoint)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from chassis.audit import StaffAction
from chassis.auth.principal import Principal
from chassis.bus.envelope import ReceivedEvent
from chassis.clock import Clock
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.pagination import KeyPart, Page, page_request
from services.messaging.domain.webhooks import (
    DELIVERIES,
    WEBHOOK_PREFIX,
    Delivery,
    PartnerWebhook,
    check_description,
    check_event_types,
    check_url,
    new_secret,
)
from services.messaging.events import PARTNER_EVENT_TYPES
from services.messaging.uow import MessagingUnitOfWork


def webhook_body(event: ReceivedEvent[Any]) -> str:
    """What a partner receives: {type, timestamp, data} with the event's proto3 JSON as data
    (the Standard Webhooks payload shape)."""
    return json.dumps(
        {
            "type": event.type,
            "timestamp": event.time.isoformat().replace("+00:00", "Z"),
            "data": json_format.MessageToDict(event.message, preserving_proto_field_name=True),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


async def queue_deliveries(uow: MessagingUnitOfWork, event: ReceivedEvent[Any]) -> None:
    """The consumer's handler: one delivery per enabled endpoint subscribed to the event's
    type, with the inbox row; a redelivered event makes none again."""
    subscribed = await uow.partner_webhooks.subscribed(event.type)
    if subscribed:
        await uow.deliveries.add(
            subscribed, event.id, event.type, webhook_body(event), uow.clock.now()
        )


def _staff(caller: Principal) -> None:
    # The interceptor checks the method's access too; this holds whoever calls the desk.
    if not caller.is_staff:
        raise PermissionDenied("only staff manage partner webhooks", reason="STAFF_ONLY")


def webhook_id_of(name: str, field: str = "name") -> str:
    """The id of "partnerWebhooks/{id}", or INVALID_ARGUMENT naming the field."""
    webhook_id = name.removeprefix(WEBHOOK_PREFIX)
    if not name.startswith(WEBHOOK_PREFIX) or not is_uuid(webhook_id):
        raise InvalidArgument.field(field, "must be partnerWebhooks/{id}")
    return webhook_id


def delivery_ids_of(name: str) -> tuple[str, str]:
    """The endpoint's and the delivery's ids of "partnerWebhooks/{id}/deliveries/{id}"."""
    parent, _, delivery_id = name.partition(DELIVERIES)
    if not is_uuid(delivery_id):
        raise InvalidArgument.field("name", "must be partnerWebhooks/{id}/deliveries/{id}")
    return webhook_id_of(parent), delivery_id


async def _webhook(uow: MessagingUnitOfWork, webhook_id: str, *, lock: bool = False) -> Any:
    found = await uow.partner_webhooks.get(webhook_id, lock=lock)
    if found is None:
        raise NotFound(f"{WEBHOOK_PREFIX}{webhook_id} was not found", reason="WEBHOOK_NOT_FOUND")
    return found


@dataclass
class PartnerWebhookDesk:
    """What staff do with partners' endpoints; each change lands in the audit log."""

    unit_of_work: Callable[..., MessagingUnitOfWork]
    clock: Clock
    allow_loopback: bool

    async def create(
        self, caller: Principal, wanted: PartnerWebhook, request_id: str = ""
    ) -> PartnerWebhook:
        """A new enabled endpoint with a fresh secret (answered here and at rotation only)."""
        _staff(caller)
        url = check_url(wanted.url, allow_loopback=self.allow_loopback)
        event_types = check_event_types(wanted.event_types, PARTNER_EVENT_TYPES)
        description = check_description(wanted.description)
        idempotent = IdempotentRequest.of(
            "CreatePartnerWebhook", caller, request_id, url, description, *event_types
        )
        async with self.unit_of_work() as uow:
            earlier = await uow.claim(idempotent)
            if earlier is not None:
                return await _webhook(uow, earlier)
            now = self.clock.now()
            made = PartnerWebhook(
                new_id(), url, description, event_types, True, now, now, secret=new_secret()
            )
            await uow.partner_webhooks.add(made)
            await uow.record_staff_action(
                StaffAction(
                    caller, "partner_webhook.create", WEBHOOK_PREFIX + made.id, "", {}, made.view()
                )
            )
            await uow.remember(idempotent, made.id)
            await uow.commit()
        return made

    async def page(self, caller: Principal, page_size: int, page_token: str) -> Page[Any]:
        _staff(caller)
        request = page_request(page_size, page_token, query={}, key=[KeyPart.ID])
        async with self.unit_of_work(write=False) as uow:
            found, total = await uow.partner_webhooks.page(
                before=request.after[0] if request.after else None, fetch=request.fetch
            )
        return request.page(found, total, lambda w: [w.id])

    async def get(self, caller: Principal, name: str) -> PartnerWebhook:
        _staff(caller)
        async with self.unit_of_work(write=False) as uow:
            found: PartnerWebhook = await _webhook(uow, webhook_id_of(name))
            return found

    async def update(
        self, caller: Principal, values: PartnerWebhook, paths: Sequence[str]
    ) -> PartnerWebhook:
        """Changes event types, description or enabled (names the endpoint by values.id)."""
        _staff(caller)
        async with self.unit_of_work() as uow:
            found: PartnerWebhook = await _webhook(uow, values.id, lock=True)
            before = found.view()
            found.update(paths, values, PARTNER_EVENT_TYPES)
            found.updated_at = self.clock.now()
            await uow.partner_webhooks.save(found)
            await uow.record_staff_action(
                StaffAction(
                    caller,
                    "partner_webhook.update",
                    WEBHOOK_PREFIX + found.id,
                    "",
                    before,
                    found.view(),
                )
            )
            await uow.commit()
        return found

    async def delete(self, caller: Principal, name: str) -> None:
        _staff(caller)
        webhook_id = webhook_id_of(name)
        async with self.unit_of_work() as uow:
            found: PartnerWebhook = await _webhook(uow, webhook_id, lock=True)
            await uow.partner_webhooks.delete(webhook_id)
            await uow.record_staff_action(
                StaffAction(
                    caller, "partner_webhook.delete", WEBHOOK_PREFIX + webhook_id, "", found.view()
                )
            )
            await uow.commit()

    async def rotate_secret(self, caller: Principal, name: str) -> PartnerWebhook:
        """A new secret signs every attempt from now on; the old one is forgotten."""
        _staff(caller)
        async with self.unit_of_work() as uow:
            found: PartnerWebhook = await _webhook(uow, webhook_id_of(name), lock=True)
            found.secret = new_secret()
            found.updated_at = self.clock.now()
            await uow.partner_webhooks.save(found)
            # The secret itself never enters the audit log: only that it changed.
            await uow.record_staff_action(
                StaffAction(caller, "partner_webhook.rotate_secret", WEBHOOK_PREFIX + found.id, "")
            )
            await uow.commit()
        return found

    async def deliveries(
        self, caller: Principal, parent: str, page_size: int, page_token: str
    ) -> Page[Delivery]:
        """An endpoint's delivery log, the newest first."""
        _staff(caller)
        webhook_id = webhook_id_of(parent, "parent")
        request = page_request(
            page_size, page_token, query={"webhook": webhook_id}, key=[KeyPart.ID]
        )
        async with self.unit_of_work(write=False) as uow:
            await _webhook(uow, webhook_id)
            found, total = await uow.deliveries.page(
                webhook_id, before=request.after[0] if request.after else None, fetch=request.fetch
            )
        return request.page(found, total, lambda d: [d.id])

    async def replay(self, caller: Principal, name: str) -> Delivery:
        """Due again now with a fresh round of attempts, under the same webhook-id."""
        _staff(caller)
        webhook_id, delivery_id = delivery_ids_of(name)
        async with self.unit_of_work() as uow:
            webhook: PartnerWebhook = await _webhook(uow, webhook_id, lock=True)
            if await uow.deliveries.get(webhook_id, delivery_id) is None:
                raise NotFound(f"{name} was not found", reason="DELIVERY_NOT_FOUND")
            if not webhook.enabled:
                raise FailedPrecondition(
                    "the endpoint is disabled: enable it first", reason="WEBHOOK_DISABLED"
                )
            await uow.deliveries.replay(delivery_id, self.clock.now())
            await uow.record_staff_action(
                StaffAction(caller, "partner_webhook.replay_delivery", name, "")
            )
            replayed = await uow.deliveries.get(webhook_id, delivery_id)
            await uow.commit()
        assert replayed is not None
        return replayed
