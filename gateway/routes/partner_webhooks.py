"""/api/v1/admin/partner-webhooks: staff manage partners' webhook endpoints, read each one's
delivery log and replay a delivery. Messaging checks the staff role again."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path
from google.protobuf.field_mask_pb2 import FieldMask
from starlette.responses import Response

from estuary.messaging.v1 import messaging_pb2 as pb
from gateway.auth import Caller, require_staff
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, backends, json_response
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Limit, Page, page_of
from gateway.schemas.messaging import (
    ID_PATTERN,
    PartnerWebhookBody,
    PartnerWebhookDeliveryOut,
    PartnerWebhookOut,
    PartnerWebhookPatch,
    PartnerWebhookWithSecret,
)

router = GatewayRouter(prefix="/api/v1/admin/partner-webhooks")
TAGS: list[str | Enum] = ["partner_webhooks"]

WebhookId = Annotated[str, Path(pattern=ID_PATTERN, description="The endpoint's id.")]
DeliveryId = Annotated[str, Path(pattern=ID_PATTERN, description="The delivery's id.")]


def _name(webhook_id: str) -> str:
    return f"partnerWebhooks/{webhook_id}"


@router.post(
    "",
    operation_id="partner_webhooks.create",
    tags=TAGS,
    status_code=201,
    response_model=PartnerWebhookWithSecret,
    responses=responses(400),
)
async def create_partner_webhook(
    body: PartnerWebhookBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Subscribes a partner's https endpoint to event types. The answer carries the signing
    secret, shown this once."""
    made = await api.partner_webhooks.CreatePartnerWebhook(
        pb.CreatePartnerWebhookRequest(
            partner_webhook=pb.PartnerWebhook(
                url=body.url, description=body.description, event_types=body.event_types
            ),
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(PartnerWebhookWithSecret.with_secret(made), 201)


@router.get(
    "",
    operation_id="partner_webhooks.list",
    tags=TAGS,
    response_model=Page[PartnerWebhookOut],
)
async def list_partner_webhooks(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Every partner endpoint, the newest first (without secrets)."""
    found = await api.partner_webhooks.ListPartnerWebhooks(
        pb.ListPartnerWebhooksRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [PartnerWebhookOut.from_proto(w) for w in found.partner_webhooks],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/{webhook_id}",
    operation_id="partner_webhooks.get",
    tags=TAGS,
    response_model=PartnerWebhookOut,
)
async def get_partner_webhook(
    webhook_id: WebhookId,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """One partner endpoint (without its secret)."""
    found = await api.partner_webhooks.GetPartnerWebhook(
        pb.GetPartnerWebhookRequest(name=_name(webhook_id)), metadata=caller.metadata()
    )
    return json_response(PartnerWebhookOut.from_proto(found))


@router.patch(
    "/{webhook_id}",
    operation_id="partner_webhooks.update",
    tags=TAGS,
    response_model=PartnerWebhookOut,
)
async def update_partner_webhook(
    webhook_id: WebhookId,
    body: PartnerWebhookPatch,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Changes the event types, the description, or enables / disables the endpoint."""
    paths = sorted(body.model_fields_set)
    message = pb.PartnerWebhook(name=_name(webhook_id))
    if body.event_types is not None:
        message.event_types.extend(body.event_types)
    if body.enabled is not None:
        message.enabled = body.enabled
    if body.description is not None:
        message.description = body.description
    updated = await api.partner_webhooks.UpdatePartnerWebhook(
        pb.UpdatePartnerWebhookRequest(partner_webhook=message, update_mask=FieldMask(paths=paths)),
        metadata=caller.metadata(),
    )
    return json_response(PartnerWebhookOut.from_proto(updated))


@router.delete(
    "/{webhook_id}",
    operation_id="partner_webhooks.delete",
    tags=TAGS,
    status_code=204,
)
async def delete_partner_webhook(
    webhook_id: WebhookId,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Removes the endpoint and its delivery log; nothing more is sent to it."""
    await api.partner_webhooks.DeletePartnerWebhook(
        pb.DeletePartnerWebhookRequest(name=_name(webhook_id)), metadata=caller.metadata()
    )
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    operation_id="partner_webhooks.rotate_secret",
    tags=TAGS,
    response_model=PartnerWebhookWithSecret,
)
async def rotate_partner_webhook_secret(
    webhook_id: WebhookId,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Replaces the signing secret at once; the answer carries the new one, shown this once."""
    rotated = await api.partner_webhooks.RotatePartnerWebhookSecret(
        pb.RotatePartnerWebhookSecretRequest(name=_name(webhook_id)), metadata=caller.metadata()
    )
    return json_response(PartnerWebhookWithSecret.with_secret(rotated))


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="partner_webhooks.list_deliveries",
    tags=TAGS,
    response_model=Page[PartnerWebhookDeliveryOut],
)
async def list_partner_webhook_deliveries(
    webhook_id: WebhookId,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """The endpoint's delivery log, the newest first: attempts, the latest status, latency
    and error, and when the next attempt is due."""
    found = await api.partner_webhooks.ListPartnerWebhookDeliveries(
        pb.ListPartnerWebhookDeliveriesRequest(
            parent=_name(webhook_id), page_size=limit, page_token=cursor or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [PartnerWebhookDeliveryOut.from_proto(d) for d in found.deliveries],
            found.next_page_token,
            found.total_size,
        )
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay",
    operation_id="partner_webhooks.replay_delivery",
    tags=TAGS,
    response_model=PartnerWebhookDeliveryOut,
    responses=responses(409),
)
async def replay_partner_webhook_delivery(
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Sends a delivery again, under the same webhook-id, with a fresh round of attempts;
    409 while its endpoint is disabled."""
    replayed = await api.partner_webhooks.ReplayPartnerWebhookDelivery(
        pb.ReplayPartnerWebhookDeliveryRequest(
            name=f"{_name(webhook_id)}/deliveries/{delivery_id}"
        ),
        metadata=caller.metadata(),
    )
    return json_response(PartnerWebhookDeliveryOut.from_proto(replayed))
