"""Which payment provider runs, from configuration: Stripe when a secret key is set, the
sandbox otherwise; a half-configured Stripe is refused at start, naming the setting."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from chassis.clock import Clock
from services.payments.provider.port import PaymentProvider
from services.payments.provider.sandbox import SandboxProvider, WebhookDelivery
from services.payments.provider.stripe import StripeProvider
from services.payments.settings import ONBOARDING_URL

SECRET_KEY_SETTING = "ESTUARY_STRIPE_SECRET_KEY"
WEBHOOK_SECRETS_SETTING = "ESTUARY_STRIPE_WEBHOOK_SECRETS"
API_BASE_SETTING = "ESTUARY_STRIPE_API_BASE"
SANDBOX_FILE = "payments-sandbox.db"


class ProviderMisconfigured(ValueError):
    """The provider's settings do not make a provider; the message names the setting."""


def webhook_secrets(value: str | None) -> list[str]:
    """The webhook signing secrets in a comma-separated setting (platform and Connect
    endpoints, or an old and a new one while a secret is rolled)."""
    return [secret.strip() for secret in (value or "").split(",") if secret.strip()]


def payment_provider(
    *,
    secret_key: str | None,
    webhook_secrets_setting: str | None,
    api_base: str | None,
    data_dir: Path,
    deliver: WebhookDelivery | None = None,
    clock: Clock | None = None,
    sandbox_onboarding_url: str | None = None,
) -> PaymentProvider:
    """The provider these settings ask for: Stripe (at api_base, if set) with a secret key and
    its webhook secrets; with neither, the sandbox in data_dir's payments-sandbox.db, whose
    webhooks go to deliver and whose onboarding links start with sandbox_onboarding_url (a
    route that hands the link to SandboxProvider.complete_onboarding). Anything in between is
    refused."""
    key = (secret_key or "").strip()
    secrets = webhook_secrets(webhook_secrets_setting)
    base = (api_base or "").strip()
    if key and not secrets:
        raise ProviderMisconfigured(
            f"{WEBHOOK_SECRETS_SETTING} must be set when {SECRET_KEY_SETTING} is: without it "
            "no webhook from Stripe can be verified"
        )
    if secrets and not key:
        raise ProviderMisconfigured(
            f"{SECRET_KEY_SETTING} must be set when {WEBHOOK_SECRETS_SETTING} is (or unset "
            "both to run on the sandbox)"
        )
    if base and not key:
        raise ProviderMisconfigured(
            f"{API_BASE_SETTING} is set but {SECRET_KEY_SETTING} is not: the sandbox calls no API"
        )
    if not key:
        return SandboxProvider(
            data_dir / SANDBOX_FILE,
            deliver=deliver,
            clock=clock,
            onboarding_url=sandbox_onboarding_url or ONBOARDING_URL,
        )
    if not key.startswith(("sk_", "rk_")):
        raise ProviderMisconfigured(
            f"{SECRET_KEY_SETTING} must be a Stripe secret or restricted key (sk_... or rk_...)"
        )
    if not all(secret.startswith("whsec_") for secret in secrets):
        raise ProviderMisconfigured(
            f"{WEBHOOK_SECRETS_SETTING} must hold Stripe signing secrets (whsec_...), "
            "separated by commas"
        )
    if base:
        address = urlsplit(base)
        if address.scheme not in ("http", "https") or not address.netloc:
            raise ProviderMisconfigured(
                f"{API_BASE_SETTING} must be an http(s) address such as https://api.stripe.com"
            )
    return StripeProvider(
        secret_key=key, webhook_secrets=secrets, api_base=base or None, clock=clock
    )
