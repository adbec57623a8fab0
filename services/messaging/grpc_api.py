"""Messaging's gRPC servicer: proto messages in and out, nothing else."""

from __future__ import annotations

from typing import Any

from chassis.context import current_user
from chassis.wire import ProtoEnum, timestamp
from estuary.messaging.v1 import messaging_pb2 as pb
from estuary.messaging.v1 import messaging_pb2_grpc
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
