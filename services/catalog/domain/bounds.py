"""Each rule's numbers, stated once: the domain's checks enforce them and the gateway's
OpenAPI document states them (gateway/schemas/catalog.py), so a client learns a rule in one
round, not a 422 and then a 400."""

from __future__ import annotations

from dataclasses import dataclass

from chassis.validation import Violations


@dataclass(frozen=True)
class Bounds:
    """The inclusive range a number (or a text's length, or a list's size) must lie in."""

    low: int
    high: int

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high

    def check(self, v: Violations, field_name: str, value: int) -> None:
        if value not in self:
            v.add(field_name, f"must be between {self.low} and {self.high}", "out_of_range")


MAX_LIST_ITEMS = 20
MAX_PRICE_MINOR = 100_000_000_00  # a hundred million in major units: beyond any wellness price

DISPLAY_NAME_LENGTH = Bounds(2, 100)
BIO_LENGTH = Bounds(0, 5000)
SPECIALIZATION_LENGTH = Bounds(1, 60)
CERTIFICATION_LENGTH = Bounds(1, 200)
YEARS_EXPERIENCE = Bounds(0, 80)
LANGUAGE_COUNT = Bounds(1, 10)
LOCATION_COUNT = Bounds(1, MAX_LIST_ITEMS)
LABEL_LENGTH = Bounds(0, 100)
ADDRESS_LENGTH = Bounds(1, 300)
CITY_LENGTH = Bounds(1, 100)
LATITUDE = Bounds(-90, 90)
LONGITUDE = Bounds(-180, 180)
REASON_LENGTH = Bounds(1, 500)

SLUG_LENGTH = Bounds(1, 80)
CATEGORY_NAME_LENGTH = Bounds(1, 100)
CATEGORY_DESCRIPTION_LENGTH = Bounds(0, 1000)
CATEGORY_POSITION = Bounds(0, 10_000)

TITLE_LENGTH = Bounds(3, 200)
DESCRIPTION_LENGTH = Bounds(0, 5000)
PRICE_MINOR = Bounds(0, MAX_PRICE_MINOR)
DURATION_MINUTES = Bounds(5, 720)
# A session seats one (0 reads as 1); workshops and courses seat a group.
SESSION_SEATS = Bounds(0, 1)
GROUP_SEATS = Bounds(2, 1000)
BUFFER_MINUTES = Bounds(0, 240)
MIN_NOTICE_MINUTES = Bounds(0, 30 * 24 * 60)
BOOKING_WINDOW_DAYS = Bounds(1, 730)
REFUND_RULE_COUNT = Bounds(0, 10)
HOURS_BEFORE = Bounds(0, 8760)
REFUND_PERCENT = Bounds(0, 100)
WORKSHOP_SESSIONS = Bounds(1, 100)
COURSE_SESSIONS = Bounds(2, 100)
PACKAGE_SESSIONS = Bounds(2, 100)
PACKAGE_VALIDITY_DAYS = Bounds(1, 730)
BUNDLE_SIZE = Bounds(2, MAX_LIST_ITEMS)
BUNDLE_QUANTITY = Bounds(1, 20)

SEARCH_TEXT_LENGTH = Bounds(0, 200)
RATING = Bounds(0, 5)
# A review's stars, its text and the practitioner's reply.
STARS = Bounds(1, 5)
REVIEW_TEXT_LENGTH = Bounds(1, 2000)
REPLY_TEXT_LENGTH = Bounds(1, 2000)
# Up to half the earth's circumference: any place on it; a radius must be above 0.
MAX_RADIUS_KM = 20_000
BATCH_IDS = Bounds(0, 1000)
