"""The payment provider as payments sees it: our words, our objects, no provider's types.

Two adapters answer it alike: Stripe through its official library (stripe.py) and a sandbox
that behaves like Stripe's test mode with no network (sandbox.py). Amounts are integer minor
units, currencies upper-case ISO 4217 codes (EUR), instants aware UTC. Every write takes an
idempotency key the caller derives from its own ids (`idempotency_key`), so a retried call
returns the first answer instead of charging, refunding or paying twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

WEBHOOK_TOLERANCE_SECONDS = 300
"""How old a webhook's signed timestamp may be before it is refused as a replay."""


def idempotency_key(operation: str, *ids: str) -> str:
    """The provider idempotency key of one operation on our own ids, e.g. ("refund", refund_id).

    The same operation on the same ids always gives the same key, so a retry after a crash or
    a timeout is recognised by the provider as the same request.
    """
    if not operation or not ids or not all(ids):
        raise ValueError("an idempotency key needs an operation and at least one non-empty id")
    return ":".join(("estuary", operation, *ids))


class PaymentStatus(StrEnum):
    """Where a payment intent stands (Stripe's own states)."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


class RefundStatus(StrEnum):
    """Where a refund stands."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class PayoutStatus(StrEnum):
    """Where a payout from a connected account to its bank stands."""

    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


class SubscriptionStatus(StrEnum):
    """Where a platform subscription stands."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class ChangeTiming(StrEnum):
    """When a subscription's new price takes effect."""

    NOW = "now"
    """An upgrade: the new price at once, the difference for the rest of the period invoiced now."""
    PERIOD_END = "period_end"
    """A downgrade: the current period is not prorated; the new price is billed from the next."""


@dataclass(frozen=True)
class PaymentIntent:
    """One attempt to take an amount from a client for one of our orders."""

    id: str
    amount: int
    currency: str
    status: PaymentStatus
    client_secret: str
    order_id: str | None
    customer_id: str | None = None
    amount_received: int = 0
    failure_code: str | None = None
    """Why the last attempt failed (card_declined, payment_intent_authentication_failure...)."""
    failure_message: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    decline_code: str | None = None
    """The issuer's reason for a card_declined (insufficient_funds, generic_decline...)."""


@dataclass(frozen=True)
class Refund:
    """Money given back on a payment intent, in full or in part."""

    id: str
    payment_intent_id: str
    amount: int
    currency: str
    status: RefundStatus
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Customer:
    """A client (or a practitioner paying the platform) as the provider knows them."""

    id: str
    email: str | None
    name: str | None
    user_id: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectedAccount:
    """A practitioner's Connect account, which earnings are transferred to and paid out from."""

    id: str
    practitioner_id: str | None
    email: str | None
    country: str | None
    details_submitted: bool
    payouts_enabled: bool
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountLink:
    """A single-use onboarding address for a connected account, valid until expires_at."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Transfer:
    """Money moved from the platform's balance to a connected account's."""

    id: str
    amount: int
    currency: str
    destination_account_id: str
    transfer_group: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferReversal:
    """Money taken back from a connected account to the platform, out of one transfer."""

    id: str
    transfer_id: str
    amount: int
    currency: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Payout:
    """Money sent from a connected account's balance to its bank account."""

    id: str
    account_id: str
    amount: int
    currency: str
    status: PayoutStatus
    failure_code: str | None = None
    failure_message: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Price:
    """What a platform tier costs per interval (month or year)."""

    id: str
    tier: str | None
    amount: int
    currency: str
    interval: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    """A practitioner's platform subscription to one tier's price."""

    id: str
    customer_id: str
    price_id: str
    status: SubscriptionStatus
    current_period_end: datetime | None
    cancel_at_period_end: bool
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified provider event: what happened to which object, in Stripe's event words.

    `object` is the event's copy of the object as sent; it may be older than another event's
    copy (deliveries come late, twice or out of order), so apply only what moves forward or
    refetch the object by `object_id` before acting on its state.
    """

    id: str
    type: str
    created: datetime
    object_id: str
    object_kind: str
    object: Mapping[str, Any]
    account_id: str | None = None
    """The connected account the event happened on (payouts), None for the platform's own."""


class ProviderError(Exception):
    """The provider refused or failed a call; `code` is the provider's reason when it gave one."""

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


class ProviderRejected(ProviderError):
    """The provider refused the request as asked (unknown object, bad parameter, wrong state,
    insufficient balance); retrying the same request will not help."""


class IdempotencyConflict(ProviderRejected):
    """An idempotency key was used again with other parameters (or on another operation)."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side; the same request (same
    idempotency key) may be retried."""


