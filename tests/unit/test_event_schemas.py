"""The event catalog for outside consumers (docs/asyncapi.json) is what the protos generate, and
every event as the envelope really encodes it fits its schemas: headers and data."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from chassis.bus.envelope import encode_event
from suite import asyncapi, contracts
from suite.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / contracts.ASYNCAPI
FIX = "run `make schemas` (or `.venv/bin/estuary schemas`) and commit docs/asyncapi.json"
EVENTS = asyncapi.catalog_events(SERVICES)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.document(SERVICES)


def test_the_committed_event_catalog_is_what_the_protos_generate(document):
    assert COMMITTED.exists(), f"docs/asyncapi.json is missing: {FIX}"
    assert COMMITTED.read_text(encoding="utf-8") == contracts.render(document), (
        f"the events changed: {FIX}"
    )


def test_every_event_the_suite_emits_or_consumes_has_a_channel_a_message_and_operations(
    document,
):
    names = {e.event_type.name for e in EVENTS}
    assert {"user.registered", "service.published", "subscription.tier_changed"} <= names
    assert set(document["channels"]) == names
    assert set(document["components"]["messages"]) == names
    sends = {o["channel"]["$ref"] for o in document["operations"].values() if o["action"] == "send"}
    assert sends == {f"#/channels/{e.event_type.name}" for e in EVENTS if e.emitted}
    receives = {k for k, o in document["operations"].items() if o["action"] == "receive"}
    assert "user.deleted.receive.catalog.account-status" in receives
    # Descriptions come from the protos' comments.
    schemas = document["components"]["schemas"]
    assert (
        schemas["estuary.chassis.v1.StaffActionRecorded"]["properties"]["service"]["description"]
        == 'The service the action was taken in, e.g. "catalog".'
    )


# Real events against their schemas --------------------------------------------------------


def filled(message: Message, depth: int = 0) -> Message:
    """The message with every field set to a value unlike its default, nested ones too."""
    for field in message.DESCRIPTOR.fields:
        name = field.name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            continue  # none of the events has a map yet
        if field.message_type is not None:
            full = field.message_type.full_name
            if field.is_repeated:
                items = [getattr(message, name).add() for _ in range(2)]
            else:
                items = [getattr(message, name)]
            for item in items:
                if full == "google.protobuf.Timestamp":
                    item.FromDatetime(datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC))
                elif full == "google.protobuf.Struct":
                    item.update({"status": "active", "count": 3, "tags": ["a", "b"]})
                elif depth < 4:
                    filled(item, depth + 1)
            continue
        value = _scalar(field)
        if field.is_repeated:
            getattr(message, name).extend([value, value])
        else:
            setattr(message, name, value)
    return message


def _scalar(field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    if field.type == FieldDescriptor.TYPE_STRING:
        return "0193b0a4-6f1d-7aa0-8e2b-5c9d0f4e7a11"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type == FieldDescriptor.TYPE_BYTES:
        return b"\x00\x01"
    if field.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return 1.5
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
        return 2**40 + 7  # past what a double holds exactly: why proto3 JSON writes a string
    return 7


def strict(node: Any) -> Any:
    """The schema with no property left unnamed: a field the envelope writes under another
    name than the schema's would pass the published (open) schema unnoticed."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    tightened = {k: strict(v) for k, v in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        tightened["additionalProperties"] = False
    return tightened


def misfits(document: dict[str, Any]) -> list[str]:
    """Sample events, encoded as the envelope encodes them, that their schemas refuse."""
    found = []
    components = strict(document["components"])
    for event in EVENTS:
        event_type = event.event_type
        message = components["messages"].get(event_type.name)
        if message is None:
            found.append(f"{event_type.name}: no message in the document")
            continue
        for sample in (filled(event_type.message()), event_type.message()):
            encoded = encode_event(
                event_type,
                sample,
                event_id="0193b0a4-6f1e-7c2a-9d41-2f7e8a1c3b55",
                source=f"/estuary/{event_type.producer}",
                subject="things/0193b0a4",
                time=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
            )
            assert encoded.content_type == message["contentType"]
            for part, value in (
                ("headers", encoded.headers),
                ("payload", json.loads(encoded.body)),
            ):
                validator = jsonschema_rs.Draft7Validator(
                    {**message[part], "components": components}, validate_formats=True
                )
                found += [
                    f"{event_type.name} {part}: {e.message}" for e in validator.iter_errors(value)
                ]
    return found


def test_every_event_as_encoded_fits_its_published_schemas(document):
    assert misfits(document) == []


def test_the_schema_check_catches_a_wrong_type_and_a_misnamed_field(document):
    broken = copy.deepcopy(document)
    money = broken["components"]["schemas"]["estuary.type.v1.Money"]["properties"]
    money["amount_minor"] = {"type": "integer"}  # proto3 JSON writes int64 as a string
    registered = broken["components"]["schemas"]["estuary.identity.v1.UserRegistered"]
    registered["properties"]["name"] = registered["properties"].pop("full_name")
    found = misfits(broken)
    assert any(f.startswith("service.published payload: ") and "integer" in f for f in found)
    assert any(f.startswith("user.registered payload: ") and "full_name" in f for f in found)
