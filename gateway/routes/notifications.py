"""Notifications at the edge: the caller's in-app notifications (/api/v1/me/notifications),
what reaches them on which channel (/api/v1/me/notification-preferences), in which language
and zone and at which phone number (/api/v1/me/notification-settings), and the devices
their push notifications go to (/api/v1/me/push-devices)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Path, Query
from starlette.responses import Response

from estuary.messaging.v1 import messaging_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, backends, json_response
from gateway.schemas.common import DEFAULT_LIMIT, ID_PATTERN, Cursor, Limit, Page, page_of
from gateway.schemas.messaging import (
    MarkedReadOut,
    NotificationOut,
    NotificationPreferencesBody,
    NotificationSettingsOut,
    NotificationSettingsPatch,
    PreferencesOut,
    PushDeviceBody,
    PushDeviceOut,
    PushDevicesOut,
    UnreadCountOut,
)

router = GatewayRouter(prefix="/api/v1/me")
NOTIFICATIONS: list[str | Enum] = ["notifications"]
PREFERENCES: list[str | Enum] = ["notification_preferences"]
SETTINGS: list[str | Enum] = ["notification_settings"]
DEVICES: list[str | Enum] = ["push_devices"]

Id = Annotated[str, Path(pattern=ID_PATTERN)]
UnreadOnly = Annotated[bool, Query(description="Only the unread ones.")]


@router.get(
    "/notifications",
    operation_id="notifications.list",
    tags=NOTIFICATIONS,
    response_model=Page[NotificationOut],
)
async def list_notifications(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    unread: UnreadOnly = False,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The caller's in-app notifications, newest first."""
    found = await api.notifications.ListNotifications(
        pb.ListNotificationsRequest(page_size=limit, page_token=cursor or "", unread_only=unread),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [NotificationOut.from_proto(n) for n in found.notifications],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/notifications/unread-count",
    operation_id="notifications.unread_count",
    tags=NOTIFICATIONS,
    response_model=UnreadCountOut,
)
async def unread_count(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """How many of the caller's notifications are unread."""
    found = await api.notifications.GetUnreadCount(
        pb.GetUnreadCountRequest(), metadata=caller.metadata()
    )
    return json_response(UnreadCountOut(unread=found.unread_count))


@router.post(
    "/notifications/{notification_id}/read",
    operation_id="notifications.mark_read",
    tags=NOTIFICATIONS,
    response_model=NotificationOut,
    responses=responses(404),
)
async def mark_read(
    notification_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Marks one of the caller's notifications read (again: no change); another's is 404."""
    found = await api.notifications.MarkNotificationRead(
        pb.MarkNotificationReadRequest(name=f"notifications/{notification_id}"),
        metadata=caller.metadata(),
    )
    return json_response(NotificationOut.from_proto(found))


@router.post(
    "/notifications/read-all",
    operation_id="notifications.mark_all_read",
    tags=NOTIFICATIONS,
    response_model=MarkedReadOut,
)
async def mark_all_read(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Marks every unread notification of the caller read."""
    done = await api.notifications.MarkAllNotificationsRead(
        pb.MarkAllNotificationsReadRequest(), metadata=caller.metadata()
    )
    return json_response(MarkedReadOut(marked=done.marked_count))


@router.get(
    "/notification-preferences",
    operation_id="notification_preferences.get",
    tags=PREFERENCES,
    response_model=PreferencesOut,
)
async def get_preferences(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Every kind of notification and channel the caller can receive, with its setting:
    on unless switched off; verification and reset mail are required."""
    found = await api.notifications.GetNotificationPreferences(
        pb.GetNotificationPreferencesRequest(), metadata=caller.metadata()
    )
    return json_response(PreferencesOut.from_proto(found))


@router.put(
    "/notification-preferences",
    operation_id="notification_preferences.put",
    tags=PREFERENCES,
    response_model=PreferencesOut,
    responses=responses(400),
)
async def put_preferences(
    body: NotificationPreferencesBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Switches the listed kinds on or off per channel; the others keep their setting. A
    kind not sent on a channel, a pair listed twice or a required mail switched off is a
    400 naming the entry, and nothing changes."""
    found = await api.notifications.UpdateNotificationPreferences(
        body.to_proto(), metadata=caller.metadata()
    )
    return json_response(PreferencesOut.from_proto(found))


@router.get(
    "/notification-settings",
    operation_id="notification_settings.get",
    tags=SETTINGS,
    response_model=NotificationSettingsOut,
)
async def get_settings(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The caller's language, time zone and phone number for notifications."""
    found = await api.notifications.GetNotificationSettings(
        pb.GetNotificationSettingsRequest(), metadata=caller.metadata()
    )
    return json_response(NotificationSettingsOut.from_proto(found))


@router.patch(
    "/notification-settings",
    operation_id="notification_settings.update",
    tags=SETTINGS,
    response_model=NotificationSettingsOut,
    responses=responses(400),
)
async def update_settings(
    body: NotificationSettingsPatch,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Sets the fields given: a language with templates, an IANA time zone, an E.164 phone
    number ("" removes it); a bad value is a 400 naming it, and nothing changes."""
    found = await api.notifications.UpdateNotificationSettings(
        body.to_proto(), metadata=caller.metadata()
    )
    return json_response(NotificationSettingsOut.from_proto(found))


@router.get(
    "/push-devices",
    operation_id="push_devices.list",
    tags=DEVICES,
    response_model=PushDevicesOut,
)
async def list_push_devices(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """The caller's devices that receive push notifications, newest first (all of them: a
    user has a bounded number)."""
    found = await api.notifications.ListPushDevices(
        pb.ListPushDevicesRequest(), metadata=caller.metadata()
    )
    return json_response(PushDevicesOut.from_proto(found))


@router.post(
    "/push-devices",
    operation_id="push_devices.create",
    tags=DEVICES,
    status_code=201,
    response_model=PushDeviceOut,
    responses=responses(400, 409),
)
async def register_push_device(
    body: PushDeviceBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Registers a device for the caller's push notifications; the same token again is the
    same device. Past the bound of devices per user it is a 409: unregister one first."""
    device = await api.notifications.RegisterPushDevice(body.to_proto(), metadata=caller.metadata())
    return json_response(PushDeviceOut.from_proto(device), status_code=201)


@router.delete(
    "/push-devices/{device_id}",
    operation_id="push_devices.delete",
    tags=DEVICES,
    status_code=204,
    responses=responses(404),
)
async def unregister_push_device(
    device_id: Id, caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Stops pushing to one of the caller's devices; another's is 404."""
    await api.notifications.UnregisterPushDevice(
        pb.UnregisterPushDeviceRequest(name=f"pushDevices/{device_id}"),
        metadata=caller.metadata(),
    )
    return Response(status_code=204)
