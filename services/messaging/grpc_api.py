"""Messaging's gRPC servicer: proto messages in and out, nothing else."""

from __future__ import annotations

from typing import Any

from chassis.context import current_user
from chassis.wire import ProtoEnum, timestamp
from estuary.messaging.v1 import messaging_pb2 as pb
from estuary.messaging.v1 import messaging_pb2_grpc
from services.messaging.conversations import CONVERSATION_PREFIX, ConversationDesk
from services.messaging.domain.conversations import Conversation, Message, MessageReport
from services.messaging.domain.notifications import Channel, Kind, Notification, Preference
from services.messaging.service_layer import NOTIFICATION_PREFIX, NotificationDesk

KINDS = ProtoEnum(pb.NotificationKind, Kind)
CHANNELS = ProtoEnum(pb.Channel, Channel)


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


def message_to_proto(message: Message) -> pb.Message:
    conversation = f"{CONVERSATION_PREFIX}{message.conversation_id}"
    return pb.Message(
        name=f"{conversation}/messages/{message.id}",
        sender_user_id=message.sender_id,
        text=message.text,
        reply_to=f"{conversation}/messages/{message.reply_to_id}" if message.reply_to_id else "",
        create_time=timestamp(message.created_at),
        sender_erased=message.sender_erased,
    )


def conversation_to_proto(conversation: Conversation) -> pb.Conversation:
    found = pb.Conversation(
        name=f"{CONVERSATION_PREFIX}{conversation.id}",
        participant_user_ids=list(conversation.participant_ids),
        unread_count=conversation.unread,
        create_time=timestamp(conversation.created_at),
        update_time=timestamp(conversation.updated_at),
    )
    if conversation.last_message is not None:
        found.last_message.CopyFrom(message_to_proto(conversation.last_message))
    for user_id, message_id in conversation.read_up_to.items():
        found.read_receipts.add(
            user_id=user_id,
            last_read_message=f"{found.name}/messages/{message_id}" if message_id else "",
        )
    return found


class ConversationServicer(messaging_pb2_grpc.ConversationServiceServicer):
    def __init__(self, desk: ConversationDesk) -> None:
        self._desk = desk

    async def CreateConversation(
        self, request: pb.CreateConversationRequest, context: Any
    ) -> pb.Conversation:
        found = await self._desk.start(current_user(), request.participant_user_id)
        return conversation_to_proto(found)

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Any
    ) -> pb.Conversation:
        return conversation_to_proto(await self._desk.get(current_user(), request.name))

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Any
    ) -> pb.ListConversationsResponse:
        found = await self._desk.page(current_user(), request.page_size, request.page_token)
        return pb.ListConversationsResponse(
            conversations=[conversation_to_proto(c) for c in found.page.items],
            next_page_token=found.page.next_page_token,
            total_size=found.page.total,
            total_unread_count=found.unread,
        )

    async def SendMessage(self, request: pb.SendMessageRequest, context: Any) -> pb.Message:
        sent = await self._desk.send(
            current_user(), request.conversation, request.text, request.reply_to
        )
        return message_to_proto(sent)

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

    async def ListMessageReports(
        self, request: pb.ListMessageReportsRequest, context: Any
    ) -> pb.ListMessageReportsResponse:
        page = await self._desk.reports(current_user(), request.page_size, request.page_token)
        return pb.ListMessageReportsResponse(
            reports=[report_to_proto(r) for r in page.items],
            next_page_token=page.next_page_token,
            total_size=page.total,
        )


def report_to_proto(report: MessageReport) -> pb.MessageReport:
    return pb.MessageReport(
        name=f"messageReports/{report.id}",
        message=message_to_proto(report.message),
        reporter_user_id=report.reporter_id,
        reason=report.reason,
        create_time=timestamp(report.created_at),
    )
