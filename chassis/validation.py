"""Checking requests field by field, so one answer names every bad field at once."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TypeVar

from chassis.errors import FieldViolation, InvalidArgument

T = TypeVar("T")

# The range of a proto int64, which every integer that reaches a query or a message must fit.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class Violations:
    """Collects what is wrong with a request; raises one InvalidArgument naming all of it."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, message: str, code: str = "invalid") -> None:
        self.items.append(FieldViolation(field, message, code))

    def check(self, check: Callable[[], T], default: T) -> T:
        """Runs a check that raises InvalidArgument; keeps its violations, returns default."""
        try:
            return check()
        except InvalidArgument as error:
            self.items.extend(error.violations)
            return default

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(
                "; ".join(f"{v.field}: {v.message}" for v in self.items[:10]),
                violations=self.items,
            )


@cache
def _timezones() -> frozenset[str]:
    """The zone names of the IANA database, as the pinned tzdata package ships them."""
    # Not zoneinfo.available_timezones(): it adds whatever files the machine's own zoneinfo
    # folder holds, so Debian's "localtime" (this host's zone, whatever that is) would pass
    # on one machine and fail on another. Links such as US/Eastern or Asia/Calcutta stay
    # valid: they are IANA names that resolve to a real zone, and browsers still report some
    # of them. "Factory" is in the database but stands for "no zone configured", not a place.
    names = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return frozenset(names) - {"Factory"}


def check_timezone(value: str, field: str = "timezone", *, required: bool = False) -> str:
    """An IANA time zone name, e.g. Europe/Lisbon."""
    if not value:
        if required:
            raise InvalidArgument.field(field, "is required", "required")
        return value
    if value not in _timezones():
        raise InvalidArgument.field(
            field, "must be an IANA time zone name such as Europe/Lisbon", "invalid_timezone"
        )
    return value
