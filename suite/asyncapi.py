"""The event catalog for consumers outside the suite: an AsyncAPI 3.0 document
(docs/asyncapi.json) with a JSON Schema for every event's data, generated from the protos.

The events are the ones the suite's code emits or consumes (as docs/events.md lists them):
one channel per event type (the routing key on the topic exchange), one message each with its
CloudEvents headers and its payload, a send operation for the producer and a receive
operation for each consuming queue.

The payload schemas follow proto3's JSON mapping as the envelope writes it
(chassis.bus.envelope.encode_event, proto field names): fields at their default value are
left out (so none is required), 64-bit integers are strings, Timestamps are RFC 3339 strings,
enums are their value names, a Struct is an object, repeated fields are arrays. Descriptions
are the protos' own comments.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from chassis.audit import EMITTED_BY_EVERY_SERVICE
from chassis.bus.envelope import CONTENT_TYPE, EventType
from chassis.service import ServiceDeclaration
from chassis.settings import DEFAULT_EXCHANGE

PROTOS = Path(__file__).resolve().parents[1] / "protos"
VERSION = "1.0.0"
SCHEMAS = "#/components/schemas/"
INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
UINT32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
INT64 = {"type": "string", "pattern": "^-?[0-9]+$", "description": "A 64-bit integer."}
UINT64 = {"type": "string", "pattern": "^[0-9]+$", "description": "A 64-bit integer."}
FLOAT = {"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_INT32: INT32,
    FieldDescriptor.TYPE_SINT32: INT32,
    FieldDescriptor.TYPE_SFIXED32: INT32,
    FieldDescriptor.TYPE_UINT32: UINT32,
    FieldDescriptor.TYPE_FIXED32: UINT32,
    FieldDescriptor.TYPE_INT64: INT64,
    FieldDescriptor.TYPE_SINT64: INT64,
    FieldDescriptor.TYPE_SFIXED64: INT64,
    FieldDescriptor.TYPE_UINT64: UINT64,
    FieldDescriptor.TYPE_FIXED64: UINT64,
    FieldDescriptor.TYPE_FLOAT: FLOAT,
    FieldDescriptor.TYPE_DOUBLE: FLOAT,
}
# Well-known types, as proto3's JSON mapping writes them.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object", "maxProperties": 0},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.Int32Value": INT32,
    "google.protobuf.UInt32Value": UINT32,
    "google.protobuf.Int64Value": INT64,
    "google.protobuf.UInt64Value": UINT64,
    "google.protobuf.FloatValue": FLOAT,
    "google.protobuf.DoubleValue": FLOAT,
    "google.protobuf.BytesValue": {"type": "string", "contentEncoding": "base64"},
}


@dataclass
class CatalogEvent:
    """An event of the catalog: its type, who produces it and which queues consume it."""

    event_type: EventType[Any]
    emitted: bool = False
    consumers: list[tuple[str, str]] = field(default_factory=list)  # (queue, description)


def catalog_events(services: Iterable[ServiceDeclaration]) -> list[CatalogEvent]:
    """Every event the services emit or consume, by type name."""
    found: dict[str, CatalogEvent] = {}
    for event_type in EMITTED_BY_EVERY_SERVICE:
        found.setdefault(event_type.name, CatalogEvent(event_type)).emitted = True
    for service in services:
        for event_type in service.emits:
            found.setdefault(event_type.name, CatalogEvent(event_type)).emitted = True
        for subscription in service.subscriptions:
            for event_type in subscription.events:
                event = found.setdefault(event_type.name, CatalogEvent(event_type))
                event.consumers.append((subscription.queue, subscription.description))
    return [found[name] for name in sorted(found)]


# Comments ----------------------------------------------------------------------------------

# Field numbers of descriptor.proto's FileDescriptorProto and DescriptorProto, as they appear
# in a SourceCodeInfo location's path.
_MESSAGE_TYPE, _ENUM_TYPE = 4, 5
_FIELD, _NESTED_TYPE, _NESTED_ENUM = 2, 3, 4
_ENUM_VALUE = 2


def proto_comments(protos: Path = PROTOS) -> dict[str, str]:
    """The leading comment of every message, field, enum and enum value in the protos, by
    full name (a field's is "<message full name>.<field name>")."""
    import grpc_tools
    from grpc_tools import protoc

    files = sorted(str(p.relative_to(protos)) for p in protos.rglob("*.proto"))
    includes = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "descriptors.pb"
        code = protoc.main(
            [
                "protoc",
                f"-I{protos}",
                f"-I{includes}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *files,
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc could not read {protos} (exit {code})")
        descriptors = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    found: dict[str, str] = {}
    for file in descriptors.file:
        names = _location_names(file)
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            comment = " ".join(location.leading_comments.split())
            if name and comment:
                found[name] = comment
    return found


def _location_names(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    names: dict[tuple[int, ...], str] = {}

    def enum(path: tuple[int, ...], scope: str, proto: descriptor_pb2.EnumDescriptorProto) -> None:
        full = f"{scope}.{proto.name}"
        names[path] = full
        for n, value in enumerate(proto.value):
            names[(*path, _ENUM_VALUE, n)] = f"{full}.{value.name}"

    def message(path: tuple[int, ...], scope: str, proto: descriptor_pb2.DescriptorProto) -> None:
        full = f"{scope}.{proto.name}"
        names[path] = full
        for n, field_proto in enumerate(proto.field):
            names[(*path, _FIELD, n)] = f"{full}.{field_proto.name}"
        for n, nested in enumerate(proto.nested_type):
            message((*path, _NESTED_TYPE, n), full, nested)
        for n, nested_enum in enumerate(proto.enum_type):
            enum((*path, _NESTED_ENUM, n), full, nested_enum)

    for n, top in enumerate(file.message_type):
        message((_MESSAGE_TYPE, n), file.package, top)
    for n, top_enum in enumerate(file.enum_type):
        enum((_ENUM_TYPE, n), file.package, top_enum)
    return names


# Schemas -----------------------------------------------------------------------------------


class SchemaBuilder:
    """JSON Schemas of proto messages under their full names, with what they refer to."""

    def __init__(self, comments: dict[str, str]) -> None:
        self.comments = comments
        self.schemas: dict[str, dict[str, Any]] = {}

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        """A reference to the message's schema, built (with its dependencies) if new."""
        name = descriptor.full_name
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        if name not in self.schemas:
            self.schemas[name] = {}  # placed first, so a recursive message refers to itself
            properties = {f.name: self.field(f) for f in descriptor.fields}
            schema: dict[str, Any] = {"type": "object", "title": descriptor.name}
            self._describe(schema, name)
            schema["properties"] = properties
            self.schemas[name] = schema
        return {"$ref": SCHEMAS + name}

    def enum(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name not in self.schemas:
            values = [v.name for v in descriptor.values]
            described = [
                f"{v.name}: {self.comments[f'{name}.{v.name}']}"
                for v in descriptor.values
                if f"{name}.{v.name}" in self.comments
            ]
            schema: dict[str, Any] = {"type": "string", "title": descriptor.name, "enum": values}
            self._describe(schema, name, extra=described)
            self.schemas[name] = schema
        return {"$ref": SCHEMAS + name}

    def field(self, descriptor: FieldDescriptor) -> dict[str, Any]:
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            value = descriptor.message_type.fields_by_name["value"]
            schema: dict[str, Any] = {"type": "object", "additionalProperties": self.single(value)}
        elif descriptor.is_repeated:
            schema = {"type": "array", "items": self.single(descriptor)}
        else:
            schema = self.single(descriptor)
        # Every field read here belongs to a message (types-protobuf allows None).
        assert descriptor.containing_type is not None
        comment = self.comments.get(f"{descriptor.containing_type.full_name}.{descriptor.name}")
        if comment:
            schema = (
                {**schema, "description": comment}
                if "$ref" not in schema
                else {"allOf": [schema], "description": comment}
            )
        return schema

    def single(self, descriptor: FieldDescriptor) -> dict[str, Any]:
        if descriptor.type in SCALARS:
            return dict(SCALARS[descriptor.type])
        if descriptor.type == FieldDescriptor.TYPE_ENUM:
            assert descriptor.enum_type is not None
            return self.enum(descriptor.enum_type)
        assert descriptor.message_type is not None
        return self.message(descriptor.message_type)

    def _describe(self, schema: dict[str, Any], name: str, extra: Sequence[str] = ()) -> None:
        text = " ".join([self.comments.get(name, ""), *extra]).strip()
        if text:
            schema["description"] = text


# The document ------------------------------------------------------------------------------


def _headers(event_type: EventType[Any]) -> dict[str, Any]:
    """The CloudEvents attributes as AMQP headers (the binding's binary mode)."""
    return {
        "type": "object",
        "required": [
            "ce-specversion",
            "ce-id",
            "ce-type",
            "ce-source",
            "ce-subject",
            "ce-time",
            "ce-dataschema",
        ],
        "properties": {
            "ce-specversion": {"const": "1.0"},
            "ce-id": {"type": "string", "description": "The event id, a UUIDv7."},
            "ce-type": {"const": event_type.name},
            "ce-source": {
                "type": "string",
                "pattern": "^/estuary/[a-z_]+$",
                "description": "The service that emitted it, e.g. /estuary/identity.",
            },
            "ce-subject": {
                "type": "string",
                "description": "The resource the event is about, e.g. users/{id}.",
            },
            "ce-time": {
                "type": "string",
                "format": "date-time",
                "description": "When it was emitted (UTC).",
            },
            "ce-dataschema": {"const": event_type.schema},
            "ce-traceparent": {
                "type": "string",
                "description": "The W3C trace context, only while tracing is on.",
            },
        },
    }


def document(
    services: Iterable[ServiceDeclaration], *, comments: dict[str, str] | None = None
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the events the services emit or consume."""
    comments = proto_comments() if comments is None else comments
    builder = SchemaBuilder(comments)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    exchange = {
        "name": DEFAULT_EXCHANGE,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    for event in catalog_events(services):
        event_type = event.event_type
        name = event_type.name
        descriptor = event_type.message.DESCRIPTOR
        payload = builder.message(descriptor)
        description = comments.get(descriptor.full_name, "")
        messages[name] = {
            "name": name,
            "title": descriptor.name,
            "summary": _sentence(description.split(": ", 1)[-1]) if description else name,
            "contentType": CONTENT_TYPE,
            "headers": _headers(event_type),
            "payload": payload,
            "bindings": {"amqp": {"messageType": name, "bindingVersion": "0.3.0"}},
        }
        channels[name] = {
            "address": name,
            "title": name,
            "description": f"Routing key {name} on the topic exchange {DEFAULT_EXCHANGE}; "
            f"produced by {event_type.producer}.",
            "messages": {descriptor.name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": "0.3.0"}
            },
        }
        channel = {"$ref": f"#/channels/{name}"}
        message = [{"$ref": f"#/channels/{name}/messages/{descriptor.name}"}]
        if event.emitted:
            operations[f"{name}.send"] = {
                "action": "send",
                "title": f"{event_type.producer} publishes {name}",
                "channel": channel,
                "messages": message,
                "bindings": {
                    "amqp": {"deliveryMode": 2, "mandatory": True, "bindingVersion": "0.3.0"}
                },
            }
        for queue, purpose in sorted(event.consumers):
            operations[f"{name}.receive.{queue}"] = {
                "action": "receive",
                "title": f"{queue} consumes {name}",
                **({"description": purpose} if purpose else {}),
                "channel": channel,
                "messages": message,
                "bindings": {"amqp": {"ack": True, "bindingVersion": "0.3.0"}},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Estuary events",
            "version": VERSION,
            "description": "The events Estuary's services publish on RabbitMQ: CloudEvents 1.0 "
            "in the binary mode of the AMQP binding (attributes as ce- headers), data as the "
            "proto3 JSON of a message in protos/ with proto field names. Fields at their "
            "default value are left out; consumers must ignore fields they do not know, and "
            "enum values they do not know. docs/events.md says who consumes what and the "
            "delivery guarantees.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": dict(sorted(builder.schemas.items())),
        },
    }


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def event_schemas(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event type, a self-contained JSON Schema of its data) for each message of a document,
    its references resolved against the document's components."""
    for name, message in doc["components"]["messages"].items():
        yield name, {**message["payload"], "components": doc["components"]}
