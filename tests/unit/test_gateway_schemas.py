"""The gateway builds catalog listings without validating them: what it builds must validate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.type.v1 import money_pb2
from gateway.schemas.catalog import ReviewOut, ServiceOut


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _bundle_in_person() -> pb.Service:
    return pb.Service(
        id="0193a1c2-0000-7000-8000-000000000001",
        practitioner_id="0193a1c2-0000-7000-8000-000000000002",
        kind=pb.SERVICE_KIND_BUNDLE,
        title="Breath and body",
        description="Two sessions, bought together.",
        category_id="0193a1c2-0000-7000-8000-000000000003",
        price=money_pb2.Money(amount_minor=9000, currency="EUR"),
        duration_minutes=120,
        location=pb.ServiceLocation(
            kind=pb.LOCATION_KIND_IN_PERSON, location_id="0193a1c2-0000-7000-8000-000000000004"
        ),
        max_participants=1,
        buffer_before_minutes=10,
        buffer_after_minutes=5,
        min_notice_minutes=120,
        booking_window_days=60,
        cancellation_policy=[pb.RefundRule(hours_before=24, refund_percent=100)],
        bundle_items=[
            pb.BundleItem(service_id="0193a1c2-0000-7000-8000-000000000005", quantity=1),
            pb.BundleItem(service_id="0193a1c2-0000-7000-8000-000000000006", quantity=2),
        ],
        saving=money_pb2.Money(amount_minor=1500, currency="EUR"),
        status=pb.SERVICE_STATUS_ACTIVE,
        create_time=_stamp(datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        update_time=_stamp(datetime(2026, 11, 2, 9, 30, tzinfo=UTC)),
        practitioner=pb.PractitionerSummary(
            id="0193a1c2-0000-7000-8000-000000000002",
            display_name="Ana Sousa",
            rating_average=4.75,
            rating_count=12,
            featured=True,
        ),
        place=pb.Location(
            id="0193a1c2-0000-7000-8000-000000000004",
            kind=pb.LOCATION_KIND_IN_PERSON,
            label="Studio",
            address="Rua Augusta 1",
            city="Lisbon",
            country="PT",
            lat=38.7,
            lng=-9.1,
        ),
        distance_km=3.25,
        rating_average=4.67,
        rating_count=3,
    )


def _workshop_virtual() -> pb.Service:
    return pb.Service(
        id="0193a1c2-0000-7000-8000-000000000011",
        practitioner_id="0193a1c2-0000-7000-8000-000000000012",
        kind=pb.SERVICE_KIND_WORKSHOP,
        title="Sound bath",
        price=money_pb2.Money(amount_minor=2500, currency="EUR"),
        duration_minutes=90,
        location=pb.ServiceLocation(kind=pb.LOCATION_KIND_VIRTUAL),
        max_participants=12,
        sessions=[
            pb.ServiceSession(
                start_time=_stamp(datetime(2026, 12, 5, 18, 0, tzinfo=UTC)), duration_minutes=90
            )
        ],
        status=pb.SERVICE_STATUS_ARCHIVED,
        create_time=_stamp(datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        update_time=_stamp(datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        practitioner=pb.PractitionerSummary(id="0193a1c2-0000-7000-8000-000000000012"),
    )


def _package() -> pb.Service:
    service = _workshop_virtual()
    service.kind = pb.SERVICE_KIND_PACKAGE
    del service.sessions[:]
    service.package.CopyFrom(
        pb.PackageTerms(
            session_service_id="0193a1c2-0000-7000-8000-000000000013",
            session_count=5,
            validity_days=90,
        )
    )
    return service


@pytest.mark.parametrize("message", [_bundle_in_person(), _workshop_virtual(), _package()])
def test_a_listing_built_from_the_catalogs_answer_validates_as_its_own_schema(
    message: pb.Service,
) -> None:
    built = ServiceOut.from_proto(message)
    validated = ServiceOut.model_validate_json(built.model_dump_json())
    assert validated == built
    assert validated.model_dump(mode="json") == built.model_dump(mode="json")


def test_a_listing_carries_every_part_of_the_catalogs_answer() -> None:
    built = ServiceOut.from_proto(_bundle_in_person()).model_dump(mode="json")
    assert built["kind"] == "bundle" and built["status"] == "active"
    assert built["price"] == {"amount_minor": 9000, "currency": "EUR"}
    assert built["saving"] == {"amount_minor": 1500, "currency": "EUR"}
    assert built["bundle_items"][1] == {
        "service_id": "0193a1c2-0000-7000-8000-000000000006",
        "quantity": 2,
    }
    assert built["place"]["city"] == "Lisbon" and built["place"]["lat"] == 38.7
    assert built["distance_km"] == 3.25
    # The service's own rating, beside its practitioner's over all their services.
    assert (built["rating_average"], built["rating_count"]) == (4.67, 3)
    assert (built["practitioner"]["rating_average"], built["practitioner"]["rating_count"]) == (
        4.75,
        12,
    )
    assert built["created_at"] == "2026-11-01T09:30:00Z"
    virtual = ServiceOut.from_proto(_workshop_virtual()).model_dump(mode="json")
    assert virtual["location"] == {"kind": "virtual", "location_id": None}
    assert virtual["place"] is None and virtual["saving"] is None
    assert virtual["distance_km"] is None and virtual["status"] == "archived"
    assert virtual["sessions"] == [{"start_time": "2026-12-05T18:00:00Z", "duration_minutes": 90}]


def test_a_review_shows_its_reply_and_leaves_out_whose_it_is_unless_told() -> None:
    review = pb.Review(
        id="0193a1c2-0000-7000-8000-000000000021",
        service_id="0193a1c2-0000-7000-8000-000000000001",
        service_title="Breath and body",
        practitioner_id="0193a1c2-0000-7000-8000-000000000002",
        rating=4,
        text="Kind and clear.",
        reply=pb.ReviewReply(
            text="Thank you!", create_time=_stamp(datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
        ),
        create_time=_stamp(datetime(2026, 11, 2, 9, 0, tzinfo=UTC)),
    )
    public = ReviewOut.from_proto(review).model_dump(mode="json")
    assert public["reply"] == {"text": "Thank you!", "created_at": "2026-11-03T09:00:00Z"}
    assert public["booking_id"] is None and public["client_id"] is None
    assert not public["hidden"] and not public["author_erased"]
    review.booking_id, review.client_id = "b", "c"
    review.ClearField("reply")
    full = ReviewOut.from_proto(review).model_dump(mode="json")
    assert (full["booking_id"], full["client_id"], full["reply"]) == ("b", "c", None)
