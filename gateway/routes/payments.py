"""Payments at the edge: checkout (/api/v1/checkout), Stripe's webhooks
(/api/v1/webhooks/stripe), a practitioner's payout account, payouts and platform
subscription (/api/v1/me/...) and, on the sandbox provider only, the client's card step
(/api/v1/sandbox/payment-intents/{id}/confirm)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request
from starlette.responses import Response

from estuary.payments.v1 import payments_pb2 as pb
from gateway.auth import Caller, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.catalog import TIERS
from gateway.schemas.common import DEFAULT_LIMIT, Cursor, Limit, Page, page_of
from gateway.schemas.payments import (
    CheckoutBody,
    CheckoutOut,
    PayoutAccountOut,
    PayoutBody,
    PayoutOnboardingOut,
    PayoutOut,
    PlatformSubscriptionOut,
    SandboxConfirmBody,
    SubscribeBody,
    TierChangeBody,
    WebhookReceived,
)

router = APIRouter(prefix="/api/v1")
CHECKOUT: list[str | Enum] = ["checkout"]
WEBHOOKS: list[str | Enum] = ["webhooks"]
SANDBOX: list[str | Enum] = ["sandbox"]
PAYOUTS: list[str | Enum] = ["payouts"]
SUBSCRIPTIONS: list[str | Enum] = ["platform_subscriptions"]

IntentId = Annotated[str, Path(pattern=r"^pi_[A-Za-z0-9]{1,100}$")]


@router.post(
    "/checkout",
    operation_id="checkout.create",
    tags=CHECKOUT,
    status_code=201,
    response_model=CheckoutOut,
    responses=responses(404, 409),
)
async def create_checkout(
    body: CheckoutBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Checks out a booking of yours awaiting payment: the price is booking's, your credits
    pay first, and the rest is a payment intent to confirm with its client_secret (status
    succeeded when credits covered it all). One order per booking: checking out again
    answers the same order. 404 for a booking that is not yours (or was made a moment ago
    and is not known yet: retry); 409 BOOKING_NOT_PENDING_PAYMENT for one paid, cancelled or
    lapsed."""
    checkout = await api.payments.CreateCheckout(
        pb.CreateCheckoutRequest(
            booking=f"bookings/{body.booking_id}", request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(CheckoutOut.from_proto(checkout), 201)


@router.post(
    "/webhooks/stripe",
    operation_id="webhooks.stripe",
    tags=WEBHOOKS,
    response_model=WebhookReceived,
    responses=responses(400),
)
async def stripe_webhook(
    request: Request,
    stripe_signature: Annotated[
        str | None, Header(alias="Stripe-Signature", max_length=2000)
    ] = None,
    api: Backends = Depends(backends),
) -> Response:
    """Stripe's events (the raw body, signed in Stripe-Signature): verified by payments and
    applied once each, however often they come. 400 WEBHOOK_BAD_SIGNATURE, WEBHOOK_STALE
    (signed over 300 s ago) or WEBHOOK_MALFORMED, and nothing applied."""
    received = await api.payments.ReceiveStripeEvent(
        pb.ReceiveStripeEventRequest(
            payload=await request.body(), signature=stripe_signature or ""
        ),
        metadata=anonymous(),
    )
    return json_response(
        WebhookReceived.model_construct(event_id=received.event_id, applied=received.applied)
    )


@router.post(
    "/sandbox/payment-intents/{payment_intent_id}/confirm",
    operation_id="sandbox.confirm_payment",
    tags=SANDBOX,
    response_model=CheckoutOut,
    responses=responses(404, 409),
)
async def confirm_sandbox_payment(
    payment_intent_id: IntentId,
    body: SandboxConfirmBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """The sandbox provider's stand-in for the card form (Stripe.js): pays your payment
    intent with a test payment method; the outcome reaches the booking through the webhook,
    as with Stripe. 404 when payments runs on Stripe, or for an intent not yours."""
    checkout = await api.payments.ConfirmSandboxPayment(
        pb.ConfirmSandboxPaymentRequest(
            payment_intent_id=payment_intent_id, payment_method=body.payment_method
        ),
        metadata=caller.metadata(),
    )
    return json_response(CheckoutOut.from_proto(checkout))


@router.post(
    "/me/payout-account",
    operation_id="payouts.create_account",
    tags=PAYOUTS,
    status_code=201,
    response_model=PayoutOnboardingOut,
    responses=responses(403),
)
async def create_payout_account(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Your Stripe Connect account (made once, whatever the retries) and a fresh single-use
    link to onboard it: send the practitioner to onboarding_url. 403 for anyone not a
    practitioner."""
    onboarding = await api.payments.CreatePayoutAccount(
        pb.CreatePayoutAccountRequest(), metadata=caller.metadata()
    )
    return json_response(PayoutOnboardingOut.from_proto(onboarding), 201)


@router.get(
    "/me/payout-account",
    operation_id="payouts.get_account",
    tags=PAYOUTS,
    response_model=PayoutAccountOut,
    responses=responses(404),
)
async def get_payout_account(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Your payout account and whether payouts are enabled (onboarding done). 404 before
    POST /me/payout-account."""
    account = await api.payments.GetPayoutAccount(
        pb.GetPayoutAccountRequest(), metadata=caller.metadata()
    )
    return json_response(PayoutAccountOut.from_proto(account))


@router.post(
    "/me/payouts",
    operation_id="payouts.create",
    tags=PAYOUTS,
    status_code=201,
    response_model=PayoutOut,
    responses=responses(400, 403, 409),
)
async def create_payout(
    body: PayoutBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Pays your whole available balance in a currency out to your bank. 409
    PAYOUTS_NOT_ENABLED before onboarding is done, BELOW_PAYOUT_MINIMUM under the
    currency's minimum (50.00 by default), INSUFFICIENT_FUNDS when a concurrent payout took
    it first; 403 for anyone not a practitioner. A retry with the same Idempotency-Key
    answers the same payout."""
    payout = await api.payments.CreatePayout(
        pb.CreatePayoutRequest(currency=body.currency, request_id=idempotency_key or ""),
        metadata=caller.metadata(),
    )
    return json_response(PayoutOut.from_proto(payout), 201)


@router.get(
    "/me/payouts",
    operation_id="payouts.list",
    tags=PAYOUTS,
    response_model=Page[PayoutOut],
    responses=responses(400),
)
async def list_payouts(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your payouts, newest first."""
    found = await api.payments.ListPayouts(
        pb.ListPayoutsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [PayoutOut.from_proto(p) for p in found.payouts],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/me/platform-subscription",
    operation_id="platform_subscriptions.get",
    tags=SUBSCRIPTIONS,
    response_model=PlatformSubscriptionOut,
    responses=responses(404),
)
async def get_platform_subscription(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Your latest platform subscription, live or ended; held_tier is the tier you have now
    (your service limit and commission). 404 if you never subscribed: you are on free."""
    found = await api.payments.GetPlatformSubscription(
        pb.GetPlatformSubscriptionRequest(), metadata=caller.metadata()
    )
    return json_response(PlatformSubscriptionOut.from_proto(found))


@router.post(
    "/me/platform-subscription",
    operation_id="platform_subscriptions.create",
    tags=SUBSCRIPTIONS,
    status_code=201,
    response_model=PlatformSubscriptionOut,
    responses=responses(400, 403, 409),
)
async def create_platform_subscription(
    body: SubscribeBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Subscribes you (a practitioner) to entry or premium, the first month charged to the
    payment method at once: the tier is yours when it is paid (catalog's service limit and
    your commission follow). 409 SUBSCRIPTION_EXISTS when you have one (change its tier
    instead), PAYMENT_DECLINED when the first payment is refused (nothing charged or
    granted; try another card); 403 for anyone not a practitioner. A retry with the same
    Idempotency-Key answers the same subscription."""
    made = await api.payments.CreatePlatformSubscription(
        pb.CreatePlatformSubscriptionRequest(
            tier=TIERS.to_proto(body.tier),
            payment_method=body.payment_method,
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(PlatformSubscriptionOut.from_proto(made), 201)


@router.patch(
    "/me/platform-subscription",
    operation_id="platform_subscriptions.change_tier",
    tags=SUBSCRIPTIONS,
    response_model=PlatformSubscriptionOut,
    responses=responses(400, 403, 404, 409),
)
async def change_platform_tier(
    body: TierChangeBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Moves your subscription to another tier: up at once (the rest of the period charged
    now), down from the next period (the paid one kept), free by cancelling at the period's
    end; the tier you hold undoes a downgrade asked for. 404 without a paid subscription;
    409 SUBSCRIPTION_ENDING once cancelled, PAYMENT_DECLINED when an upgrade's charge is
    refused."""
    changed = await api.payments.UpdatePlatformSubscription(
        pb.UpdatePlatformSubscriptionRequest(tier=TIERS.to_proto(body.tier)),
        metadata=caller.metadata(),
    )
    return json_response(PlatformSubscriptionOut.from_proto(changed))


@router.delete(
    "/me/platform-subscription",
    operation_id="platform_subscriptions.cancel",
    tags=SUBSCRIPTIONS,
    response_model=PlatformSubscriptionOut,
    responses=responses(403, 404),
)
async def cancel_platform_subscription(
    caller: Caller = Depends(require_user), api: Backends = Depends(backends)
) -> Response:
    """Cancels your subscription at the end of its paid period: you keep its tier until
    then, then you are on free. Asking again changes nothing. 404 without a paid
    subscription."""
    cancelled = await api.payments.CancelPlatformSubscription(
        pb.CancelPlatformSubscriptionRequest(), metadata=caller.metadata()
    )
    return json_response(PlatformSubscriptionOut.from_proto(cancelled))
