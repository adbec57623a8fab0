"""The provider chosen by configuration: Stripe with a key and its webhook secrets, the
sandbox with neither, and a half-configured provider refused with the setting it lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.payments.provider.config import ProviderMisconfigured, payment_provider
from services.payments.provider.sandbox import SandboxProvider
from services.payments.provider.stripe import StripeProvider


async def test_nothing_configured_runs_the_sandbox_in_the_data_folder(tmp_path: Path):
    provider = payment_provider(
        secret_key=None, webhook_secrets_setting=None, api_base=None, data_dir=tmp_path
    )
    assert isinstance(provider, SandboxProvider)
    await provider.aclose()
    assert (tmp_path / "payments-sandbox.db").exists()


async def test_the_sandboxs_onboarding_links_point_where_we_say(tmp_path: Path):
    provider = payment_provider(
        secret_key=None,
        webhook_secrets_setting=None,
        api_base=None,
        data_dir=tmp_path,
        sandbox_onboarding_url="http://127.0.0.1:8100/api/v1/sandbox/onboarding/",
    )
    try:
        account = await provider.create_connected_account(
            practitioner_id="p1", email=None, country="DE", idempotency_key="account:p1"
        )
        link = await provider.create_account_link(
            account_id=account.id,
            refresh_url="https://app/refresh",
            return_url="https://app/done",
            idempotency_key="link:p1",
        )
    finally:
        await provider.aclose()
    assert link.url.startswith("http://127.0.0.1:8100/api/v1/sandbox/onboarding/al_")


async def test_a_key_and_webhook_secrets_run_stripe(tmp_path: Path):
    provider = payment_provider(
        secret_key="sk_test_123",
        webhook_secrets_setting="whsec_a, whsec_b",
        api_base="http://127.0.0.1:12111",
        data_dir=tmp_path,
    )
    assert isinstance(provider, StripeProvider)
    await provider.aclose()
    assert not (tmp_path / "payments-sandbox.db").exists()


@pytest.mark.parametrize(
    ("key", "secrets", "base", "named"),
    [
        ("sk_test_123", None, None, "ESTUARY_STRIPE_WEBHOOK_SECRETS must be set"),
        ("sk_test_123", " , ", None, "ESTUARY_STRIPE_WEBHOOK_SECRETS must be set"),
        (None, "whsec_a", None, "ESTUARY_STRIPE_SECRET_KEY must be set"),
        (None, None, "http://127.0.0.1:12111", "ESTUARY_STRIPE_API_BASE is set"),
        ("pk_test_123", "whsec_a", None, "ESTUARY_STRIPE_SECRET_KEY must be a Stripe secret"),
        ("sk_test_123", "whsec_a,secret", None, "ESTUARY_STRIPE_WEBHOOK_SECRETS must hold"),
        ("sk_test_123", "whsec_a", "api.stripe.com", "ESTUARY_STRIPE_API_BASE must be"),
    ],
)
def test_a_half_configured_provider_is_refused_naming_the_setting(
    tmp_path, key, secrets, base, named
):
    with pytest.raises(ProviderMisconfigured, match=named):
        payment_provider(
            secret_key=key, webhook_secrets_setting=secrets, api_base=base, data_dir=tmp_path
        )
    assert not (tmp_path / "payments-sandbox.db").exists()
