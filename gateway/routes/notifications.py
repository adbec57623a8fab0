"""Notifications at the edge: the caller's in-app notifications (/api/v1/me/notifications)
and what reaches them on which channel (/api/v1/me/notification-preferences)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from estuary.messaging.v1 import messaging_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import backends, json_response
from gateway.schemas.common import DEFAULT_LIMIT, ID_PATTERN, Cursor, Limit, Page, page_of
from gateway.schemas.messaging import (
    MarkedReadOut,
    NotificationOut,
    NotificationPreferencesBody,
    PreferencesOut,
    UnreadCountOut,
)

router = APIRouter(prefix="/api/v1/me")
NOTIFICATIONS: list[str | Enum] = ["notifications"]
PREFERENCES: list[str | Enum] = ["notification_preferences"]

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
