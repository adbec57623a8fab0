"""Catalog on the wire: its domain events as the messages they are published as, its enums
matched to the protos', and the gateway's OpenAPI bounds equal to the rules the domain
enforces, so a client learns a rule in one round."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from chassis.errors import InvalidArgument
from chassis.wire import instant
from estuary.catalog.v1 import catalog_pb2 as pb
from estuary.catalog.v1 import events_pb2
from gateway.app import create_app
from gateway.schemas import catalog as rest
from gateway.settings import GatewaySettings
from services.catalog.domain import bounds as domain
from services.catalog.domain.discovery import SortOrder
from services.catalog.domain.events import (
    PractitionerApproved,
    PractitionerRejected,
    ServiceArchived,
    ServicePublished,
    ServiceUpdated,
)
from services.catalog.domain.practitioners import LocationKind, Tier
from services.catalog.domain.services import (
    BundleItem,
    DatedSession,
    PackageTerms,
    ServiceKind,
    check_service,
)
from services.catalog.events import event_message
from services.catalog.wire import (
    LOCATION_KINDS,
    PRACTITIONER_STATUSES,
    SERVICE_KINDS,
    SERVICE_STATUSES,
    SORT_ORDERS,
    TIERS,
    service_from_proto,
)
from tests.unit.catalog.test_domain import NOW, STUDIO, context, practitioner, service

# Events ------------------------------------------------------------------------------------


def test_an_approval_is_published_about_the_practitioner():
    event_type, message, subject = event_message(
        PractitionerApproved("p-1", "u-1", "Ana Lima", NOW)
    )
    assert event_type.name == "practitioner.approved" and subject == "practitioners/p-1"
    assert isinstance(message, events_pb2.PractitionerApproved)
    assert (message.practitioner_id, message.user_id, message.display_name) == (
        "p-1",
        "u-1",
        "Ana Lima",
    )
    assert instant(message.approve_time) == NOW


def test_a_rejection_carries_its_reason():
    event_type, message, subject = event_message(PractitionerRejected("p-1", "u-1", "Not yet."))
    assert event_type.name == "practitioner.rejected" and subject == "practitioners/p-1"
    assert isinstance(message, events_pb2.PractitionerRejected) and message.reason == "Not yet."


def test_a_published_or_updated_service_carries_the_terms_booking_needs():
    seller = practitioner()
    part = service(seller)
    offer = service(
        seller,
        ServiceKind.PACKAGE,
        package=PackageTerms(part.id, 5, 90),
        price_minor=15_000,
        location_kind=LocationKind.IN_PERSON,
        location_id=STUDIO.id,
    )
    checked = check_service(offer, context(seller, part))
    for event, name in (
        (ServicePublished(checked, seller.user_id, "Europe/Lisbon"), "service.published"),
        (ServiceUpdated(checked, seller.user_id, "Europe/Lisbon"), "service.updated"),
    ):
        event_type, message, subject = event_message(event)
        assert event_type.name == name and subject == f"services/{checked.id}"
        terms = message.service  # type: ignore[attr-defined]
        assert (terms.service_id, terms.practitioner_id, terms.practitioner_user_id) == (
            checked.id,
            seller.id,
            seller.user_id,
        )
        assert terms.timezone == "Europe/Lisbon" and terms.kind == pb.SERVICE_KIND_PACKAGE
        assert (terms.price.amount_minor, terms.price.currency) == (15_000, "EUR")
        assert terms.location_kind == pb.LOCATION_KIND_IN_PERSON
        assert terms.location_id == STUDIO.id
        assert terms.package.session_service_id == part.id and terms.package.session_count == 5
        assert [(r.hours_before, r.refund_percent) for r in terms.cancellation_policy] == [
            (24, 100),
            (0, 0),
        ]
        assert terms.status == pb.SERVICE_STATUS_ACTIVE


def test_a_workshops_dated_sessions_and_a_bundles_parts_reach_the_terms():
    seller = practitioner()
    start = NOW + timedelta(days=2)
    group = service(
        seller,
        ServiceKind.WORKSHOP,
        max_participants=8,
        sessions=[DatedSession(start, 90)],
    )
    _, message, _ = event_message(ServicePublished(group, seller.user_id, "Europe/Lisbon"))
    terms = message.service  # type: ignore[attr-defined]
    assert [(instant(s.start_time), s.duration_minutes) for s in terms.sessions] == [(start, 90)]
    assert terms.max_participants == 8
    parts = service(seller, ServiceKind.BUNDLE, bundle_items=[BundleItem("s-1", 2)])
    _, message, _ = event_message(ServiceUpdated(parts, seller.user_id, "Europe/Lisbon"))
    assert [(i.service_id, i.quantity) for i in message.service.bundle_items] == [("s-1", 2)]  # type: ignore[attr-defined]


def test_an_archive_names_the_service_and_when():
    event_type, message, subject = event_message(ServiceArchived("s-1", "p-1", NOW))
    assert event_type.name == "service.archived" and subject == "services/s-1"
    assert isinstance(message, events_pb2.ServiceArchived)
    assert message.practitioner_id == "p-1" and instant(message.archive_time) == NOW


def test_an_event_catalog_does_not_publish_is_refused():
    with pytest.raises(TypeError):
        event_message(object())


# Enums -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "proto"),
    [
        (SERVICE_KINDS, pb.ServiceKind),
        (LOCATION_KINDS, pb.LocationKind),
        (PRACTITIONER_STATUSES, pb.PractitionerStatus),
        (SERVICE_STATUSES, pb.ServiceStatus),
        (SORT_ORDERS, pb.SortOrder),
    ],
)
def test_every_proto_value_but_unspecified_has_its_domain_value_and_back(mapping, proto):
    for value in proto.DESCRIPTOR.values:
        member = mapping.from_proto(value.number)
        if value.number == 0:
            assert member is None
            continue
        assert member is not None, value.name
        assert mapping.to_proto(member) == value.number


def test_sort_orders_keep_their_rest_spellings_and_the_protos_names():
    assert SORT_ORDERS.names == (
        "relevance",
        "price_asc",
        "price_desc",
        "rating",
        "distance",
        "newest",
    )
    assert SORT_ORDERS.to_proto(SortOrder.PRICE_ASCENDING) == pb.SORT_ORDER_PRICE_ASCENDING
    assert SORT_ORDERS.from_proto(pb.SORT_ORDER_PRICE_DESCENDING) is SortOrder.PRICE_DESCENDING
    assert rest.sort_to_proto("price_asc") == pb.SORT_ORDER_PRICE_ASCENDING
    assert rest.sort_to_proto(None) == pb.SORT_ORDER_UNSPECIFIED
    assert TIERS.from_proto(TIERS.to_proto(Tier.PREMIUM)) is Tier.PREMIUM


def test_a_create_that_sets_what_the_platform_sets_is_refused_naming_each_field():
    message = pb.Service(id="x", status=pb.SERVICE_STATUS_ARCHIVED)
    message.saving.amount_minor = 1
    with pytest.raises(InvalidArgument) as error:
        service_from_proto(message, creating=True)
    assert [v.field for v in error.value.violations] == ["id", "status", "saving", "kind"]


# One source for each rule's bounds ---------------------------------------------------------


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return create_app(GatewaySettings()).openapi()["components"]["schemas"]


def _bounds(schema: dict[str, Any]) -> tuple[Any, Any]:
    for member in schema.get("anyOf", [schema]):
        if "minimum" in member or "maxItems" in member or "maxLength" in member:
            return (
                member.get("minimum", member.get("minItems", member.get("minLength"))),
                member.get("maximum", member.get("maxItems", member.get("maxLength"))),
            )
    raise AssertionError(f"no bounds in {schema}")


NUMBERS = [
    ("ServiceFields", "duration_minutes", domain.DURATION_MINUTES),
    ("SessionBody", "duration_minutes", domain.DURATION_MINUTES),
    ("ServiceFields", "buffer_before_minutes", domain.BUFFER_MINUTES),
    ("ServiceFields", "buffer_after_minutes", domain.BUFFER_MINUTES),
    ("ServiceFields", "min_notice_minutes", domain.MIN_NOTICE_MINUTES),
    ("ServiceFields", "booking_window_days", domain.BOOKING_WINDOW_DAYS),
    ("ServiceCreate", "booking_window_days", domain.BOOKING_WINDOW_DAYS),
    ("PackageBody", "session_count", domain.PACKAGE_SESSIONS),
    ("PackageBody", "validity_days", domain.PACKAGE_VALIDITY_DAYS),
    ("BundleItemBody", "quantity", domain.BUNDLE_QUANTITY),
    ("RefundRuleBody", "hours_before", domain.HOURS_BEFORE),
    ("RefundRuleBody", "refund_percent", domain.REFUND_PERCENT),
    ("MoneyIn", "amount_minor", domain.PRICE_MINOR),
    ("ApplyBody", "years_experience", domain.YEARS_EXPERIENCE),
    ("CategoryBody", "position", domain.CATEGORY_POSITION),
]
SIZES = [
    ("ServiceFields", "cancellation_policy", domain.REFUND_RULE_COUNT.high),
    ("ServiceFields", "sessions", domain.COURSE_SESSIONS.high),
    ("ServiceFields", "bundle_items", domain.BUNDLE_SIZE.high),
    ("ServiceFields", "title", domain.TITLE_LENGTH.high),
    ("ServiceFields", "description", domain.DESCRIPTION_LENGTH.high),
    ("ApplyBody", "display_name", domain.DISPLAY_NAME_LENGTH.high),
    ("ApplyBody", "bio", domain.BIO_LENGTH.high),
    ("ApplyBody", "languages", domain.LANGUAGE_COUNT.high),
    ("ApplyBody", "locations", domain.LOCATION_COUNT.high),
    ("InPersonLocationIn", "address", domain.ADDRESS_LENGTH.high),
    ("RejectBody", "reason", domain.REASON_LENGTH.high),
    ("CategoryBody", "slug", domain.SLUG_LENGTH.high),
    ("CategoryBody", "name", domain.CATEGORY_NAME_LENGTH.high),
]


@pytest.mark.parametrize(("schema", "field", "bounds"), NUMBERS)
def test_the_openapi_document_states_the_domains_bounds(schemas, schema, field, bounds):
    assert _bounds(schemas[schema]["properties"][field]) == (bounds.low, bounds.high)


@pytest.mark.parametrize(("schema", "field", "most"), SIZES)
def test_the_openapi_document_states_the_domains_lengths_and_sizes(schemas, schema, field, most):
    assert _bounds(schemas[schema]["properties"][field])[1] == most


def test_seats_run_from_a_sessions_one_to_a_groups_most(schemas):
    low, high = _bounds(schemas["ServiceFields"]["properties"]["max_participants"])
    assert (low, high) == (domain.SESSION_SEATS.low, domain.GROUP_SEATS.high)


def _edge_accepts(model: type[BaseModel], body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("minutes", [4, 5, 720, 721])
def test_the_edge_and_the_domain_agree_on_a_sessions_duration(minutes):
    seller = practitioner()
    body = {"kind": "session", "title": "Yoga", "category_id": "c", "duration_minutes": minutes}
    body["price"] = {"amount_minor": 100, "currency": "EUR"}
    at_the_edge = _edge_accepts(rest.ServiceCreate, body)
    try:
        check_service(service(seller, duration_minutes=minutes), context(seller))
        in_the_domain = True
    except InvalidArgument:
        in_the_domain = False
    assert at_the_edge == in_the_domain == (minutes in domain.DURATION_MINUTES)


@pytest.mark.parametrize("count", [1, 2, 100, 101])
def test_the_edge_and_the_domain_agree_on_a_packages_sessions(count):
    seller = practitioner()
    part = service(seller, price_minor=1_000_000)
    body = {"session_service_id": part.id, "session_count": count, "validity_days": 90}
    offer = service(seller, ServiceKind.PACKAGE, package=PackageTerms(part.id, count, 90))
    try:
        check_service(replace(offer, price_minor=1), context(seller, part))
        in_the_domain = True
    except InvalidArgument:
        in_the_domain = False
    assert _edge_accepts(rest.PackageBody, body) == in_the_domain


def test_the_edge_and_the_domain_agree_on_a_dated_sessions_duration():
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for minutes in (4, 5, 720, 721):
        body = {"start_time": start, "duration_minutes": minutes}
        assert _edge_accepts(rest.SessionBody, body) == (minutes in domain.DURATION_MINUTES)


def test_the_gateway_reads_the_rules_bounds_without_loading_handlers_or_sql():
    probe = (
        "import sys, gateway.schemas.catalog; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'services.'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert loaded.stdout.strip() == str(
        [
            "services.catalog",
            "services.catalog.domain",
            "services.catalog.domain.bounds",
            "services.catalog.domain.discovery",
        ]
    )
