"""The one wire kit: conversions between domain values and their proto forms.

Timestamps, structs and enums here; money in chassis/money.py; pages in chassis/pagination.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from google.protobuf import json_format, struct_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> Timestamp:
    """A UTC instant as a protobuf Timestamp (a naive datetime read as UTC, as protobuf does)."""
    # Integer arithmetic on the offset from the epoch: Timestamp.FromDatetime goes through a
    # time tuple and calendar.timegm, three times slower, and a page of listings makes dozens.
    since = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def instant(stamp: Timestamp) -> datetime:
    """A protobuf Timestamp as an aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


def optional_instant(stamp: Timestamp, present: bool) -> datetime | None:
    """A Timestamp field as an instant, or None where the message leaves it unset."""
    return instant(stamp) if present else None


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    """A JSON-like mapping as a protobuf Struct."""
    found = struct_pb2.Struct()
    found.update(dict(values))
    return found


def from_struct(found: struct_pb2.Struct) -> dict[str, Any]:
    """A protobuf Struct as a plain dict (numbers come back as floats, as JSON has them)."""
    return json_format.MessageToDict(found)


E = TypeVar("E", bound=StrEnum)


class ProtoEnum(Generic[E]):
    """A domain enum and its proto enum, matched by name, read from the proto's descriptor.

    PractitionerStatus.APPROVED ("approved") is the proto's PRACTITIONER_STATUS_APPROVED:
    the proto's values are the enum's name in upper snake case as a prefix, then the domain
    value in upper case. Every domain value must have its proto value (checked when the
    mapping is made, so a value added on one side only fails at import, not in a request);
    the proto's *_UNSPECIFIED and values the domain does not know read as None.

    An enum whose values clients spell otherwise than the proto (SortOrder.PRICE_ASCENDING
    is "price_asc" in REST, SORT_ORDER_PRICE_ASCENDING in the proto) is matched by its
    members' names instead: by_member_name=True.
    """

    def __init__(
        self,
        proto: EnumTypeWrapper,
        domain: type[E],
        *,
        prefix: str = "",
        by_member_name: bool = False,
    ) -> None:
        descriptor = proto.DESCRIPTOR
        prefix = prefix or _upper_snake(descriptor.name) + "_"
        numbers = {value.name: value.number for value in descriptor.values}
        self.domain = domain
        self._to_proto: dict[E, int] = {}
        for member in domain:
            name = prefix + (member.name if by_member_name else member.value.upper())
            if name not in numbers:
                raise ValueError(f"{descriptor.full_name} has no {name} for {member!r}")
            self._to_proto[member] = numbers[name]
        self._from_proto = {number: member for member, number in self._to_proto.items()}

    def to_proto(self, value: E) -> int:
        return self._to_proto[value]

    def from_proto(self, number: int) -> E | None:
        """The domain value, or None for *_UNSPECIFIED and values the domain lacks."""
        return self._from_proto.get(number)

    @property
    def names(self) -> tuple[str, ...]:
        """The domain values, as clients write them (e.g. in REST)."""
        return tuple(member.value for member in self.domain)


class ProtoNames:
    """A proto enum as clients write it, read from its descriptor alone, for an edge that
    knows no domain enum (the gateway): ROLE_STAFF is "staff" (the value's name without the
    enum's prefix, in lower case); *_UNSPECIFIED is no name at all.
    """

    def __init__(self, proto: EnumTypeWrapper, *, prefix: str = "") -> None:
        descriptor = proto.DESCRIPTOR
        prefix = prefix or _upper_snake(descriptor.name) + "_"
        self._to_proto: dict[str, int] = {}
        for value in descriptor.values:
            if not value.name.startswith(prefix):
                raise ValueError(f"{descriptor.full_name}'s {value.name} lacks the prefix {prefix}")
            if value.name != prefix + "UNSPECIFIED":
                self._to_proto[value.name.removeprefix(prefix).lower()] = value.number
        self._from_proto = {number: name for name, number in self._to_proto.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """The names, in the proto's order."""
        return tuple(self._to_proto)

    @property
    def literal(self) -> Any:
        """The names as a Literal type, for request and response models (and their schema)."""
        return Literal[self.names]

    def to_proto(self, name: str) -> int:
        return self._to_proto[name]

    def from_proto(self, number: int) -> str | None:
        """The name, or None for *_UNSPECIFIED and numbers the descriptor lacks."""
        return self._from_proto.get(number)


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()
