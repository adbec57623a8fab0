"""Messaging's gRPC servicer: proto messages in and out, nothing else."""

from __future__ import annotations

import contextlib
from typing import Any

from chassis.context import current_user
from estuary.messaging.v1 import messaging_pb2 as pb
from estuary.messaging.v1 import messaging_pb2_grpc
from services.messaging.conversations import ConversationDesk
from services.messaging.live import LiveHub
from services.messaging.partner_webhooks import PartnerWebhookDesk, webhook_id_of
from services.messaging.service_layer import NotificationDesk
from services.messaging.wire import (
    CHANNELS,
    KINDS,
    PLATFORMS,
    contact_settings_from_proto,
    contact_settings_to_proto,
    conversation_to_proto,
    delivery_to_proto,
    message_to_proto,
    notification_to_proto,
    partner_webhook_from_proto,
    partner_webhook_to_proto,
    preferences_to_proto,
    push_device_to_proto,
    report_to_proto,
    revision_to_proto,
    upload_to_proto,
)


class NotificationServicer(messaging_pb2_grpc.NotificationServiceServicer):
    def __init__(self, desk: NotificationDesk) -> None:
        self._desk = desk

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Any
    ) -> pb.ListNotificationsResponse:
        page = await self._desk.page(
            current_user(),
            request.page_size,
            request.page_token,
            unread_only=request.unread_only,
        )
        return pb.ListNotificationsResponse(
            notifications=[notification_to_proto(n) for n in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def MarkNotificationRead(
        self, request: pb.MarkNotificationReadRequest, context: Any
    ) -> pb.Notification:
        return notification_to_proto(await self._desk.mark_read(current_user(), request.name))

    async def MarkAllNotificationsRead(
        self, request: pb.MarkAllNotificationsReadRequest, context: Any
    ) -> pb.MarkAllNotificationsReadResponse:
        marked = await self._desk.mark_all_read(current_user())
        return pb.MarkAllNotificationsReadResponse(marked_count=marked)

    async def GetUnreadCount(
        self, request: pb.GetUnreadCountRequest, context: Any
    ) -> pb.UnreadCount:
        return pb.UnreadCount(unread_count=await self._desk.unread(current_user()))

    async def GetNotificationPreferences(
        self, request: pb.GetNotificationPreferencesRequest, context: Any
    ) -> pb.NotificationPreferences:
        caller = current_user()
        return preferences_to_proto(caller.user_id, await self._desk.preferences(caller))

    async def UpdateNotificationPreferences(
        self, request: pb.UpdateNotificationPreferencesRequest, context: Any
    ) -> pb.NotificationPreferences:
        caller = current_user()
        chosen = await self._desk.update_preferences(
            caller,
            [
                (KINDS.from_proto(p.kind), CHANNELS.from_proto(p.channel), p.enabled)
                for p in request.preferences
            ],
        )
        return preferences_to_proto(caller.user_id, chosen)

    async def GetNotificationSettings(
        self, request: pb.GetNotificationSettingsRequest, context: Any
    ) -> pb.NotificationSettings:
        caller = current_user()
        return contact_settings_to_proto(caller.user_id, await self._desk.contact_settings(caller))

    async def UpdateNotificationSettings(
        self, request: pb.UpdateNotificationSettingsRequest, context: Any
    ) -> pb.NotificationSettings:
        caller = current_user()
        changed = await self._desk.update_contact_settings(
            caller,
            contact_settings_from_proto(request.settings),
            list(request.update_mask.paths),
        )
        return contact_settings_to_proto(caller.user_id, changed)

    async def RegisterPushDevice(
        self, request: pb.RegisterPushDeviceRequest, context: Any
    ) -> pb.PushDevice:
        device = await self._desk.register_device(
            current_user(), PLATFORMS.from_proto(request.platform), request.token
        )
        return push_device_to_proto(device)

    async def ListPushDevices(
        self, request: pb.ListPushDevicesRequest, context: Any
    ) -> pb.ListPushDevicesResponse:
        devices = await self._desk.devices(current_user())
        return pb.ListPushDevicesResponse(push_devices=[push_device_to_proto(d) for d in devices])

    async def UnregisterPushDevice(
        self, request: pb.UnregisterPushDeviceRequest, context: Any
    ) -> pb.UnregisterPushDeviceResponse:
        await self._desk.unregister_device(current_user(), request.name)
        return pb.UnregisterPushDeviceResponse()


class ConversationServicer(messaging_pb2_grpc.ConversationServiceServicer):
    def __init__(self, desk: ConversationDesk) -> None:
        self._desk = desk

    async def CreateConversation(
        self, request: pb.CreateConversationRequest, context: Any
    ) -> pb.Conversation:
        found = await self._desk.start(current_user(), request.participant_user_id)
        return conversation_to_proto(found)

    async def CreateGroupConversation(
        self, request: pb.CreateGroupConversationRequest, context: Any
    ) -> pb.Conversation:
        made = await self._desk.start_group(
            current_user(), request.title, list(request.participant_user_ids)
        )
        return conversation_to_proto(made)

    async def AddParticipant(
        self, request: pb.AddParticipantRequest, context: Any
    ) -> pb.Conversation:
        found = await self._desk.add_participant(
            current_user(), request.conversation, request.user_id
        )
        return conversation_to_proto(found)

    async def RemoveParticipant(
        self, request: pb.RemoveParticipantRequest, context: Any
    ) -> pb.RemoveParticipantResponse:
        await self._desk.remove_participant(current_user(), request.conversation, request.user_id)
        return pb.RemoveParticipantResponse()

    async def UpdateConversation(
        self, request: pb.UpdateConversationRequest, context: Any
    ) -> pb.Conversation:
        renamed = await self._desk.rename(current_user(), request.name, request.title)
        return conversation_to_proto(renamed)

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Any
    ) -> pb.Conversation:
        return conversation_to_proto(await self._desk.get(current_user(), request.name))

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Any
    ) -> pb.ListConversationsResponse:
        found = await self._desk.page(
            current_user(), request.page_size, request.page_token, request.archived
        )
        return pb.ListConversationsResponse(
            conversations=[conversation_to_proto(c) for c in found.page.items],
            next_page_token=found.page.next_page_token,
            total_size=found.page.total,
            total_unread_count=found.unread,
        )

    async def ArchiveConversation(
        self, request: pb.ArchiveConversationRequest, context: Any
    ) -> pb.Conversation:
        found = await self._desk.archive(current_user(), request.name, archived=True)
        return conversation_to_proto(found)

    async def UnarchiveConversation(
        self, request: pb.UnarchiveConversationRequest, context: Any
    ) -> pb.Conversation:
        found = await self._desk.archive(current_user(), request.name, archived=False)
        return conversation_to_proto(found)

    async def SendMessage(self, request: pb.SendMessageRequest, context: Any) -> pb.Message:
        sent = await self._desk.send(
            current_user(),
            request.conversation,
            request.text,
            request.reply_to,
            list(request.attachments),
        )
        return message_to_proto(sent)

    async def CreateAttachmentUpload(
        self, request: pb.CreateAttachmentUploadRequest, context: Any
    ) -> pb.AttachmentUpload:
        form = await self._desk.upload_attachment(
            current_user(), request.conversation, request.content_type
        )
        return upload_to_proto(form)

    async def SearchMessages(
        self, request: pb.SearchMessagesRequest, context: Any
    ) -> pb.SearchMessagesResponse:
        page = await self._desk.search(
            current_user(), request.query, request.page_size, request.page_token
        )
        return pb.SearchMessagesResponse(
            messages=[message_to_proto(m) for m in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def UpdateMessage(self, request: pb.UpdateMessageRequest, context: Any) -> pb.Message:
        edited = await self._desk.edit(current_user(), request.name, request.text)
        return message_to_proto(edited)

    async def DeleteMessage(self, request: pb.DeleteMessageRequest, context: Any) -> pb.Message:
        return message_to_proto(await self._desk.delete(current_user(), request.name))

    async def ListMessageRevisions(
        self, request: pb.ListMessageRevisionsRequest, context: Any
    ) -> pb.ListMessageRevisionsResponse:
        found, revisions = await self._desk.history(current_user(), request.name)
        return pb.ListMessageRevisionsResponse(
            message=message_to_proto(found), revisions=[revision_to_proto(r) for r in revisions]
        )

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Any
    ) -> pb.ListMessagesResponse:
        page = await self._desk.messages(
            current_user(), request.conversation, request.page_size, request.page_token
        )
        return pb.ListMessagesResponse(
            messages=[message_to_proto(m) for m in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def MarkConversationRead(
        self, request: pb.MarkConversationReadRequest, context: Any
    ) -> pb.Conversation:
        return conversation_to_proto(await self._desk.mark_read(current_user(), request.name))

    async def BlockUser(self, request: pb.BlockUserRequest, context: Any) -> pb.BlockUserResponse:
        await self._desk.block(current_user(), request.user_id)
        return pb.BlockUserResponse()

    async def UnblockUser(
        self, request: pb.UnblockUserRequest, context: Any
    ) -> pb.UnblockUserResponse:
        await self._desk.unblock(current_user(), request.user_id)
        return pb.UnblockUserResponse()

    async def ReportMessage(
        self, request: pb.ReportMessageRequest, context: Any
    ) -> pb.MessageReport:
        report = await self._desk.report(current_user(), request.message, request.reason)
        return report_to_proto(report)

    async def SendTyping(
        self, request: pb.SendTypingRequest, context: Any
    ) -> pb.SendTypingResponse:
        await self._desk.typing(current_user(), request.conversation)
        return pb.SendTypingResponse()

    async def ListMessageReports(
        self, request: pb.ListMessageReportsRequest, context: Any
    ) -> pb.ListMessageReportsResponse:
        page = await self._desk.reports(current_user(), request.page_size, request.page_token)
        return pb.ListMessageReportsResponse(
            reports=[report_to_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )


class LiveServicer(messaging_pb2_grpc.LiveServiceServicer):
    def __init__(self, hub: LiveHub) -> None:
        self._hub = hub

    async def StreamEvents(self, request: pb.StreamEventsRequest, context: Any) -> None:
        # Closed however the call ends, so the stream's listener never outlives it.
        async with contextlib.aclosing(
            self._hub.updates(current_user(), request.resume_cursor)
        ) as updates:
            async for event in updates:
                await context.write(event)


class PartnerWebhookServicer(messaging_pb2_grpc.PartnerWebhookServiceServicer):
    def __init__(self, desk: PartnerWebhookDesk) -> None:
        self._desk = desk

    async def CreatePartnerWebhook(
        self, request: pb.CreatePartnerWebhookRequest, context: Any
    ) -> pb.PartnerWebhook:
        made = await self._desk.create(
            current_user(), partner_webhook_from_proto(request.partner_webhook), request.request_id
        )
        return partner_webhook_to_proto(made, with_secret=True)

    async def ListPartnerWebhooks(
        self, request: pb.ListPartnerWebhooksRequest, context: Any
    ) -> pb.ListPartnerWebhooksResponse:
        page = await self._desk.page(current_user(), request.page_size, request.page_token)
        return pb.ListPartnerWebhooksResponse(
            partner_webhooks=[partner_webhook_to_proto(w) for w in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def GetPartnerWebhook(
        self, request: pb.GetPartnerWebhookRequest, context: Any
    ) -> pb.PartnerWebhook:
        return partner_webhook_to_proto(await self._desk.get(current_user(), request.name))

    async def UpdatePartnerWebhook(
        self, request: pb.UpdatePartnerWebhookRequest, context: Any
    ) -> pb.PartnerWebhook:
        caller = current_user()
        values = partner_webhook_from_proto(request.partner_webhook)
        values.id = webhook_id_of(request.partner_webhook.name, "partner_webhook.name")
        updated = await self._desk.update(caller, values, list(request.update_mask.paths))
        return partner_webhook_to_proto(updated)

    async def DeletePartnerWebhook(
        self, request: pb.DeletePartnerWebhookRequest, context: Any
    ) -> pb.DeletePartnerWebhookResponse:
        await self._desk.delete(current_user(), request.name)
        return pb.DeletePartnerWebhookResponse()

    async def RotatePartnerWebhookSecret(
        self, request: pb.RotatePartnerWebhookSecretRequest, context: Any
    ) -> pb.PartnerWebhook:
        rotated = await self._desk.rotate_secret(current_user(), request.name)
        return partner_webhook_to_proto(rotated, with_secret=True)

    async def ListPartnerWebhookDeliveries(
        self, request: pb.ListPartnerWebhookDeliveriesRequest, context: Any
    ) -> pb.ListPartnerWebhookDeliveriesResponse:
        page = await self._desk.deliveries(
            current_user(), request.parent, request.page_size, request.page_token
        )
        return pb.ListPartnerWebhookDeliveriesResponse(
            deliveries=[delivery_to_proto(d) for d in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )

    async def ReplayPartnerWebhookDelivery(
        self, request: pb.ReplayPartnerWebhookDeliveryRequest, context: Any
    ) -> pb.PartnerWebhookDelivery:
        return delivery_to_proto(await self._desk.replay(current_user(), request.name))
