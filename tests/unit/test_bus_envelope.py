"""The event envelope as a consumer (ours or anyone's CloudEvents reader) sees it on the wire:
which headers carry which attribute, what the body holds, what a reader gets back, and what a
message it cannot read is told."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from chassis.bus.envelope import EventType, MalformedEvent, decode_event, encode_event
from estuary.identity.v1 import events_pb2, identity_pb2
from estuary.payments.v1 import events_pb2 as payments_events

USER_DELETED = EventType.of(events_pb2.UserDeleted)
REGISTRY = {USER_DELETED.name: USER_DELETED}
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331


def user_deleted(user_id: str = "u-1", subject: str = "users/u-1"):
    return encode_event(
        USER_DELETED,
        events_pb2.UserDeleted(user_id=user_id),
        event_id="evt-1",
        source="/estuary/identity",
        subject=subject,
        time=AT,
    )


def test_an_event_type_is_named_and_owned_as_its_proto_declares():
    # Read here, not from the module's constant: that one is made once, at import.
    user_deleted = EventType.of(events_pb2.UserDeleted)
    assert EventType("user.deleted", events_pb2.UserDeleted, "identity") == user_deleted
    assert user_deleted.schema == "proto:estuary.identity.v1.UserDeleted"


def test_a_message_that_is_no_event_cannot_be_made_an_event_type():
    with pytest.raises(ValueError, match=r"^estuary.identity.v1.User is not an event"):
        EventType.of(identity_pb2.User)


def test_an_event_goes_out_as_cloudevents_headers_and_a_compact_json_body():
    event = user_deleted()
    assert (event.id, event.type, event.subject) == ("evt-1", "user.deleted", "users/u-1")
    assert event.headers == {
        "ce-id": "evt-1",
        "ce-type": "user.deleted",
        "ce-source": "/estuary/identity",
        "ce-subject": "users/u-1",
        "ce-time": "2026-03-04T05:06:07Z",
        "ce-dataschema": "proto:estuary.identity.v1.UserDeleted",
        "ce-specversion": "1.0",
    }
    assert event.content_type == "application/json"
    # The proto's own field names, on one line: what any JSON reader of the schema expects.
    assert event.body == b'{"user_id": "u-1"}'


def test_an_event_emitted_within_a_trace_carries_its_traceparent():
    parent = SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        event = user_deleted()
    finally:
        context.detach(token)
    traceparent = f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"
    assert event.headers["ce-traceparent"] == traceparent
    received = decode_event(event.headers, event.content_type, event.body, REGISTRY)
    assert received.extensions["traceparent"] == traceparent


def test_an_event_emitted_outside_any_trace_carries_none():
    assert "ce-traceparent" not in user_deleted().headers


def test_the_wrong_message_for_an_event_type_is_refused_naming_both():
    with pytest.raises(TypeError, match=r"^user.deleted carries UserDeleted$"):
        encode_event(
            USER_DELETED,
            events_pb2.UserRegistered(user_id="u-1"),
            event_id="evt-1",
            source="/estuary/identity",
            subject="users/u-1",
            time=AT,
        )


def test_a_consumer_reads_back_every_attribute_and_the_message():
    sent = user_deleted()
    # RabbitMQ hands header values over as bytes.
    headers = {name: value.encode() for name, value in sent.headers.items()}
    received = decode_event(headers, sent.content_type, sent.body, REGISTRY)
    assert (received.id, received.type, received.source, received.subject, received.time) == (
        "evt-1",
        "user.deleted",
        "/estuary/identity",
        "users/u-1",
        AT,
    )
    assert received.message == events_pb2.UserDeleted(user_id="u-1")
    # The standard attributes are fields of their own; only the others are extensions.
    assert received.extensions == {
        "datacontenttype": "application/json",
        "dataschema": "proto:estuary.identity.v1.UserDeleted",
    }


def test_an_event_without_a_subject_reads_as_an_empty_subject():
    sent = user_deleted()
    headers = {k: v for k, v in sent.headers.items() if k != "ce-subject"}
    received = decode_event(headers, sent.content_type, sent.body, REGISTRY)
    assert received.subject == ""
    assert "subject" not in received.extensions


def test_fields_a_newer_producer_added_are_ignored_in_json_and_in_text():
    sent = user_deleted()
    body = json.dumps({"user_id": "u-1", "reason": "added later"}).encode()
    for content_type in ("application/json", "text/plain"):
        received = decode_event(sent.headers, content_type, body, REGISTRY)
        assert received.message == events_pb2.UserDeleted(user_id="u-1")


def test_an_empty_body_reads_as_the_empty_message():
    sent = user_deleted()
    received = decode_event(sent.headers, sent.content_type, b"", REGISTRY)
    assert received.message == events_pb2.UserDeleted()


def test_an_event_of_a_type_not_subscribed_is_malformed_naming_the_type():
    sent = user_deleted()
    other = EventType.of(payments_events.PaymentSucceeded)
    with pytest.raises(MalformedEvent, match=r"^unknown or missing attribute 'user.deleted'$"):
        decode_event(sent.headers, sent.content_type, sent.body, {other.name: other})


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/json", b'{"user_id": 5}', "Failed to parse user_id field"),
        ("text/plain", b'{"user_id": 5}', "Failed to parse user_id field"),
        ("application/json", b"not json", "Failed to load JSON"),
    ],
)
def test_a_body_that_is_not_the_message_is_malformed_saying_why(content_type, body, reason):
    sent = user_deleted()
    with pytest.raises(MalformedEvent, match=reason):
        decode_event(sent.headers, content_type, body, REGISTRY)


def test_an_event_without_a_source_is_malformed_saying_so():
    sent = user_deleted()
    headers = {k: v for k, v in sent.headers.items() if k != "ce-source"}
    with pytest.raises(MalformedEvent, match="Missing required attribute: 'source'"):
        decode_event(headers, sent.content_type, sent.body, REGISTRY)


@pytest.mark.parametrize("name", ["ce-id", "CE-ID"])
def test_an_event_without_an_id_is_malformed_rather_than_given_a_new_one_each_delivery(name):
    sent = user_deleted()
    headers = {k: v for k, v in sent.headers.items() if k != "ce-id"}
    with pytest.raises(MalformedEvent, match=r"^unknown or missing attribute 'id'$"):
        decode_event(headers, sent.content_type, sent.body, REGISTRY)
    # The header's name is read whatever its case, as the binding reads it.
    headers[name] = "evt-1"
    assert decode_event(headers, sent.content_type, sent.body, REGISTRY).id == "evt-1"
