"""Payments at the edge: checkout (/api/v1/checkout), Stripe's webhooks
(/api/v1/webhooks/stripe), a client's payments and credits, a practitioner's payout account,
payouts, platform subscription and gift cards (/api/v1/me/...), staff's promo codes
(/api/v1/admin/promo-codes), ledger (/api/v1/admin/ledger/...) and payout retries and,
on the sandbox provider only, the client's card step
(/api/v1/sandbox/payment-intents/{id}/confirm)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from chassis.wire import timestamp
from estuary.payments.v1 import payments_pb2 as pb
from gateway.auth import Caller, require_staff, require_user
from gateway.backends import Backends
from gateway.problems import responses
from gateway.routes.common import GatewayRouter, IdempotencyKey, anonymous, backends, json_response
from gateway.schemas.catalog import TIERS
from gateway.schemas.common import DEFAULT_LIMIT, ID_PATTERN, Cursor, Limit, Page, page_of
from gateway.schemas.payments import (
    ACCOUNT_KINDS,
    AccountKindName,
    AdjustmentBody,
    CheckoutBody,
    CheckoutOut,
    ClientPaymentOut,
    CreditsOut,
    GiftCardBody,
    GiftCardOut,
    GiftCardRedeemBody,
    GiftCardRedemptionOut,
    LedgerAccountOut,
    LedgerEntryOut,
    LedgerTransactionOut,
    PayoutAccountOut,
    PayoutBody,
    PayoutOnboardingOut,
    PayoutOut,
    PlatformSubscriptionOut,
    PromoCodeBody,
    PromoCodeOut,
    RedeemBody,
    RedemptionOut,
    SandboxConfirmBody,
    SubscribeBody,
    TierChangeBody,
    TopUpBody,
    TopUpOut,
    WebhookReceived,
)

router = GatewayRouter(prefix="/api/v1")
# The sandbox's stand-in for Stripe's hosted onboarding pages, where its account links point:
# pages a practitioner's browser opens, not API operations, so not in the API's document.
# Payments' sandbox makes its links to this path (its ONBOARDING_ROUTE; a test holds the two
# together, as a service is never imported here).
ONBOARDING_PAGES = "/sandbox/payout-onboarding"
sandbox_pages = GatewayRouter(prefix=ONBOARDING_PAGES, include_in_schema=False)
CHECKOUT: list[str | Enum] = ["checkout"]
WEBHOOKS: list[str | Enum] = ["webhooks"]
SANDBOX: list[str | Enum] = ["sandbox"]
PAYOUTS: list[str | Enum] = ["payouts"]
SUBSCRIPTIONS: list[str | Enum] = ["platform_subscriptions"]
CREDITS: list[str | Enum] = ["credits"]
PROMO_CODES: list[str | Enum] = ["promo_codes"]
GIFT_CARDS: list[str | Enum] = ["gift_cards"]
PAYMENTS: list[str | Enum] = ["payments"]
LEDGER: list[str | Enum] = ["ledger"]

IntentId = Annotated[str, Path(pattern=r"^pi_[A-Za-z0-9]{1,100}$")]
AccountLinkToken = Annotated[str, Path(pattern=r"^al_[A-Za-z0-9]{1,64}$")]


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
    intent (a checkout's, or a credit top-up's) with a test payment method; the outcome
    reaches the booking or your credit through the webhook, as with Stripe. 404 when payments
    runs on Stripe, or for an intent not yours."""
    checkout = await api.payments.ConfirmSandboxPayment(
        pb.ConfirmSandboxPaymentRequest(
            payment_intent_id=payment_intent_id, payment_method=body.payment_method
        ),
        metadata=caller.metadata(),
    )
    return json_response(CheckoutOut.from_proto(checkout))


