"""What messaging's end-to-end tests share with the account-status guard."""

from __future__ import annotations

from typing import Any

NOBODYS = "00000000-0000-7000-8000-000000000000"
NOTIFICATIONS = "/api/v1/me/notifications"
PREFERENCES = "/api/v1/me/notification-preferences"
SETTINGS = "/api/v1/me/notification-settings"
PUSH_DEVICES = "/api/v1/me/push-devices"
SWITCH_OFF_REMINDERS = {
    "preferences": [{"kind": "booking_reminder", "channel": "email", "enabled": False}]
}

CONVERSATIONS = "/api/v1/conversations"
BLOCKS = "/api/v1/me/blocks"

# Every write route messaging serves, with a request that reaches messaging while the
# account is active (the guard in test_account_status.py reads this table): the answer's
# status and problem code. Paths name nobody's notification, conversation or user, so
# some are answered by the rule behind the door (404, or 403 for a stranger).
MESSAGING_WRITE_ROUTES: dict[tuple[str, str], tuple[Any, int, str | None]] = {
    ("PUT", PREFERENCES): (SWITCH_OFF_REMINDERS, 200, None),
    ("PATCH", SETTINGS): ({"locale": "es"}, 200, None),
    ("POST", PUSH_DEVICES): ({"platform": "web", "token": "e2e-device"}, 201, None),
    ("DELETE", f"{PUSH_DEVICES}/{{device_id}}"): (None, 404, "PUSH_DEVICE_NOT_FOUND"),
    ("POST", f"{NOTIFICATIONS}/read-all"): (None, 200, None),
    ("POST", f"{NOTIFICATIONS}/{{notification_id}}/read"): (None, 404, "NOTIFICATION_NOT_FOUND"),
    ("POST", CONVERSATIONS): (
        {"participant_user_id": NOBODYS},
        403,
        "NOT_A_PRACTITIONER_OR_CLIENT",
    ),
    ("POST", f"{CONVERSATIONS}/{{conversation_id}}/messages"): (
        {"text": "Hello"},
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("POST", f"{CONVERSATIONS}/{{conversation_id}}/attachments"): (
        {"content_type": "image/png"},
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("POST", f"{CONVERSATIONS}/{{conversation_id}}/read"): (None, 404, "CONVERSATION_NOT_FOUND"),
    ("PATCH", f"{CONVERSATIONS}/{{conversation_id}}/messages/{{message_id}}"): (
        {"text": "Hello"},
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("DELETE", f"{CONVERSATIONS}/{{conversation_id}}/messages/{{message_id}}"): (
        None,
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("PUT", f"{CONVERSATIONS}/{{conversation_id}}/archive"): (None, 404, "CONVERSATION_NOT_FOUND"),
    ("DELETE", f"{CONVERSATIONS}/{{conversation_id}}/archive"): (
        None,
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("POST", f"{CONVERSATIONS}/groups"): (
        {"title": "Yoga", "participant_user_ids": [NOBODYS]},
        403,
        "NOT_A_PRACTITIONER_OR_CLIENT",
    ),
    ("PATCH", f"{CONVERSATIONS}/{{conversation_id}}"): (
        {"title": "Yoga"},
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("POST", f"{CONVERSATIONS}/{{conversation_id}}/participants"): (
        {"user_id": NOBODYS},
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("DELETE", f"{CONVERSATIONS}/{{conversation_id}}/participants/{{user_id}}"): (
        None,
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("POST", f"{CONVERSATIONS}/{{conversation_id}}/messages/{{message_id}}/report"): (
        {"reason": "Spam"},
        404,
        "CONVERSATION_NOT_FOUND",
    ),
    ("PUT", f"{BLOCKS}/{{user_id}}"): (None, 204, None),
    ("DELETE", f"{BLOCKS}/{{user_id}}"): (None, 204, None),
}


def nobodys(path: str) -> str:
    """A table's path with nobody's ids in it."""
    return path.format(
        notification_id=NOBODYS,
        conversation_id=NOBODYS,
        message_id=NOBODYS,
        user_id=NOBODYS,
        device_id=NOBODYS,
    )
