"""Stripe's objects and events read into the port's words, and Stripe's webhook signatures.

Both adapters speak this format: the Stripe adapter reads the objects Stripe answers, the
sandbox keeps its objects in Stripe's shape and signs its events as Stripe does, so one
reading (and one verification) serves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import stripe

from services.payments.provider.port import (
    WEBHOOK_TOLERANCE_SECONDS,
    AccountLink,
    ConnectedAccount,
    Customer,
    PaymentIntent,
    PaymentStatus,
    Payout,
    PayoutStatus,
    Price,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
    Transfer,
    TransferReversal,
    WebhookEvent,
    WebhookMalformed,
    WebhookSignatureInvalid,
    WebhookStale,
)

SIGNATURE_SCHEME = "v1"


def stripe_currency(currency: str) -> str:
    """Stripe writes currencies in lower case (eur); we write ISO's upper case (EUR)."""
    return currency.lower()


def our_currency(currency: str) -> str:
    """An ISO 4217 code as we write it, from Stripe's lower case."""
    return currency.upper()


def instant(timestamp: int | None) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC instant."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _metadata(obj: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in (obj.get("metadata") or {}).items()}


def _id_of(value: Any) -> str | None:
    """An id Stripe may send as a string or, when expanded, as the object itself."""
    if isinstance(value, Mapping):
        return str(value["id"])
    return None if value is None else str(value)


def payment_intent_from(obj: Mapping[str, Any]) -> PaymentIntent:
    """A payment intent from Stripe's payment_intent object."""
    metadata = _metadata(obj)
    error = obj.get("last_payment_error") or {}
    return PaymentIntent(
        id=obj["id"],
        amount=int(obj["amount"]),
        currency=our_currency(obj["currency"]),
        status=PaymentStatus(obj["status"]),
        client_secret=obj.get("client_secret") or "",
        order_id=metadata.get("order_id"),
        customer_id=_id_of(obj.get("customer")),
        amount_received=int(obj.get("amount_received") or 0),
        failure_code=error.get("code"),
        failure_message=error.get("message"),
        metadata=metadata,
        decline_code=error.get("decline_code"),
    )


def refund_from(obj: Mapping[str, Any]) -> Refund:
    """A refund from Stripe's refund object."""
    return Refund(
        id=obj["id"],
        payment_intent_id=_id_of(obj.get("payment_intent")) or "",
        amount=int(obj["amount"]),
        currency=our_currency(obj["currency"]),
        status=RefundStatus(obj["status"]),
        metadata=_metadata(obj),
    )


def customer_from(obj: Mapping[str, Any]) -> Customer:
    """A customer from Stripe's customer object."""
    metadata = _metadata(obj)
    return Customer(
        id=obj["id"],
        email=obj.get("email"),
        name=obj.get("name"),
        user_id=metadata.get("user_id"),
        metadata=metadata,
    )


def account_from(obj: Mapping[str, Any]) -> ConnectedAccount:
    """A connected account from Stripe's account object."""
    metadata = _metadata(obj)
    return ConnectedAccount(
        id=obj["id"],
        practitioner_id=metadata.get("practitioner_id"),
        email=obj.get("email"),
        country=obj.get("country"),
        details_submitted=bool(obj.get("details_submitted")),
        payouts_enabled=bool(obj.get("payouts_enabled")),
        metadata=metadata,
    )


def account_link_from(obj: Mapping[str, Any]) -> AccountLink:
    """An onboarding link from Stripe's account_link object."""
    expires_at = instant(obj["expires_at"])
    assert expires_at is not None
    return AccountLink(url=obj["url"], expires_at=expires_at)


def transfer_from(obj: Mapping[str, Any]) -> Transfer:
    """A transfer from Stripe's transfer object."""
    return Transfer(
        id=obj["id"],
        amount=int(obj["amount"]),
        currency=our_currency(obj["currency"]),
        destination_account_id=_id_of(obj.get("destination")) or "",
        transfer_group=obj.get("transfer_group"),
        metadata=_metadata(obj),
    )


def transfer_reversal_from(obj: Mapping[str, Any]) -> TransferReversal:
    """A reversal from Stripe's transfer_reversal object."""
    return TransferReversal(
        id=obj["id"],
        transfer_id=_id_of(obj.get("transfer")) or "",
        amount=int(obj["amount"]),
        currency=our_currency(obj["currency"]),
        metadata=_metadata(obj),
    )


def payout_from(obj: Mapping[str, Any], account_id: str) -> Payout:
    """A payout from Stripe's payout object, made on account_id (Stripe-Account)."""
    return Payout(
        id=obj["id"],
        account_id=account_id,
        amount=int(obj["amount"]),
        currency=our_currency(obj["currency"]),
        status=PayoutStatus(obj["status"]),
        failure_code=obj.get("failure_code"),
        failure_message=obj.get("failure_message"),
        metadata=_metadata(obj),
    )


