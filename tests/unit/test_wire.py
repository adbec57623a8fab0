"""The wire kit: enums matched to their proto by name, structs, instants, pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import get_args

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from chassis.pagination import KeyPart, page_request
from chassis.wire import ProtoEnum, ProtoNames, from_struct, instant, struct, timestamp
from estuary.catalog.v1 import catalog_pb2 as pb


class Kind(StrEnum):
    SESSION = "session"
    IN_PERSON_RETREAT = "in_person_retreat"


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"


def test_a_domain_enum_maps_to_its_proto_values_by_name_both_ways():
    statuses = ProtoEnum(pb.PractitionerStatus, Status)
    assert statuses.to_proto(Status.APPROVED) == pb.PRACTITIONER_STATUS_APPROVED
    assert statuses.from_proto(pb.PRACTITIONER_STATUS_PENDING) is Status.PENDING
    # Unspecified, and proto values the domain does not have, are no value at all.
    assert statuses.from_proto(pb.PRACTITIONER_STATUS_UNSPECIFIED) is None
    assert statuses.from_proto(pb.PRACTITIONER_STATUS_REJECTED) is None
    assert statuses.names == ("pending", "approved")


def test_a_domain_value_without_a_proto_value_fails_when_the_mapping_is_made():
    with pytest.raises(ValueError, match="SERVICE_KIND_IN_PERSON_RETREAT"):
        ProtoEnum(pb.ServiceKind, Kind)


def test_an_edge_reads_a_proto_enums_names_from_its_descriptor_alone():
    statuses = ProtoNames(pb.PractitionerStatus)
    assert statuses.names == ("pending", "approved", "rejected")
    assert statuses.to_proto("rejected") == pb.PRACTITIONER_STATUS_REJECTED
    assert statuses.from_proto(pb.PRACTITIONER_STATUS_APPROVED) == "approved"
    assert statuses.from_proto(pb.PRACTITIONER_STATUS_UNSPECIFIED) is None
    assert statuses.from_proto(99) is None
    assert get_args(statuses.literal) == statuses.names
    kinds = ProtoNames(pb.LocationKind)
    assert kinds.to_proto("in_person") == pb.LOCATION_KIND_IN_PERSON


def test_an_enum_whose_values_lack_the_prefix_is_refused():
    with pytest.raises(ValueError, match="lacks the prefix"):
        ProtoNames(pb.PractitionerStatus, prefix="STATUS_")


def test_structs_and_instants_round_trip():
    values = {"status": "active", "roles": ["client", "staff"], "nested": {"n": 2.0}}
    assert from_struct(struct(values)) == values
    moment = datetime(2026, 11, 30, 10, 0, 1, 250_000, tzinfo=UTC)
    assert instant(timestamp(moment)) == moment


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 30, 10, 0, 1, 250_000, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 29, 2, 30, 0, 7, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2026, 11, 30, 10, 0, 1, 250_000),
    ],
)
def test_a_timestamp_is_the_one_protobuf_makes_of_the_instant(moment):
    expected = Timestamp()
    expected.FromDatetime(moment)
    assert timestamp(moment) == expected


def test_a_page_holds_at_most_its_size_and_a_token_only_when_more_follow():
    request = page_request(2, "", query={"q": 1}, key=(KeyPart.ID,))
    ids = ["01a22bf9-1ed4-7cde-90c1-75ff5766cd0" + str(n) for n in range(3)]
    page = request.page(ids[: request.fetch], 3, lambda item: [item])
    assert page.items == ids[:2]
    following = page_request(2, page.next_page_token, query={"q": 1}, key=(KeyPart.ID,))
    assert following.after == (ids[1],)
    last = following.page(ids[2:], 3, lambda item: [item])
    assert (last.items, last.next_page_token) == ([ids[2]], "")
