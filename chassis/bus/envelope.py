"""The one event envelope: CloudEvents attributes as AMQP headers, proto3 JSON as the body.

The headers follow the CloudEvents RabbitMQ binding (binary mode, "ce-" prefixed), produced
and read by the cloudevents package, so any CloudEvents-aware consumer can read our events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry import propagate

from estuary.api.v1 import annotations_pb2

CONTENT_TYPE = "application/json"
_FORMAT = JSONFormat()

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class EventType(Generic[M]):
    """A kind of event: its name (also the routing key), its schema, who produces it, and
    whether it is announced (needed by no consumer: see estuary.api.v1.event_announced)."""

    name: str
    message: type[M]
    producer: str
    announced: bool = False

    @property
    def schema(self) -> str:
        return f"proto:{self.message.DESCRIPTOR.full_name}"

    @classmethod
    def of(cls, message: type[M]) -> EventType[M]:
        """The event a message is the data of, as its proto declares (estuary.api.v1.event_type).

        The producer is the service whose proto package declares the message, so producer and
        consumers share one definition: the proto.
        """
        descriptor = message.DESCRIPTOR
        name = descriptor.GetOptions().Extensions[annotations_pb2.event_type]
        if not name:
            raise ValueError(f"{descriptor.full_name} is not an event: it has no event_type option")
        return cls(
            name=name,
            message=message,
            producer=descriptor.full_name.split(".")[1],
            announced=descriptor.GetOptions().Extensions[annotations_pb2.event_announced],
        )


@dataclass(frozen=True)
class OutgoingEvent:
    """An event ready for the wire: what the outbox stores and the relay publishes."""

    id: str
    type: str
    headers: dict[str, str]
    content_type: str
    body: bytes
    subject: str = ""


@dataclass(frozen=True)
class ReceivedEvent(Generic[M]):
    """An event as a consumer sees it: attributes plus the decoded message."""

    id: str
    type: str
    source: str
    subject: str
    time: datetime
    message: M
    extensions: dict[str, str] = field(default_factory=dict)


def encode_event(
    event_type: EventType[M],
    message: M,
    *,
    event_id: str,
    source: str,
    subject: str,
    time: datetime,
) -> OutgoingEvent:
    """Wraps a message in CloudEvents attributes, carrying the current trace context."""
    if not isinstance(message, event_type.message):
        raise TypeError(f"{event_type.name} carries {event_type.message.__name__}")
    attributes: dict[str, object] = {
        "id": event_id,
        "type": event_type.name,
        "source": source,
        "subject": subject,
        "time": time,
        "datacontenttype": CONTENT_TYPE,
        "dataschema": event_type.schema,
    }
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" in carrier:
        attributes["traceparent"] = carrier["traceparent"]
    body = json_format.MessageToJson(
        message, preserving_proto_field_name=True, indent=None
    ).encode()
    wire = rabbitmq.to_binary(CloudEvent(attributes=attributes, data=body), _FORMAT)
    return OutgoingEvent(
        id=event_id,
        subject=subject,
        type=event_type.name,
        headers=dict(wire.headers),
        content_type=wire.content_type or CONTENT_TYPE,
        body=wire.body,
    )


class MalformedEvent(ValueError):
    """A message that is not a CloudEvent we can read; retrying will not help."""


def decode_event(
    headers: dict[str, object],
    content_type: str | None,
    body: bytes,
    registry: dict[str, EventType[Message]],
) -> ReceivedEvent[Message]:
    """Reads a delivered message back into an event with its decoded proto message."""
    try:
        wire = rabbitmq.RabbitMQMessage(
            headers={str(k): _header_text(v) for k, v in headers.items()},
            content_type=content_type,
            body=body,
        )
        if "ce-id" not in {name.lower() for name in wire.headers}:
            # The binding would make an id up, a new one at each redelivery: the inbox would
            # then take every redelivery for a new event and apply it again.
            raise KeyError("id")
        cloud_event = rabbitmq.from_binary(wire, _FORMAT)
        attributes = cloud_event.get_attributes()
        event_type = registry[attributes["type"]]
        data = cloud_event.get_data()
        message = event_type.message()
        if isinstance(data, dict):
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
        elif data:
            json_format.Parse(data, message, ignore_unknown_fields=True)
    except KeyError as error:
        raise MalformedEvent(f"unknown or missing attribute {error}") from error
    except Exception as error:
        raise MalformedEvent(str(error)) from error
    standard = {"id", "type", "source", "subject", "time", "specversion"}
    return ReceivedEvent(
        id=attributes["id"],
        type=attributes["type"],
        source=attributes["source"],
        subject=attributes.get("subject", ""),
        time=attributes["time"],
        message=message,
        extensions={k: str(v) for k, v in attributes.items() if k not in standard},
    )


def _header_text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
