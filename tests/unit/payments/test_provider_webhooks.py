"""Webhook verification: a Stripe-signed event is read; a forged, altered, replayed (signed
more than 300 s ago) or malformed one is refused with the check that refused it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.payments.provider.port import (
    WebhookMalformed,
    WebhookSignatureInvalid,
    WebhookStale,
)
from services.payments.provider.stripe_format import sign_webhook, verify_webhook

SECRET = "whsec_platform_test_secret"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def stripe_event(**changes: object) -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(NOW.timestamp()) - 5,
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 2500}},
    }
    event.update(changes)
    return json.dumps(event).encode()


def signed_by_hand(payload: bytes, secret: str, at: datetime) -> str:
    """The header as Stripe documents it, computed here without our code."""
    timestamp = int(at.timestamp())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def test_a_webhook_signed_with_our_secret_is_read_as_its_event():
    payload = stripe_event()
    event = verify_webhook(payload, signed_by_hand(payload, SECRET, NOW), SECRET, now=NOW)
    assert (event.id, event.type, event.object_id, event.object_kind) == (
        "evt_1",
        "payment_intent.succeeded",
        "pi_1",
        "payment_intent",
    )
    assert event.created == NOW - timedelta(seconds=5)
    assert event.object["amount"] == 2500
    assert event.account_id is None


def test_our_signing_is_stripes():
    payload = stripe_event()
    stamp = int(NOW.timestamp())
    assert sign_webhook(payload, SECRET, stamp) == signed_by_hand(payload, SECRET, NOW)


def test_a_connected_accounts_event_names_the_account():
    payload = stripe_event(account="acct_7")
    event = verify_webhook(payload, signed_by_hand(payload, SECRET, NOW), SECRET, now=NOW)
    assert event.account_id == "acct_7"


def test_a_webhook_signed_with_another_secret_is_refused_as_forged():
    payload = stripe_event()
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, signed_by_hand(payload, "whsec_attacker", NOW), SECRET, now=NOW)


def test_a_body_altered_after_signing_is_refused_as_forged():
    payload = stripe_event()
    header = signed_by_hand(payload, SECRET, NOW)
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload.replace(b"2500", b"9999"), header, SECRET, now=NOW)


def test_a_genuine_webhook_replayed_301_seconds_later_is_refused_as_stale():
    payload = stripe_event()
    header = signed_by_hand(payload, SECRET, NOW - timedelta(seconds=301))
    with pytest.raises(WebhookStale, match="301 s ago"):
        verify_webhook(payload, header, SECRET, now=NOW)


def test_a_webhook_signed_300_seconds_ago_is_still_accepted():
    payload = stripe_event()
    header = signed_by_hand(payload, SECRET, NOW - timedelta(seconds=300))
    assert verify_webhook(payload, header, SECRET, now=NOW).id == "evt_1"


def test_a_forged_webhook_is_refused_as_forged_whatever_its_age():
    payload = stripe_event()
    header = signed_by_hand(payload, "whsec_attacker", NOW - timedelta(hours=1))
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, header, SECRET, now=NOW)


def test_a_timestamp_moved_forward_breaks_the_signature():
    payload = stripe_event()
    old = NOW - timedelta(hours=1)
    signature = signed_by_hand(payload, SECRET, old).split(",")[1]
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(payload, f"t={int(NOW.timestamp())},{signature}", SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [None, "", "nonsense", "t=abc,v1=00", "v1=00", "t=1700000000", "t=1,t=2,v1=00", "t1700000000"],
)
def test_a_malformed_signature_header_is_refused_as_malformed(header):
    with pytest.raises(WebhookMalformed):
        verify_webhook(stripe_event(), header, SECRET, now=NOW)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        b'{"id": "evt_1"}',
        stripe_event(id=""),
        stripe_event(type=7),
        stripe_event(created="soon"),
        stripe_event(created=10**20),
        stripe_event(account=5),
        stripe_event(data={"object": ["pi_1"]}),
        stripe_event(data={"object": {"id": "pi_1"}}),
        b"\xff",
    ],
)
def test_a_signed_body_that_is_not_a_stripe_event_is_refused_as_malformed(payload):
    with pytest.raises(WebhookMalformed):
        verify_webhook(payload, signed_by_hand(payload, SECRET, NOW), SECRET, now=NOW)


def test_any_of_several_secrets_verifies():
    payload = stripe_event()
    header = signed_by_hand(payload, "whsec_connect", NOW)
    event = verify_webhook(payload, header, ["whsec_platform", "whsec_connect"], now=NOW)
    assert event.id == "evt_1"


def test_one_right_signature_among_several_is_enough():
    payload = stripe_event()
    right = signed_by_hand(payload, SECRET, NOW)
    header = right + ",v1=" + "0" * 64 + ",v0=" + "1" * 64
    assert verify_webhook(payload, header, SECRET, now=NOW).id == "evt_1"


def test_no_secret_is_a_programming_error_not_a_refusal():
    with pytest.raises(ValueError, match="webhook secret"):
        verify_webhook(stripe_event(), "t=1,v1=00", "", now=NOW)
