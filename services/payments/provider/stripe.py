"""The payment provider on Stripe, through the official library's StripeClient (async calls).

Every write carries the caller's idempotency key, so the library's own retries and ours
after a crash reach Stripe as the same request. Payouts are made on the connected account
(the Stripe-Account header). The API base is configurable, so tests drive this very code
against a local server speaking Stripe's HTTP API.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar, cast

import stripe
from stripe._base_address import BaseAddresses

from chassis.clock import Clock
from services.payments.provider import stripe_format
from services.payments.provider.port import (
    AccountLink,
    ChangeTiming,
    ConnectedAccount,
    Customer,
    IdempotencyConflict,
    PaymentIntent,
    Payout,
    Price,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    Refund,
    Subscription,
    Transfer,
    TransferReversal,
    WebhookEvent,
)
from services.payments.provider.stripe_format import stripe_currency

T = TypeVar("T")

# The library retries connection failures and 409/429/5xx with the same idempotency key.
NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 30.0


def _translated(error: stripe.StripeError) -> ProviderError:
    """A library error in the port's words, keeping Stripe's code and parameter."""
    message = error.user_message or str(error._message or error)
    code = error.code
    param = getattr(error, "param", None)
    if isinstance(error, stripe.IdempotencyError):
        return IdempotencyConflict(message, code=code or "idempotency_key_in_use", param=param)
    if isinstance(error, stripe.APIConnectionError | stripe.RateLimitError):
        return ProviderUnavailable(message, code=code, param=param)
    if isinstance(error, stripe.APIError) or (error.http_status or 0) >= 500:
        return ProviderUnavailable(message, code=code, param=param)
    return ProviderRejected(message, code=code, param=param)


def _plain(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


class StripeProvider:
    """The port on Stripe's API (or any server speaking it at api_base)."""

    def __init__(
        self,
        *,
        secret_key: str,
        webhook_secrets: Sequence[str],
        api_base: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        addresses: BaseAddresses = {}
        if api_base:
            addresses = {"api": api_base, "connect": api_base, "files": api_base}
        http_client = stripe.HTTPXClient(timeout=TIMEOUT_SECONDS)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=addresses,
            max_network_retries=NETWORK_RETRIES,
            http_client=http_client,
        )
        self._http = http_client
        self._v1 = self._client.v1
        self._webhook_secrets = list(webhook_secrets)
        self._clock = clock or Clock()

    async def _call(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except stripe.StripeError as error:
            raise _translated(error) from error

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
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": amount,
            "currency": stripe_currency(currency),
            "metadata": {**(metadata or {}), "order_id": order_id},
        }
        if customer_id:
            params["customer"] = customer_id
        if payment_method:
            params["payment_method"] = payment_method
        intent = await self._call(
            self._v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key})
        )
        return stripe_format.payment_intent_from(_plain(intent))

    async def confirm_payment_intent(
        self, intent_id: str, *, idempotency_key: str, payment_method: str | None = None
    ) -> PaymentIntent:
        params: stripe.params.PaymentIntentConfirmParams = {}
        if payment_method:
            params["payment_method"] = payment_method
        try:
            intent = await self._v1.payment_intents.confirm_async(
                intent_id, params, {"idempotency_key": idempotency_key}
            )
        except stripe.CardError:
            # A decline is the intent's new state, not a failure of the call: read it back
            # (requires_payment_method with last_payment_error).
            return await self.retrieve_payment_intent(intent_id)
        except stripe.StripeError as error:
            raise _translated(error) from error
        return stripe_format.payment_intent_from(_plain(intent))

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> PaymentIntent:
        intent = await self._call(
            self._v1.payment_intents.cancel_async(
                intent_id, None, {"idempotency_key": idempotency_key}
            )
        )
        return stripe_format.payment_intent_from(_plain(intent))

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntent:
        intent = await self._call(self._v1.payment_intents.retrieve_async(intent_id))
        return stripe_format.payment_intent_from(_plain(intent))

    # Refunds
    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        idempotency_key: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Refund:
        params: stripe.params.RefundCreateParams = {"payment_intent": payment_intent_id}
        if amount is not None:
            params["amount"] = amount
        if metadata:
            params["metadata"] = dict(metadata)
        refund = await self._call(
            self._v1.refunds.create_async(params, {"idempotency_key": idempotency_key})
        )
        return stripe_format.refund_from(_plain(refund))

    async def retrieve_refund(self, refund_id: str) -> Refund:
        refund = await self._call(self._v1.refunds.retrieve_async(refund_id))
        return stripe_format.refund_from(_plain(refund))

    async def refunds_of(self, payment_intent_id: str) -> list[Refund]:
        # An intent is refunded a handful of times at most: one page holds them all.
        found = await self._call(
            self._v1.refunds.list_async({"payment_intent": payment_intent_id, "limit": 100})
        )
        return [stripe_format.refund_from(_plain(refund)) for refund in found.data]

    # Customers
    async def create_customer(
        self, *, user_id: str, email: str | None, name: str | None, idempotency_key: str
    ) -> Customer:
        params: stripe.params.CustomerCreateParams = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = await self._call(
            self._v1.customers.create_async(params, {"idempotency_key": idempotency_key})
        )
        return stripe_format.customer_from(_plain(customer))

    # Connect
    async def create_connected_account(
        self, *, practitioner_id: str, email: str | None, country: str, idempotency_key: str
    ) -> ConnectedAccount:
        params: stripe.params.AccountCreateParams = {
            "type": "express",
            "country": country,
            "capabilities": {"transfers": {"requested": True}},
            # We pay out per payout of ours (one transfer, one payout, each with its key);
            # Stripe's automatic schedule would drain the balance on its own.
            "settings": {"payouts": {"schedule": {"interval": "manual"}}},
            "metadata": {"practitioner_id": practitioner_id},
        }
        if email:
            params["email"] = email
        account = await self._call(
            self._v1.accounts.create_async(params, {"idempotency_key": idempotency_key})
        )
        return stripe_format.account_from(_plain(account))

    async def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> AccountLink:
        link = await self._call(
            self._v1.account_links.create_async(
                {
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return stripe_format.account_link_from(_plain(link))

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        account = await self._call(self._v1.accounts.retrieve_async(account_id))
        return stripe_format.account_from(_plain(account))

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
        params: stripe.params.TransferCreateParams = {
            "amount": amount,
            "currency": stripe_currency(currency),
            "destination": destination_account_id,
            "metadata": dict(metadata or {}),
        }
        if transfer_group:
            params["transfer_group"] = transfer_group
        transfer = await self._call(
            self._v1.transfers.create_async(params, {"idempotency_key": idempotency_key})
        )
        return stripe_format.transfer_from(_plain(transfer))

    async def find_transfer(self, *, transfer_group: str) -> Transfer | None:
        found = await self._call(
            self._v1.transfers.list_async({"transfer_group": transfer_group, "limit": 1})
        )
        return stripe_format.transfer_from(_plain(found.data[0])) if found.data else None

    async def create_transfer_reversal(
        self, transfer_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> TransferReversal:
        params: stripe.params.TransferReversalCreateParams = {}
        if amount is not None:
            params["amount"] = amount
        reversal = await self._call(
            self._v1.transfers.reversals.create_async(
                transfer_id, params, {"idempotency_key": idempotency_key}
            )
        )
        return stripe_format.transfer_reversal_from(_plain(reversal))

    async def create_payout(
        self,
        *,
        account_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Payout:
        payout = await self._call(
            self._v1.payouts.create_async(
                {
                    "amount": amount,
                    "currency": stripe_currency(currency),
                    "metadata": dict(metadata or {}),
                },
                {"idempotency_key": idempotency_key, "stripe_account": account_id},
            )
        )
        return stripe_format.payout_from(_plain(payout), account_id)

    async def retrieve_payout(self, *, account_id: str, payout_id: str) -> Payout:
        payout = await self._call(
            self._v1.payouts.retrieve_async(payout_id, None, {"stripe_account": account_id})
        )
        return stripe_format.payout_from(_plain(payout), account_id)

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
        price = await self._call(
            self._v1.prices.create_async(
                {
                    "unit_amount": amount,
                    "currency": stripe_currency(currency),
                    "recurring": {"interval": cast(Any, interval)},
                    "product_data": {"name": f"Estuary {tier}"},
                    "metadata": {"tier": tier},
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return stripe_format.price_from(_plain(price))

    async def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Subscription:
        params: stripe.params.SubscriptionCreateParams = {
            "customer": customer_id,
            "items": [{"price": price_id}],
            "metadata": dict(metadata or {}),
        }
        if payment_method:
            params["default_payment_method"] = payment_method
        subscription = await self._call(
            self._v1.subscriptions.create_async(params, {"idempotency_key": idempotency_key})
        )
        return stripe_format.subscription_from(_plain(subscription))

    async def change_subscription(
        self, subscription_id: str, *, price_id: str, timing: ChangeTiming, idempotency_key: str
    ) -> Subscription:
        current = await self._call(self._v1.subscriptions.retrieve_async(subscription_id))
        item_id = _plain(current)["items"]["data"][0]["id"]
        # An upgrade invoices the prorated difference now; a downgrade leaves the paid period
        # as it is and bills the new price from the next one.
        proration = "always_invoice" if timing is ChangeTiming.NOW else "none"
        subscription = await self._call(
            self._v1.subscriptions.update_async(
                subscription_id,
                {
                    "items": [{"id": item_id, "price": price_id}],
                    "proration_behavior": proration,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return stripe_format.subscription_from(_plain(subscription))

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> Subscription:
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        if at_period_end:
            request = self._v1.subscriptions.update_async(
                subscription_id, {"cancel_at_period_end": True}, options
            )
        else:
            request = self._v1.subscriptions.cancel_async(subscription_id, None, options)
        subscription = await self._call(request)
        return stripe_format.subscription_from(_plain(subscription))

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        subscription = await self._call(self._v1.subscriptions.retrieve_async(subscription_id))
        return stripe_format.subscription_from(_plain(subscription))

    # Lifecycle
    def start(self) -> None:
        """Stripe delivers its own webhooks: nothing runs in the background."""

    async def aclose(self) -> None:
        await self._http.close_async()

    # Webhooks
    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        return stripe_format.verify_webhook(
            payload, signature_header, self._webhook_secrets, now=self._clock.now()
        )
