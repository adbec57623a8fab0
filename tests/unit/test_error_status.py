"""A refusal's google.rpc.Status stays small enough for gRPC's trailers (8 KiB), however many
fields a request got wrong: past that, gRPC ends the call RESOURCE_EXHAUSTED and the caller
never reads the refusal (a 429 at the gateway for a body of 68 duplicate preferences)."""

from __future__ import annotations

import base64

from google.rpc import error_details_pb2

from chassis.errors import MAX_REPORTED_VIOLATIONS, FieldViolation, InvalidArgument, to_rpc_status

TRAILER_LIMIT_BYTES = 8192


def test_a_refusal_of_hundreds_of_fields_names_the_first_ones_within_the_trailer_limit():
    violations = [
        FieldViolation(
            f"preferences[{i}]", "repeats a kind and channel given before it", "duplicate"
        )
        for i in range(300)
    ]
    error = InvalidArgument("; ".join(v.message for v in violations), violations=violations)

    status = to_rpc_status(error)

    encoded = base64.b64encode(status.SerializeToString())
    # The status travels base64-encoded, beside its message (grpc-message).
    assert len(encoded) + len(status.message) < TRAILER_LIMIT_BYTES
    bad = error_details_pb2.BadRequest()
    assert status.details[1].Unpack(bad)
    assert [v.field for v in bad.field_violations] == [
        f"preferences[{i}]" for i in range(MAX_REPORTED_VIOLATIONS)
    ]
