"""Bodies of the notification routes: a user's notifications and their preferences.

Kinds and channels are read from the proto descriptors; the gateway loads no messaging
module."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import BaseModel, Field, ValidationInfo, field_validator

from chassis.wire import ProtoNames, instant, optional_instant
from estuary.messaging.v1 import messaging_pb2 as pb
from gateway.schemas.common import (
    ID_PATTERN,
    S3_FORM_FIELDS,
    Int32,
    Int64,
    StrictBody,
    UploadFormOut,
    examples,
)

KINDS = ProtoNames(pb.NotificationKind)
CHANNELS = ProtoNames(pb.Channel)
CONVERSATION_KINDS = ProtoNames(pb.ConversationKind)
PLATFORMS = ProtoNames(pb.PushPlatform)

if TYPE_CHECKING:
    NotificationKindName = str
    ChannelName = str
    ConversationKindName = str
    PushPlatformName = str
else:
    NotificationKindName = KINDS.literal
    ChannelName = CHANNELS.literal
    ConversationKindName = CONVERSATION_KINDS.literal
    PushPlatformName = PLATFORMS.literal

# Every kind and channel a user may list in one change, with room for none twice.
MAX_PREFERENCES = len(KINDS.names) * len(CHANNELS.names)


class NotificationOut(BaseModel):
    model_config = examples(
        {
            "id": "0193c6b8-c2d3-7e4f-8a5b-6c7d8e9f0a1b",
            "kind": "booking_confirmed",
            "title": "Booked: Deep tissue massage",
            "body": "Deep tissue massage, Wednesday 02 December 2026, 09:00 (Europe/Lisbon).",
            "subject": "bookings/0193c6b8-a1b2-7c3d-8e4f-5a6b7c8d9e0f",
            "created_at": "2026-12-01T09:00:00Z",
            "read_at": None,
        }
    )
    id: str
    kind: NotificationKindName
    title: str
    body: str
    subject: str = Field(description='What it is about, e.g. "bookings/{id}"; may be empty.')
    created_at: datetime
    read_at: datetime | None = Field(description="When it was read; null while unread.")

    @classmethod
    def from_proto(cls, n: pb.Notification) -> NotificationOut:
        return cls.model_construct(
            id=n.name.removeprefix("notifications/"),
            kind=KINDS.from_proto(n.kind) or "",
            title=n.title,
            body=n.body,
            subject=n.subject,
            created_at=instant(n.create_time),
            read_at=optional_instant(n.read_time, n.HasField("read_time")),
        )


class UnreadCountOut(BaseModel):
    model_config = examples({"unread": 3})
    unread: Int32 = Field(description="The caller's unread notifications.")


class MarkedReadOut(BaseModel):
    model_config = examples({"marked": 3})
    marked: Int32 = Field(description="How many were unread and are read now.")


class PreferenceOut(BaseModel):
    kind: NotificationKindName
    channel: ChannelName
    enabled: bool
    required: bool = Field(
        description="Transactional mail (verification, reset) that cannot be switched off."
    )


class PreferencesOut(BaseModel):
    model_config = examples(
        {
            "preferences": [
                {
                    "kind": "password_reset",
                    "channel": "email",
                    "enabled": True,
                    "required": True,
                },
                {
                    "kind": "booking_reminder",
                    "channel": "email",
                    "enabled": False,
                    "required": False,
                },
            ]
        }
    )
    preferences: list[PreferenceOut] = Field(
        description="Every kind and channel the user can receive, with its setting."
    )

    @classmethod
    def from_proto(cls, p: pb.NotificationPreferences) -> PreferencesOut:
        return cls.model_construct(
            preferences=[
                PreferenceOut.model_construct(
                    kind=KINDS.from_proto(each.kind) or "",
                    channel=CHANNELS.from_proto(each.channel) or "",
                    enabled=each.enabled,
                    required=each.required,
                )
                for each in p.preferences
            ]
        )


class NotificationPreferenceChange(StrictBody):
    kind: NotificationKindName
    channel: ChannelName
    enabled: bool


class NotificationPreferencesBody(StrictBody):
    model_config = examples(
        {"preferences": [{"kind": "booking_reminder", "channel": "email", "enabled": False}]}
    )
    preferences: list[NotificationPreferenceChange] = Field(
        min_length=1,
        max_length=MAX_PREFERENCES,
        description="The pairs to change; the others keep their setting.",
    )

    def to_proto(self) -> pb.UpdateNotificationPreferencesRequest:
        return pb.UpdateNotificationPreferencesRequest(
            preferences=[
                pb.NotificationPreference(
                    kind=KINDS.to_proto(p.kind),  # type: ignore[arg-type]
                    channel=CHANNELS.to_proto(p.channel),  # type: ignore[arg-type]
                    enabled=p.enabled,
                )
                for p in self.preferences
            ]
        )


class NotificationSettingsOut(BaseModel):
    model_config = examples(
        {"locale": "es", "time_zone": "Europe/Madrid", "phone_number": "+34612345678"}
    )
    locale: str = Field(description="The language notifications are written in.")
    time_zone: str = Field(
        description='The IANA zone times are written in; "": the booking\'s own zone.'
    )
    phone_number: str = Field(description='Where text messages go (E.164); "": none.')

    @classmethod
    def from_proto(cls, s: pb.NotificationSettings) -> NotificationSettingsOut:
        return cls.model_construct(
            locale=s.locale, time_zone=s.time_zone, phone_number=s.phone_number
        )


class NotificationSettingsPatch(StrictBody):
    model_config = examples({"locale": "es"}, {"phone_number": "+34612345678"})
    locale: str | None = Field(
        None, max_length=35, description="A language with templates: en or es."
    )
    time_zone: str | None = Field(
        None, max_length=64, description='An IANA zone, e.g. Europe/Madrid; "" clears it.'
    )
    phone_number: str | None = Field(
        None,
        max_length=16,
        description='E.164, e.g. +34612345678; "" removes it (no more text messages).',
    )

    def to_proto(self) -> pb.UpdateNotificationSettingsRequest:
        paths = sorted(self.model_fields_set)
        return pb.UpdateNotificationSettingsRequest(
            settings=pb.NotificationSettings(
                locale=self.locale or "",
                time_zone=self.time_zone or "",
                phone_number=self.phone_number or "",
            ),
            update_mask=FieldMask(paths=paths),
        )


class PushDeviceBody(StrictBody):
    model_config = examples({"platform": "android", "token": "fcm-registration-token"})
    platform: PushPlatformName
    token: str = Field(
        min_length=1, max_length=4096, description="The push provider's token for the device."
    )

    def to_proto(self) -> pb.RegisterPushDeviceRequest:
        return pb.RegisterPushDeviceRequest(
            platform=PLATFORMS.to_proto(self.platform),  # type: ignore[arg-type]
            token=self.token,
        )


class PushDeviceOut(BaseModel):
    model_config = examples(
        {
            "id": "0193c6b8-c2d3-7e4f-8a5b-6c7d8e9f0a1b",
            "platform": "android",
            "token": "fcm-registration-token",
            "created_at": "2026-12-01T09:00:00Z",
        }
    )
    id: str
    platform: PushPlatformName
    token: str
    created_at: datetime

    @classmethod
    def from_proto(cls, d: pb.PushDevice) -> PushDeviceOut:
        return cls.model_construct(
            id=d.name.removeprefix("pushDevices/"),
            platform=PLATFORMS.from_proto(d.platform) or "",
            token=d.token,
            created_at=instant(d.create_time),
        )


class PushDevicesOut(BaseModel):
    model_config = examples(
        {
            "push_devices": [
                {
                    "id": "0193c6b8-c2d3-7e4f-8a5b-6c7d8e9f0a1b",
                    "platform": "android",
                    "token": "fcm-registration-token",
                    "created_at": "2026-12-01T09:00:00Z",
                }
            ]
        }
    )
    push_devices: list[PushDeviceOut] = Field(
        description="Every device of the caller, newest first (a user has a bounded number, "
        "so there is one page)."
    )

    @classmethod
    def from_proto(cls, found: pb.ListPushDevicesResponse) -> PushDevicesOut:
        return cls.model_construct(
            push_devices=[PushDeviceOut.from_proto(d) for d in found.push_devices]
        )


# Conversations -----------------------------------------------------------------------------

MESSAGE_MAX_LENGTH = 4000  # messaging's rule (services/messaging/domain/conversations.py)
CONVERSATION_ID = "0193c6b8-d1e2-7f30-8a4b-5c6d7e8f9a0b"
MESSAGE: dict[str, Any] = {
    "id": "0193c6b9-0a1b-7c2d-8e3f-4a5b6c7d8e9f",
    "conversation_id": CONVERSATION_ID,
    "sender_user_id": "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11",
    "text": "Hello! Is Tuesday at 10 still free?",
    "reply_to": None,
    "created_at": "2026-12-01T09:00:00Z",
    "sender_erased": False,
    "edited_at": None,
    "deleted": False,
    "attachments": [
        {
            "reference": f"messaging/conversations/{CONVERSATION_ID}/attachments/"
            "0193c6b8-f0a1-7b2c-8d3e-4f5a6b7c8d9e",
            "content_type": "image/jpeg",
            "size_bytes": 48213,
            "download_url": "https://media.example.com/estuary-media/messaging/conversations/"
            f"{CONVERSATION_ID}/attachments/0193c6b8-f0a1-7b2c-8d3e-4f5a6b7c8d9e"
            "?X-Amz-Signature=...",
            "download_expires_at": "2026-12-01T09:05:00Z",
        }
    ],
}


class AttachmentOut(BaseModel):
    reference: str = Field(description="The uploaded object's reference (its key).")
    content_type: str
    size_bytes: Int64
    download_url: str | None = Field(
        description="Reads the object until download_expires_at; handed to the "
        "conversation's participants with its messages, null in a conversation's "
        "last_message."
    )
    download_expires_at: datetime | None

    @classmethod
    def from_proto(cls, a: pb.MessageAttachment) -> AttachmentOut:
        return cls.model_construct(
            reference=a.reference,
            content_type=a.content_type,
            size_bytes=a.size_bytes,
            download_url=a.download_url or None,
            download_expires_at=optional_instant(
                a.download_expire_time, a.HasField("download_expire_time")
            ),
        )


def _id_in(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class MessageOut(BaseModel):
    model_config = examples(MESSAGE)
    id: str
    conversation_id: str
    sender_user_id: str
    text: str = Field(description="Empty once its sender's account was deleted.")
    reply_to: str | None = Field(description="The message it answers, in this conversation.")
    created_at: datetime
    sender_erased: bool
    edited_at: datetime | None = Field(description="When its sender last changed it.")
    deleted: bool = Field(description="Its sender deleted it: the text is gone.")
    attachments: list[AttachmentOut] = Field(
        description="Uploaded files it carries, in the order sent; none once deleted."
    )

    @classmethod
    def from_proto(cls, m: pb.Message) -> MessageOut:
        return cls.model_construct(
            id=_id_in(m.name),
            conversation_id=m.name.split("/")[1],
            sender_user_id=m.sender_user_id,
            text=m.text,
            reply_to=_id_in(m.reply_to) if m.reply_to else None,
            created_at=instant(m.create_time),
            sender_erased=m.sender_erased,
            edited_at=optional_instant(m.edit_time, m.HasField("edit_time")),
            deleted=m.HasField("delete_time"),
            attachments=[AttachmentOut.from_proto(a) for a in m.attachments],
        )


class ReadReceiptOut(BaseModel):
    user_id: str
    last_read_message_id: str | None = Field(
        description="The newest message they have read; null while none."
    )


class ConversationOut(BaseModel):
    model_config = examples(
        {
            "id": CONVERSATION_ID,
            "participant_user_ids": [
                "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11",
                "0193b0a5-1c2d-7e3f-8a4b-6c7d8e9f0a1b",
            ],
            "unread": 1,
            "last_message": MESSAGE,
            "created_at": "2026-12-01T08:55:00Z",
            "updated_at": "2026-12-01T09:00:00Z",
            "read_receipts": [
                {
                    "user_id": "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11",
                    "last_read_message_id": MESSAGE["id"],
                },
                {"user_id": "0193b0a5-1c2d-7e3f-8a4b-6c7d8e9f0a1b", "last_read_message_id": None},
            ],
            "kind": "direct",
            "title": None,
            "admin_user_ids": [],
            "archived": False,
        }
    )
    id: str
    participant_user_ids: list[str]
    unread: Int32 = Field(description="Messages others sent that the caller has not read.")
    last_message: MessageOut | None
    created_at: datetime
    updated_at: datetime = Field(description="When the newest message was sent.")
    read_receipts: list[ReadReceiptOut] = Field(description="How far each participant has read.")
    kind: ConversationKindName = Field(
        description="direct (two people, one conversation per pair) or group."
    )
    title: str | None = Field(description="A group's title; null for a direct conversation.")
    admin_user_ids: list[str] = Field(
        description="A group's admins, who add and remove people and rename it."
    )
    archived: bool = Field(
        description="You archived it: out of your list until someone writes in it again."
    )

    @classmethod
    def from_proto(cls, c: pb.Conversation) -> ConversationOut:
        return cls.model_construct(
            id=_id_in(c.name),
            participant_user_ids=list(c.participant_user_ids),
            unread=c.unread_count,
            last_message=(
                MessageOut.from_proto(c.last_message) if c.HasField("last_message") else None
            ),
            created_at=instant(c.create_time),
            updated_at=instant(c.update_time),
            kind=CONVERSATION_KINDS.from_proto(c.kind) or "direct",
            title=c.title or None,
            admin_user_ids=list(c.admin_user_ids),
            archived=c.archived,
            read_receipts=[
                ReadReceiptOut.model_construct(
                    user_id=r.user_id,
                    last_read_message_id=(
                        _id_in(r.last_read_message) if r.last_read_message else None
                    ),
                )
                for r in c.read_receipts
            ],
        )


class ConversationBody(StrictBody):
    model_config = examples({"participant_user_id": "0193b0a5-1c2d-7e3f-8a4b-6c7d8e9f0a1b"})
    participant_user_id: str = Field(
        pattern=ID_PATTERN, description="The other participant's user id."
    )


GROUP_TITLE_LENGTH = 100  # messaging's rule (services/messaging/domain/conversations.py)
GROUP_OTHERS = 49


class GroupBody(StrictBody):
    model_config = examples(
        {
            "title": "Tuesday yoga",
            "participant_user_ids": [
                "0193b0a5-1c2d-7e3f-8a4b-6c7d8e9f0a1b",
                "0193b0a6-2d3e-7f40-9b5c-7d8e9f0a1b2c",
            ],
        }
    )
    title: str = Field(min_length=1, max_length=GROUP_TITLE_LENGTH)
    participant_user_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        min_length=1,
        max_length=GROUP_OTHERS,
        description="The others in it (you are too), each someone you may write to.",
    )


class GroupTitleBody(StrictBody):
    model_config = examples({"title": "Yoga, Tuesdays"})
    title: str = Field(min_length=1, max_length=GROUP_TITLE_LENGTH)


class ParticipantBody(StrictBody):
    model_config = examples({"user_id": "0193b0a6-2d3e-7f40-9b5c-7d8e9f0a1b2c"})
    user_id: str = Field(pattern=ID_PATTERN, description="Someone you may write to.")


UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# messaging's attachment keys (services/messaging/domain/attachments.py)
ATTACHMENT_REFERENCE = f"^messaging/conversations/{UUID}/attachments/{UUID}$"
ATTACHMENTS_MAX = 10  # messaging's rule (services/messaging/domain/conversations.py)


class MessageBody(StrictBody):
    model_config = examples({"text": "Hello! Is Tuesday at 10 still free?"})
    # Before the text, so the text's check knows whether attachments came.
    attachments: list[Annotated[str, Field(pattern=ATTACHMENT_REFERENCE)]] = Field(
        default_factory=list,
        max_length=ATTACHMENTS_MAX,
        description="Files it carries: the references of your uploads to this conversation "
        "(POST .../attachments), each uploaded and not yet sent.",
    )
    text: str = Field(
        "",
        max_length=MESSAGE_MAX_LENGTH,
        description="1-4000 characters; may be left out beside attachments.",
    )

    @field_validator("text")
    @classmethod
    def _something_to_send(cls, text: str, info: ValidationInfo) -> str:
        if not text and not info.data.get("attachments"):
            raise ValueError("must not be empty without attachments")
        return text

    reply_to: str | None = Field(
        None, pattern=ID_PATTERN, description="A message of this conversation."
    )


REPORT_REASON_LENGTH = 500  # messaging's rule (services/messaging/domain/conversations.py)


class MessageReportOut(BaseModel):
    model_config = examples(
        {
            "id": "0193c6ba-1b2c-7d3e-8f4a-5b6c7d8e9f0a",
            "message": MESSAGE,
            "reporter_user_id": "0193b0a5-1c2d-7e3f-8a4b-6c7d8e9f0a1b",
            "reason": "Insulting",
            "created_at": "2026-12-01T09:05:00Z",
        }
    )
    id: str
    message: MessageOut = Field(description="The message reported, as it is now.")
    reporter_user_id: str
    reason: str
    created_at: datetime

    @classmethod
    def from_proto(cls, r: pb.MessageReport) -> MessageReportOut:
        return cls.model_construct(
            id=_id_in(r.name),
            message=MessageOut.from_proto(r.message),
            reporter_user_id=r.reporter_user_id,
            reason=r.reason,
            created_at=instant(r.create_time),
        )


class AttachmentUploadBody(StrictBody):
    model_config = examples({"content_type": "image/jpeg"})
    content_type: str = Field(
        min_length=1,
        max_length=255,
        description="The file's type: an image, a PDF, audio or video of the allowed types.",
    )


class AttachmentUploadOut(UploadFormOut):
    model_config = examples(
        {
            "reference": MESSAGE["attachments"][0]["reference"],
            "url": "https://media.example.com/estuary-media",
            "fields": {**S3_FORM_FIELDS, "key": MESSAGE["attachments"][0]["reference"]},
            "content_type": "image/jpeg",
            "max_bytes": 20971520,
            "expires_at": "2026-12-01T09:15:00Z",
        }
    )
    reference: str = Field(description="What a message's attachments name to carry the file.")

    @classmethod
    def from_proto(cls, u: pb.AttachmentUpload) -> AttachmentUploadOut:
        return cls.model_construct(reference=u.reference, **cls.form_of(u))


class MessageEditBody(StrictBody):
    model_config = examples({"text": "Hello! Is Tuesday at 11 still free?"})
    text: str = Field(min_length=1, max_length=MESSAGE_MAX_LENGTH)


class MessageRevisionOut(BaseModel):
    text: str
    reason: str = Field(description="edited or deleted: what replaced this text.")
    replaced_at: datetime


class MessageHistoryOut(BaseModel):
    """A message as it is, and what it said before each edit or its deletion (staff)."""

    model_config = examples(
        {
            "message": MESSAGE,
            "revisions": [
                {"text": "Hello!", "reason": "edited", "replaced_at": "2026-12-01T09:01:00Z"}
            ],
        }
    )
    message: MessageOut
    revisions: list[MessageRevisionOut] = Field(description="Oldest first.")

    @classmethod
    def from_proto(cls, h: pb.ListMessageRevisionsResponse) -> MessageHistoryOut:
        return cls.model_construct(
            message=MessageOut.from_proto(h.message),
            revisions=[
                MessageRevisionOut.model_construct(
                    text=r.text, reason=r.reason, replaced_at=instant(r.replace_time)
                )
                for r in h.revisions
            ],
        )


class ReportBody(StrictBody):
    model_config = examples({"reason": "Insulting"})
    reason: str = Field(min_length=1, max_length=REPORT_REASON_LENGTH, description="Why.")


# Partner webhooks -----------------------------------------------------------------------

DELIVERY_STATES = ProtoNames(pb.PartnerWebhookDeliveryState)
if TYPE_CHECKING:
    DeliveryStateName = str
else:
    DeliveryStateName = DELIVERY_STATES.literal

# The service checks each type against what partners may subscribe to and names the bad one.
EventTypeName = Annotated[str, Field(min_length=1, max_length=100, examples=["booking.confirmed"])]
MAX_EVENT_TYPES = 50
PARTNER_WEBHOOK = {
    "id": "0193c6bb-2c3d-7e4f-8a5b-6c7d8e9f0a1b",
    "url": "https://partner.example/estuary/webhooks",
    "description": "Acme Wellness (bookings feed)",
    "event_types": ["booking.confirmed", "booking.cancelled", "payment.succeeded"],
    "enabled": True,
    "disabled_reason": "",
    "consecutive_failures": 0,
    "created_at": "2026-12-01T09:00:00Z",
    "updated_at": "2026-12-01T09:00:00Z",
}


class PartnerWebhookBody(StrictBody):
    model_config = examples(
        {
            "url": PARTNER_WEBHOOK["url"],
            "description": PARTNER_WEBHOOK["description"],
            "event_types": PARTNER_WEBHOOK["event_types"],
        }
    )
    url: str = Field(max_length=2000, description="https (the partner's endpoint).")
    description: str = Field("", max_length=200, description="Who the partner is, for staff.")
    event_types: list[EventTypeName] = Field(
        max_length=MAX_EVENT_TYPES, description="The event types sent to it."
    )


class PartnerWebhookPatch(StrictBody):
    model_config = examples({"enabled": True}, {"event_types": ["booking.confirmed"]})
    event_types: list[EventTypeName] | None = Field(None, max_length=MAX_EVENT_TYPES)
    enabled: bool | None = Field(
        None, description="Enabling an endpoint disabled for failing resets its failure count."
    )
    description: str | None = Field(None, max_length=200)


class PartnerWebhookOut(BaseModel):
    model_config = examples(PARTNER_WEBHOOK)
    id: str
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str = Field(
        description='"failing": switched off after failing delivery after delivery; "" otherwise.'
    )
    consecutive_failures: Int32 = Field(
        description="Deliveries given up on in a row since the last one delivered."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, w: pb.PartnerWebhook) -> dict[str, Any]:
        return {
            "id": _id_in(w.name),
            "url": w.url,
            "description": w.description,
            "event_types": list(w.event_types),
            "enabled": w.enabled,
            "disabled_reason": w.disabled_reason,
            "consecutive_failures": w.consecutive_failures,
            "created_at": instant(w.create_time),
            "updated_at": instant(w.update_time),
        }

    @classmethod
    def from_proto(cls, w: pb.PartnerWebhook) -> PartnerWebhookOut:
        return cls.model_construct(**cls.fields_of(w))


class PartnerWebhookWithSecret(PartnerWebhookOut):
    model_config = examples(
        {**PARTNER_WEBHOOK, "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD3n5dqFpYnwI="}
    )
    secret: str = Field(
        description="The signing secret: shown here only (at creation and rotation); keep it "
        "where the partner's receiver can read it."
    )

    @classmethod
    def with_secret(cls, w: pb.PartnerWebhook) -> PartnerWebhookWithSecret:
        return cls.model_construct(**cls.fields_of(w), secret=w.secret)


class PartnerWebhookDeliveryOut(BaseModel):
    model_config = examples(
        {
            "id": "0193c6bc-3d4e-7f5a-8b6c-7d8e9f0a1b2c",
            "event_id": "0193c6bb-9a8b-7c6d-8e5f-4a3b2c1d0e9f",
            "event_type": "booking.confirmed",
            "state": "pending",
            "attempts": 2,
            "last_status_code": 503,
            "last_latency_ms": 41,
            "last_error": "HTTP 503",
            "last_attempt_at": "2026-12-01T09:10:00Z",
            "next_attempt_at": "2026-12-01T09:30:00Z",
            "delivered_at": None,
            "created_at": "2026-12-01T09:00:00Z",
        }
    )
    id: str = Field(description="Also the webhook-id header the partner receives.")
    event_id: str
    event_type: str
    state: DeliveryStateName
    attempts: Int32 = Field(description="Attempts made (a replay starts again from 0).")
    last_status_code: Int32 = Field(description="The latest answer's status; 0: none came.")
    last_latency_ms: Int32
    last_error: str
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When it is tried next (pending).")
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_proto(cls, d: pb.PartnerWebhookDelivery) -> PartnerWebhookDeliveryOut:
        return cls.model_construct(
            id=_id_in(d.name),
            event_id=d.event_id,
            event_type=d.event_type,
            state=DELIVERY_STATES.from_proto(d.state) or "",
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_latency_ms=d.last_latency_ms,
            last_error=d.last_error,
            last_attempt_at=optional_instant(d.last_attempt_time, d.HasField("last_attempt_time")),
            next_attempt_at=optional_instant(d.next_attempt_time, d.HasField("next_attempt_time")),
            delivered_at=optional_instant(d.deliver_time, d.HasField("deliver_time")),
            created_at=instant(d.create_time),
        )