class WebhookRejected(Exception):
    """A webhook that must not be applied; `reason` says which check refused it."""

    reason = "invalid"


class WebhookSignatureInvalid(WebhookRejected):
    """No signature in the header matches the payload under our webhook secret (forged or
    altered)."""

    reason = "bad_signature"


class WebhookStale(WebhookRejected):
    """The signature is right but its timestamp is older than the tolerance (a replay)."""

    reason = "stale"


class WebhookMalformed(WebhookRejected):
    """The Stripe-Signature header or the body cannot be read as a Stripe event."""

    reason = "malformed"


class PaymentProvider(Protocol):
    """What payments asks of a payment provider; every write takes our idempotency key."""

    # Payment intents
    async def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        order_id: str,
        idempotency_key: str,
        customer_id: str | None = None,
        payment_method: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntent:
        """An intent to take amount for order_id (in its metadata), unconfirmed."""
        ...

    async def confirm_payment_intent(
        self, intent_id: str, *, idempotency_key: str, payment_method: str | None = None
    ) -> PaymentIntent:
        """Confirms an intent; a decline is an answer (status requires_payment_method with
        failure_code), not an error; a card that needs 3-D Secure answers requires_action."""
        ...

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> PaymentIntent:
        """Cancels an intent that has not succeeded."""
        ...

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntent:
        """The intent as the provider has it now (to refetch after a webhook)."""
        ...

    # Refunds
    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        idempotency_key: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Refund:
        """Refunds amount (all that is left when None) of a succeeded intent."""
        ...

    async def retrieve_refund(self, refund_id: str) -> Refund:
        """The refund as the provider has it now."""
        ...

    async def refunds_of(self, payment_intent_id: str) -> list[Refund]:
        """The refunds made on an intent: a refund made before a crash is recognised among
        them (by our ids in its metadata) after the provider has forgotten its idempotency
        key (Stripe keeps keys for 24 hours)."""
        ...

    # Customers
    async def create_customer(
        self, *, user_id: str, email: str | None, name: str | None, idempotency_key: str
    ) -> Customer:
        """A customer for one of our users (user_id in its metadata)."""
        ...

    # Connect
    async def create_connected_account(
        self, *, practitioner_id: str, email: str | None, country: str, idempotency_key: str
    ) -> ConnectedAccount:
        """An Express connected account for a practitioner, not yet onboarded."""
        ...

    async def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> AccountLink:
        """The onboarding address the practitioner is sent to."""
        ...

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        """The account now: whether its details are submitted and payouts enabled."""
        ...

    async def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination_account_id: str,
        idempotency_key: str,
        transfer_group: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Transfer:
        """Moves amount from the platform to a connected account's balance."""
        ...

    async def find_transfer(self, *, transfer_group: str) -> Transfer | None:
        """The transfer made in a transfer group (ours holds one payout's), None if none was:
        a transfer made before a crash is recognised by it after the provider has forgotten
        its idempotency key (Stripe keeps keys for 24 hours)."""
        ...

    async def create_transfer_reversal(
        self, transfer_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> TransferReversal:
        """Takes amount (all that is not reversed yet when None) of a transfer back from the
        connected account's balance to the platform's."""
        ...

    async def create_payout(
        self,
        *,
        account_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Payout:
        """Pays amount out of a connected account's balance to its bank (on that account)."""
        ...

    async def retrieve_payout(self, *, account_id: str, payout_id: str) -> Payout:
        """A connected account's payout as it stands now."""
        ...

    # Platform subscriptions
    async def create_price(
        self,
        *,
        tier: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        interval: str = "month",
    ) -> Price:
        """A recurring price for one platform tier (the tier in its metadata)."""
        ...

    async def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Subscription:
        """Subscribes a customer to a price, charging the first period at once."""
        ...

    async def change_subscription(
        self, subscription_id: str, *, price_id: str, timing: ChangeTiming, idempotency_key: str
    ) -> Subscription:
        """Moves a subscription to another price: at once (upgrade) or from the next period
        (downgrade)."""
        ...

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> Subscription:
        """Ends a subscription at once, or when its paid period ends."""
        ...

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        """The subscription as it stands now."""
        ...

    # Lifecycle
    def start(self) -> None:
        """Begins the provider's background work (the sandbox delivers its webhooks)."""
        ...

    async def aclose(self) -> None:
        """Ends background work and releases connections and files."""
        ...

    # Webhooks
    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        """The event in a webhook's raw body, verified against our webhook secret with a
        300 s tolerance, or WebhookRejected (WebhookSignatureInvalid, WebhookStale,
        WebhookMalformed)."""
        ...