def price_from(obj: Mapping[str, Any]) -> Price:
    """A tier's price from Stripe's price object."""
    metadata = _metadata(obj)
    recurring = obj.get("recurring") or {}
    return Price(
        id=obj["id"],
        tier=metadata.get("tier"),
        amount=int(obj["unit_amount"]),
        currency=our_currency(obj["currency"]),
        interval=recurring.get("interval", ""),
        metadata=metadata,
    )


def subscription_from(obj: Mapping[str, Any]) -> Subscription:
    """A subscription from Stripe's subscription object (one item: the tier's price)."""
    item = obj["items"]["data"][0]
    # Since API version 2025-03-31 the period lives on each item; before, on the subscription.
    period_end = item.get("current_period_end") or obj.get("current_period_end")
    return Subscription(
        id=obj["id"],
        customer_id=_id_of(obj.get("customer")) or "",
        price_id=_id_of(item["price"]) or "",
        status=SubscriptionStatus(obj["status"]),
        current_period_end=instant(period_end),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        metadata=_metadata(obj),
    )


def sign_webhook(payload: bytes, secret: str, timestamp: int) -> str:
    """The Stripe-Signature header Stripe sends with payload: t=<timestamp>,v1=<HMAC-SHA256 of
    "<timestamp>.<payload>" keyed by the endpoint's secret>."""
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode("utf-8"), secret, timestamp=timestamp
    )


def _signed_timestamp(signature_header: str | None) -> int:
    if not signature_header:
        raise WebhookMalformed("the Stripe-Signature header is missing")
    pairs = [part.split("=", 1) for part in signature_header.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise WebhookMalformed("the Stripe-Signature header is not a list of key=value pairs")
    timestamps = [value for key, value in pairs if key.strip() == "t"]
    if len(timestamps) != 1 or not timestamps[0].strip().isdigit():
        raise WebhookMalformed("the Stripe-Signature header has no single numeric t=timestamp")
    if not any(key.strip() == SIGNATURE_SCHEME for key, _ in pairs):
        raise WebhookMalformed(f"the Stripe-Signature header has no {SIGNATURE_SCHEME} signature")
    return int(timestamps[0])


def verify_webhook(
    payload: bytes,
    signature_header: str | None,
    secret: str | Sequence[str],
    *,
    now: datetime | None = None,
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
) -> WebhookEvent:
    """The event in a webhook's raw body, once its signature matches under secret (or one of
    several: the platform's endpoint and the Connect endpoint each have their own, and a
    rolled secret lives beside the old one for a while) and was made within tolerance_seconds
    of now; otherwise WebhookMalformed, WebhookSignatureInvalid or WebhookStale.

    The signature is checked first: a stale timestamp is only worth telling apart when the
    signature over it is genuine (a replay); a forged one is refused as forged whatever its age.
    """
    candidates = [secret] if isinstance(secret, str) else list(secret)
    if not candidates or not all(candidates):
        raise ValueError("a webhook secret is needed to verify webhooks")
    timestamp = _signed_timestamp(signature_header)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookMalformed("the webhook body is not UTF-8") from None
    if not any(_signed_by(text, signature_header, candidate) for candidate in candidates):
        raise WebhookSignatureInvalid(
            "no signature in the Stripe-Signature header matches the body"
        )
    age = (now or datetime.now(UTC)).timestamp() - timestamp
    if age > tolerance_seconds:
        raise WebhookStale(
            f"the webhook was signed {int(age)} s ago, more than the {tolerance_seconds} s "
            "tolerance"
        )
    return event_from(text)


def _signed_by(text: str, signature_header: str | None, secret: str) -> bool:
    try:
        # No tolerance here: the age is judged on our own clock.
        stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance=None)
    except stripe.SignatureVerificationError:
        return False
    return True


def event_from(text: str) -> WebhookEvent:
    """A webhook event from Stripe's event JSON (already verified)."""
    try:
        body = json.loads(text)
        obj = body["data"]["object"]
        event = WebhookEvent(
            id=_required_text(body, "id"),
            type=_required_text(body, "type"),
            created=datetime.fromtimestamp(int(body["created"]), UTC),
            object_id=_required_text(obj, "id"),
            object_kind=_required_text(obj, "object"),
            object=obj,
            account_id=_optional_text(body, "account"),
        )
    except (ValueError, KeyError, TypeError, OverflowError, OSError) as error:
        raise WebhookMalformed(f"the webhook body is not a Stripe event ({error})") from None
    return event


def _optional_text(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{key} must be a non-empty string when present")
    return value


def _required_text(obj: Mapping[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value
