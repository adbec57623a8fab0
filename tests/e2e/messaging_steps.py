"""What messaging's end-to-end tests share with the account-status guard."""

from __future__ import annotations

from typing import Any

NOBODYS = "00000000-0000-7000-8000-000000000000"
NOTIFICATIONS = "/api/v1/me/notifications"
PREFERENCES = "/api/v1/me/notification-preferences"
SWITCH_OFF_REMINDERS = {
    "preferences": [{"kind": "booking_reminder", "channel": "email", "enabled": False}]
}

# Every write route messaging serves, with a request that reaches messaging while the
# account is active (the guard in test_account_status.py reads this table); the last is
# answered 404: nobody's notification, the rule behind the door.
MESSAGING_WRITE_ROUTES: dict[tuple[str, str], tuple[Any, int]] = {
    ("PUT", PREFERENCES): (SWITCH_OFF_REMINDERS, 200),
    ("POST", f"{NOTIFICATIONS}/read-all"): (None, 200),
    ("POST", f"{NOTIFICATIONS}/{{notification_id}}/read"): (None, 404),
}
