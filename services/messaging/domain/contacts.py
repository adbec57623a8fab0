"""How a user is reached beyond the app and their mail: the language and zone notices are
written in, the phone number text messages go to, the devices push notifications go to."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from chassis.errors import InvalidArgument
from chassis.validation import Violations, check_timezone

# A push device's resource name: "pushDevices/{id}".
PUSH_DEVICE_PREFIX = "pushDevices/"
# E.164: a plus, a country code (never starting with 0), at most 15 digits in all; 8 at
# least, as no country's full numbers are shorter.
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# Providers' tokens (APNs hex, FCM registration ids, Web Push endpoints) are printable ASCII
# without spaces, well under this.
_DEVICE_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
SETTING_FIELDS = ("locale", "time_zone", "phone_number")


class PushPlatform(StrEnum):
    """Which provider a device's token belongs to."""

    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


@dataclass(frozen=True)
class ContactSettings:
    """A user's language, time zone and phone number; "" where they set none."""

    locale: str = ""
    time_zone: str = ""
    phone_number: str = ""

    def changed(
        self, paths: Sequence[str], values: ContactSettings, locales: Iterable[str]
    ) -> ContactSettings:
        """These settings with the fields `paths` names set from `values`, or one error
        naming every bad field."""
        v = Violations()
        if not paths:
            v.add("update_mask", "must name at least one field", "required")
        for path in paths:
            if path not in SETTING_FIELDS:
                v.add("update_mask", f"{path} is not one of {', '.join(SETTING_FIELDS)}")
        offered = sorted(locales)
        if "locale" in paths and values.locale not in offered:
            v.add("locale", f"must be one of {', '.join(offered)}", "unknown_locale")
        if "time_zone" in paths:
            v.check(lambda: check_timezone(values.time_zone, "time_zone"), "")
        if "phone_number" in paths and values.phone_number:
            v.check(lambda: phone_number_in("phone_number", values.phone_number), "")
        v.raise_if_any()
        return replace(self, **{path: getattr(values, path) for path in paths})


def phone_number_in(field: str, value: str) -> str:
    """An E.164 phone number, e.g. +351912345678, or an error naming the field."""
    if not _E164.fullmatch(value):
        raise InvalidArgument.field(
            field,
            "must be an E.164 number: a plus, the country code and the number, digits only "
            "(e.g. +351912345678)",
            "invalid_phone_number",
        )
    return value


def device_token_in(field: str, value: str) -> str:
    """A provider's device token, or an error naming the field."""
    if not _DEVICE_TOKEN.fullmatch(value):
        raise InvalidArgument.field(
            field, "must be 1 to 4096 printable characters without spaces", "invalid"
        )
    return value


@dataclass(frozen=True)
class PushDevice:
    """A device that receives one user's push notifications."""

    id: str
    user_id: str
    platform: PushPlatform
    token: str
    created_at: datetime