ONBOARDING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Payout onboarding (sandbox)</title></head>
<body><h1>Payout onboarding (sandbox)</h1>
<p>This stands in for Stripe's hosted onboarding: no details are asked for here.</p>
<form method="post"><button type="submit">Finish onboarding</button></form></body></html>
"""


@sandbox_pages.get("/{token}", response_class=HTMLResponse)
async def sandbox_onboarding_page(token: AccountLinkToken) -> Response:
    """The page an account link opens on the sandbox: one button finishes onboarding."""
    return HTMLResponse(ONBOARDING_PAGE, headers={"Cache-Control": "no-store"})


@sandbox_pages.post("/{token}")
async def finish_sandbox_onboarding(
    token: AccountLinkToken, api: Backends = Depends(backends)
) -> Response:
    """Finishes onboarding at an account link (single-use, expiring: the link is the
    credential, as Stripe's is) and sends the browser on: to the link's return URL, or to its
    refresh URL when it had expired or was used. 404 on Stripe or for an unknown link."""
    finished = await api.payments.CompleteSandboxOnboarding(
        pb.CompleteSandboxOnboardingRequest(token=token), metadata=anonymous()
    )
    return RedirectResponse(finished.next_url, status_code=303)


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


@router.post(
    "/me/credits/top-ups",
    operation_id="credits.top_up",
    tags=CREDITS,
    status_code=201,
    response_model=TopUpOut,
    responses=responses(400, 409),
)
async def top_up_credits(
    body: TopUpBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Tops up your credit by card: a payment intent for the amount, to confirm with its
    client_secret; the credit is yours once the provider says it is paid (its webhook), and
    checkout spends it first. 400 naming amount.amount_minor outside the bounds (5.00 to
    500.00 by default); 409 PAYMENT_PROVIDER_REFUSED. A retry with the same Idempotency-Key
    answers the same top-up and intent."""
    made = await api.payments.CreateCreditPurchase(
        pb.CreateCreditPurchaseRequest(
            amount=body.amount.to_proto(), request_id=idempotency_key or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(TopUpOut.from_proto(made), 201)


@router.get(
    "/me/credits",
    operation_id="credits.get",
    tags=CREDITS,
    response_model=CreditsOut,
    responses=responses(400),
)
async def get_credits(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your credit balance in each currency, and its movements newest first (top-ups, promo
    codes, gift cards, spends at checkout, refunds to credit, given credit that expired),
    paged by cursor. Credit from promo codes and gift cards expires unspent after a while
    (checkout spends it first, the soonest to expire first); top-ups never expire."""
    found = await api.payments.GetCredits(
        pb.GetCreditsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(CreditsOut.from_proto(found))


@router.post(
    "/me/credits/redemptions",
    operation_id="credits.redeem",
    tags=CREDITS,
    status_code=201,
    response_model=RedemptionOut,
    responses=responses(400, 404, 409),
)
async def redeem_promo_code(
    body: RedeemBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Redeems a promo code: its amount goes into your credit, once per client. 404 for an
    unknown code; 409 PROMO_CODE_EXPIRED, PROMO_CODE_EXHAUSTED (redeemed by as many clients
    as it may be), PROMO_CODE_ALREADY_REDEEMED."""
    redeemed = await api.payments.RedeemPromoCode(
        pb.RedeemPromoCodeRequest(code=body.code), metadata=caller.metadata()
    )
    return json_response(RedemptionOut.from_proto(redeemed), 201)


@router.post(
    "/me/gift-cards",
    operation_id="gift_cards.create",
    tags=GIFT_CARDS,
    status_code=201,
    response_model=GiftCardOut,
    responses=responses(400, 409),
)
async def buy_gift_card(
    body: GiftCardBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Buys a gift card by card: a payment intent for the amount, to confirm with its
    client_secret; the card may be redeemed once the provider says it is paid (its webhook).
    Its code is in this answer only (kept as a hash). 400 naming amount.amount_minor outside
    the bounds; 409 PAYMENT_PROVIDER_REFUSED. A retry with the same Idempotency-Key answers
    the same card and intent (a new code while it is not paid for, none once it is)."""
    made = await api.payments.CreateGiftCard(
        pb.CreateGiftCardRequest(amount=body.amount.to_proto(), request_id=idempotency_key or ""),
        metadata=caller.metadata(),
    )
    return json_response(GiftCardOut.from_proto(made), 201)


@router.post(
    "/me/gift-cards/redemptions",
    operation_id="gift_cards.redeem",
    tags=GIFT_CARDS,
    status_code=201,
    response_model=GiftCardRedemptionOut,
    responses=responses(400, 404, 409),
)
async def redeem_gift_card(
    body: GiftCardRedeemBody,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Redeems a gift card (whoever bought it): its amount goes into your credit, once, and
    what is left of it unspent expires after ESTUARY_GIFT_CARD_CREDIT_DAYS. 400 naming code
    for a code not of a gift card's form; 404 GIFT_CARD_NOT_FOUND; 409 GIFT_CARD_NOT_PAID,
    GIFT_CARD_EXPIRED, GIFT_CARD_ALREADY_REDEEMED."""
    redeemed = await api.payments.RedeemGiftCard(
        pb.RedeemGiftCardRequest(code=body.code), metadata=caller.metadata()
    )
    return json_response(GiftCardRedemptionOut.from_proto(redeemed), 201)


@router.post(
    "/admin/promo-codes",
    operation_id="promo_codes.create",
    tags=PROMO_CODES,
    status_code=201,
    response_model=PromoCodeOut,
    responses=responses(400, 409),
)
async def create_promo_code(
    body: PromoCodeBody,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff make a promo code giving each client who redeems it its amount in credit, up to
    max_redemptions clients, until expires_at; filed in the audit log. 409
    PROMO_CODE_EXISTS for a code taken (whatever its case)."""
    made = await api.payments.CreatePromoCode(
        pb.CreatePromoCodeRequest(
            code=body.code,
            amount=body.amount.to_proto(),
            max_redemptions=body.max_redemptions,
            expire_time=timestamp(body.expires_at),
        ),
        metadata=caller.metadata(),
    )
    return json_response(PromoCodeOut.from_proto(made), 201)


@router.get(
    "/admin/promo-codes",
    operation_id="promo_codes.list",
    tags=PROMO_CODES,
    response_model=Page[PromoCodeOut],
    responses=responses(400),
)
async def list_promo_codes(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Every promo code, newest first, with how many clients redeemed each (staff)."""
    found = await api.payments.ListPromoCodes(
        pb.ListPromoCodesRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [PromoCodeOut.from_proto(p) for p in found.promo_codes],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/me/payments",
    operation_id="payments.list",
    tags=PAYMENTS,
    response_model=Page[ClientPaymentOut],
    responses=responses(400),
)
async def list_my_payments(
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_user),
    api: Backends = Depends(backends),
) -> Response:
    """Your checkouts, newest first: status, price, what credits covered, and the refunds
    made on each (to your card and to your credit)."""
    found = await api.payments.ListClientPayments(
        pb.ListClientPaymentsRequest(page_size=limit, page_token=cursor or ""),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [ClientPaymentOut.from_proto(p) for p in found.payments],
            found.next_page_token,
            found.total_size,
        )
    )


OwnerFilter = Annotated[
    str | None,
    Query(
        pattern=r"^(platform|external|users/[0-9a-f-]{36})$",
        description='"users/{user_id}", "platform" or "external".',
    ),
]
KindFilter = Annotated[AccountKindName | None, Query()]
CurrencyFilter = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")]
AccountId = Annotated[str, Path(pattern=ID_PATTERN)]
PayoutId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get(
    "/admin/ledger/accounts",
    operation_id="ledger.list_accounts",
    tags=LEDGER,
    response_model=Page[LedgerAccountOut],
    responses=responses(400),
)
async def list_ledger_accounts(
    owner: OwnerFilter = None,
    kind: KindFilter = None,
    currency: CurrencyFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Ledger accounts with their balances, newest first, by owner, kind and currency
    (staff)."""
    found = await api.payments.ListLedgerAccounts(
        pb.ListLedgerAccountsRequest(
            owner=owner or "",
            kind=ACCOUNT_KINDS.to_proto(kind) if kind else 0,
            currency=currency or "",
            page_size=limit,
            page_token=cursor or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [LedgerAccountOut.from_proto(a) for a in found.accounts],
            found.next_page_token,
            found.total_size,
        )
    )


@router.get(
    "/admin/ledger/accounts/{account_id}/entries",
    operation_id="ledger.list_entries",
    tags=LEDGER,
    response_model=Page[LedgerEntryOut],
    responses=responses(400, 404),
)
async def list_ledger_entries(
    account_id: AccountId,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """One account's postings, newest first, each with its transaction and the balance it
    left (staff). 404 for an unknown account."""
    found = await api.payments.ListLedgerEntries(
        pb.ListLedgerEntriesRequest(
            account=f"ledgerAccounts/{account_id}", page_size=limit, page_token=cursor or ""
        ),
        metadata=caller.metadata(),
    )
    return json_response(
        page_of(
            [LedgerEntryOut.from_proto(e) for e in found.entries],
            found.next_page_token,
            found.total_size,
        )
    )


@router.post(
    "/admin/ledger/adjustments",
    operation_id="ledger.adjust",
    tags=LEDGER,
    status_code=201,
    response_model=LedgerTransactionOut,
    responses=responses(400, 403, 409),
)
async def create_ledger_adjustment(
    body: AdjustmentBody,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff correct the ledger: one balanced adjustment transaction of the legs, filed in
    the audit log with its reason. 400 naming the field (legs not summing to zero, an
    account unknown or of another currency, an account named twice); 409
    INSUFFICIENT_FUNDS naming the leg that would take a client's credit or a practitioner's
    earnings below zero (nothing posted); 403 OWN_ACCOUNT for a leg on your own money. A
    retry with the same Idempotency-Key answers the same transaction."""
    made = await api.payments.CreateLedgerAdjustment(
        pb.CreateLedgerAdjustmentRequest(
            reason=body.reason,
            currency=body.currency,
            legs=[
                pb.AdjustmentLeg(
                    account=f"ledgerAccounts/{leg.account_id}", amount_minor=leg.amount_minor
                )
                for leg in body.legs
            ],
            request_id=idempotency_key or "",
        ),
        metadata=caller.metadata(),
    )
    return json_response(LedgerTransactionOut.from_proto(made), 201)


@router.post(
    "/admin/payouts/{payout_id}/retry",
    operation_id="payouts.retry",
    tags=PAYOUTS,
    status_code=201,
    response_model=PayoutOut,
    responses=responses(403, 404, 409),
)
async def retry_payout(
    payout_id: PayoutId,
    idempotency_key: IdempotencyKey = None,
    caller: Caller = Depends(require_staff),
    api: Backends = Depends(backends),
) -> Response:
    """Staff pay a failed payout's practitioner out again: a new payout of their whole
    available balance in its currency (where the failed payout's money went back), filed in
    the audit log. 409 PAYOUT_NOT_FAILED, PAYOUTS_NOT_ENABLED, or BELOW_PAYOUT_MINIMUM (e.g.
    paid out again already); 403 OWN_ACCOUNT for your own payout. A retry with the same
    Idempotency-Key answers the same new payout."""
    payout = await api.payments.RetryPayout(
        pb.RetryPayoutRequest(name=f"payouts/{payout_id}", request_id=idempotency_key or ""),
        metadata=caller.metadata(),
    )
    return json_response(PayoutOut.from_proto(payout), 201)
