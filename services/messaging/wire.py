"""Messaging's proto mapping: notifications, preferences, conversations, messages and
reports, for the servicers and the live stream alike."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.media import UploadForm
from chassis.wire import ProtoEnum, timestamp
from estuary.messaging.v1 import messaging_pb2 as pb
from services.messaging.domain.contacts import (
    PUSH_DEVICE_PREFIX,
    ContactSettings,
    PushDevice,
    PushPlatform,
)
from services.messaging.domain.conversations import (
    CONVERSATION_PREFIX,
    Attachment,
    Conversation,
    Message,
    MessageReport,
    Revision,
)
from services.messaging.domain.notifications import (
    NOTIFICATION_PREFIX,
    Channel,
    Kind,
    Notification,
    Preference,
)
from services.messaging.domain.webhooks import (
    DELIVERIES,
    WEBHOOK_PREFIX,
    Delivery,
    DeliveryState,
    PartnerWebhook,
)

KINDS = ProtoEnum(pb.NotificationKind, Kind)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHANNELS = ProtoEnum(pb.Channel, Channel)
PLATFORMS = ProtoEnum(pb.PushPlatform, PushPlatform)


def contact_settings_to_proto(user_id: str, held: ContactSettings) -> pb.NotificationSettings:
    return pb.NotificationSettings(
        name=f"users/{user_id}/notificationSettings",
        locale=held.locale,
        time_zone=held.time_zone,
        phone_number=held.phone_number,
    )


def contact_settings_from_proto(message: pb.NotificationSettings) -> ContactSettings:
    return ContactSettings(message.locale, message.time_zone, message.phone_number)


def push_device_to_proto(device: PushDevice) -> pb.PushDevice:
    return pb.PushDevice(
        name=PUSH_DEVICE_PREFIX + device.id,
        platform=PLATFORMS.to_proto(device.platform),  # type: ignore[arg-type]
        token=device.token,
        create_time=timestamp(device.created_at),
    )


def notification_to_proto(notification: Notification) -> pb.Notification:
    message = pb.Notification(
        name=NOTIFICATION_PREFIX + notification.id,
        kind=KINDS.to_proto(notification.kind),  # type: ignore[arg-type]
        title=notification.title,
        body=notification.body,
        subject=notification.subject,
        create_time=timestamp(notification.created_at),
    )
    if notification.read_at is not None:
        message.read_time.CopyFrom(timestamp(notification.read_at))
    return message


def preferences_to_proto(user_id: str, chosen: list[Preference]) -> pb.NotificationPreferences:
    return pb.NotificationPreferences(
        name=f"users/{user_id}/notificationPreferences",
        preferences=[
            pb.NotificationPreference(
                kind=KINDS.to_proto(p.kind),  # type: ignore[arg-type]
                channel=CHANNELS.to_proto(p.channel),  # type: ignore[arg-type]
                enabled=p.enabled,
                required=p.required,
            )
            for p in chosen
        ],
    )


def attachment_to_proto(attachment: Attachment) -> pb.MessageAttachment:
    made = pb.MessageAttachment(
        reference=attachment.reference,
        content_type=attachment.content_type,
        size_bytes=attachment.size,
    )
    if attachment.download is not None:
        made.download_url = attachment.download.url
        made.download_expire_time.CopyFrom(timestamp(attachment.download.expires_at))
    return made


def upload_to_proto(form: UploadForm) -> pb.AttachmentUpload:
    return pb.AttachmentUpload(
        reference=form.key,
        upload_url=form.url,
        upload_fields=form.fields,
        content_type=form.content_type,
        max_bytes=form.max_bytes,
        expire_time=timestamp(form.expires_at),
    )


def message_to_proto(message: Message) -> pb.Message:
    conversation = f"{CONVERSATION_PREFIX}{message.conversation_id}"
    made = pb.Message(
        name=f"{conversation}/messages/{message.id}",
        sender_user_id=message.sender_id,
        text=message.text,
        reply_to=f"{conversation}/messages/{message.reply_to_id}" if message.reply_to_id else "",
        create_time=timestamp(message.created_at),
        sender_erased=message.sender_erased,
        attachments=[attachment_to_proto(a) for a in message.attachments],
    )
    if message.edited_at is not None:
        made.edit_time.CopyFrom(timestamp(message.edited_at))
    if message.deleted_at is not None:
        made.delete_time.CopyFrom(timestamp(message.deleted_at))
    return made


def revision_to_proto(revision: Revision) -> pb.MessageRevision:
    return pb.MessageRevision(
        text=revision.text, reason=revision.reason, replace_time=timestamp(revision.replaced_at)
    )


def conversation_to_proto(conversation: Conversation) -> pb.Conversation:
    found = pb.Conversation(
        name=f"{CONVERSATION_PREFIX}{conversation.id}",
        participant_user_ids=list(conversation.participant_ids),
        unread_count=conversation.unread,
        create_time=timestamp(conversation.created_at),
        update_time=timestamp(conversation.updated_at),
    )
    found.kind = (
        pb.CONVERSATION_KIND_GROUP if conversation.is_group else pb.CONVERSATION_KIND_DIRECT
    )
    found.title = conversation.title
    found.admin_user_ids.extend(conversation.admin_ids)
    found.archived = conversation.archived
    if conversation.last_message is not None:
        found.last_message.CopyFrom(message_to_proto(conversation.last_message))
    for user_id, message_id in conversation.read_up_to.items():
        found.read_receipts.add(
            user_id=user_id,
            last_read_message=f"{found.name}/messages/{message_id}" if message_id else "",
        )
    return found


def report_to_proto(report: MessageReport) -> pb.MessageReport:
    return pb.MessageReport(
        name=f"messageReports/{report.id}",
        message=message_to_proto(report.message),
        reporter_user_id=report.reporter_id,
        reason=report.reason,
        create_time=timestamp(report.created_at),
    )


DELIVERY_STATES = ProtoEnum(pb.PartnerWebhookDeliveryState, DeliveryState)


def partner_webhook_to_proto(
    webhook: PartnerWebhook, *, with_secret: bool = False
) -> pb.PartnerWebhook:
    """An endpoint; its secret only where the caller was just given it (create, rotate)."""
    return pb.PartnerWebhook(
        name=WEBHOOK_PREFIX + webhook.id,
        url=webhook.url,
        description=webhook.description,
        event_types=list(webhook.event_types),
        enabled=webhook.enabled,
        disabled_reason=webhook.disabled_reason,
        consecutive_failures=webhook.consecutive_failures,
        secret=webhook.secret if with_secret else "",
        create_time=timestamp(webhook.created_at),
        update_time=timestamp(webhook.updated_at),
    )


def partner_webhook_from_proto(message: pb.PartnerWebhook) -> PartnerWebhook:
    """What a request says of an endpoint (its id is the caller's to check)."""
    return PartnerWebhook(
        message.name.removeprefix(WEBHOOK_PREFIX),
        message.url,
        message.description,
        tuple(message.event_types),
        message.enabled,
        EPOCH,
        EPOCH,
    )


def delivery_to_proto(delivery: Delivery) -> pb.PartnerWebhookDelivery:
    made = pb.PartnerWebhookDelivery(
        name=f"{WEBHOOK_PREFIX}{delivery.webhook_id}{DELIVERIES}{delivery.id}",
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        state=DELIVERY_STATES.to_proto(delivery.state),  # type: ignore[arg-type]
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_latency_ms=delivery.last_latency_ms,
        last_error=delivery.last_error,
        create_time=timestamp(delivery.created_at),
    )
    for field, at in (
        ("last_attempt_time", delivery.last_attempt_at),
        ("next_attempt_time", delivery.next_attempt_at),
        ("deliver_time", delivery.delivered_at),
    ):
        if at is not None:
            getattr(made, field).CopyFrom(timestamp(at))
    return made
