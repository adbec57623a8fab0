"""Every integer in the OpenAPI document has both bounds, and what a client sends fits the proto
type of the field it becomes (protos/estuary/*/v1/*.proto)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from annotated_types import Ge, Le
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pydantic import BaseModel, Field

from gateway import problems
from gateway.app import create_app
from gateway.problems import REST_FIELD_NAMES
from gateway.schemas import catalog, common, identity
from gateway.schemas.common import Int32
from gateway.settings import GatewaySettings

PROTOS = Path(__file__).resolve().parents[2] / "protos"
RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
# What a REST name becomes on the wire: the list parameters, and the rest as they are.
PROTO_NAMES = {rest: proto for proto, rest in REST_FIELD_NAMES.items()}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(GatewaySettings()).openapi()


def _messages(descriptor: Descriptor) -> Iterator[Descriptor]:
    yield descriptor
    for nested in descriptor.nested_types:
        yield from _messages(nested)


def proto_integer_ranges() -> dict[str, set[tuple[int, int]]]:
    """Per field name, the ranges of the integer types declared under that name in any proto."""
    found: dict[str, set[tuple[int, int]]] = {}
    for proto in sorted(PROTOS.glob("estuary/*/v1/*.proto")):
        module = ".".join(proto.relative_to(PROTOS).with_suffix("").parts) + "_pb2"
        for top in importlib.import_module(module).DESCRIPTOR.message_types_by_name.values():
            for message in _messages(top):
                for field in message.fields:
                    if field.type in RANGES:
                        found.setdefault(field.name, set()).add(RANGES[field.type])
    return found


def integers(node: Any, where: str, bounds: dict[str, Any] | None = None) -> Iterator[Any]:
    """(where, minimum, maximum) of every integer schema inside a node of the document, $refs
    not followed; the bounds of an anyOf wrapper count for its members."""
    if isinstance(node, list):
        for n, item in enumerate(node):
            yield from integers(item, f"{where}[{n}]", bounds)
        return
    if not isinstance(node, dict):
        return
    own = {**(bounds or {}), **{k: node[k] for k in ("minimum", "maximum") if k in node}}
    if node.get("type") == "integer":
        yield where, own.get("minimum"), own.get("maximum")
    for key, value in node.items():
        members = key in ("anyOf", "oneOf", "allOf")
        yield from integers(value, f"{where}.{key}", own if members else None)


def refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        if "$ref" in schema:
            yield schema["$ref"].rsplit("/", 1)[-1]
        for value in schema.values():
            yield from refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from refs(item)


def sent_integers(document: dict[str, Any]) -> Iterator[tuple[str, str, Any, Any]]:
    """(where, field name, minimum, maximum) of every integer a client sends: parameters, and
    the properties of request bodies followed through their $refs."""
    components = document["components"]["schemas"]
    bodies: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                where = f"{method.upper()} {path} {parameter['name']}"
                for _, low, high in integers(parameter["schema"], where):
                    yield where, parameter["name"], low, high
            body = operation.get("requestBody", {}).get("content", {})
            bodies.extend(refs(body))
    seen: set[str] = set()
    while bodies:
        name = bodies.pop()
        if name in seen:
            continue
        seen.add(name)
        schema = components[name]
        for field, prop in schema.get("properties", {}).items():
            for where, low, high in integers(prop, f"{name}.{field}"):
                yield where, field, low, high
        bodies.extend(refs(schema))


def test_every_integer_in_the_document_has_both_bounds(document):
    found = list(integers(document["paths"], "paths")) + list(
        integers(document["components"]["schemas"], "components")
    )
    assert len(found) > 30  # the walk reaches them
    unbounded = [where for where, low, high in found if low is None or high is None]
    assert unbounded == []


def misfits(sent: list[tuple[str, str, Any, Any]]) -> list[str]:
    """The integers sent whose bounds the proto type of their field cannot hold."""
    protos = proto_integer_ranges()
    found = []
    for where, field, low, high in sent:
        ranges = protos.get(PROTO_NAMES.get(field, field))
        if not ranges:
            found.append(f"{where}: no proto integer field named {field}")
        for proto_low, proto_high in ranges or ():
            if low is None or high is None or low < proto_low or high > proto_high:
                found.append(f"{where}: [{low}, {high}] outside [{proto_low}, {proto_high}]")
    return found


def test_every_integer_a_client_sends_fits_the_proto_type_of_its_field(document):
    sent = list(sent_integers(document))
    assert {"price_min", "limit", "amount_minor", "years_experience"} <= {f for _, f, _, _ in sent}
    assert misfits(sent) == []


def test_the_checks_catch_a_missing_bound_a_bound_past_the_proto_and_an_unknown_field():
    loose = {"properties": {"count": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}
    assert list(integers(loose, "x")) == [("x.properties.count.anyOf[0]", None, None)]
    assert misfits(
        [
            ("price_min", "price_min", 0, 2**63),
            ("limit", "limit", 1, 2**31),
            ("shoe_size", "shoe_size", 0, 50),
            ("position", "position", 0, 10_000),
        ]
    ) == [
        f"price_min: [0, {2**63}] outside [{-(2**63)}, {2**63 - 1}]",
        f"limit: [1, {2**31}] outside [{-(2**31)}, {2**31 - 1}]",
        "shoe_size: no proto integer field named shoe_size",
    ]


def lost_bounds(model: type[BaseModel]) -> list[str]:
    """Fields where a bound declared on the field is overridden by a looser one of its type.

    `count: Int32 = Field(ge=0)` keeps Int32's own lower bound, not 0: pydantic lets the
    annotation's constraints win over the assignment's. Narrower bounds go on a plain int.
    """
    lost = []
    for name, field in model.model_fields.items():
        lows = [m.ge for m in field.metadata if isinstance(m, Ge)]
        highs = [m.le for m in field.metadata if isinstance(m, Le)]
        if (lows and lows[-1] != max(lows)) or (highs and highs[-1] != min(highs)):
            lost.append(f"{model.__name__}.{name}")
    return lost


def test_no_schema_loses_a_bound_it_declares():
    models = [
        member
        for module in (catalog, common, identity, problems)
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, BaseModel) and member.__module__ == module.__name__
    ]
    assert len(models) > 30
    assert [f for model in models for f in lost_bounds(model)] == []


def test_the_bound_check_catches_a_narrower_bound_lost_to_the_type():
    class Sloppy(BaseModel):
        count: Int32 = Field(ge=0, le=80)

    class Careful(BaseModel):
        count: int = Field(ge=0, le=80)
        total: Int32 | None = Field(None, ge=0, le=80)

    assert lost_bounds(Sloppy) == ["Sloppy.count"]
    assert lost_bounds(Careful) == []
