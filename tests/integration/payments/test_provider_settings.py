"""The provider payments is built with, from its settings: Stripe with a key and webhook
secrets, the sandbox with neither, and a half configuration refused at start naming what is
missing; the secrets never shown in the settings' repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from services.payments import bootstrap
from services.payments.provider.config import SANDBOX_FILE, ProviderMisconfigured
from services.payments.provider.sandbox import SandboxProvider
from services.payments.provider.stripe import StripeProvider
from services.payments.settings import PaymentsSettings

KEY = "sk_test_" + "k" * 24
SECRET = "whsec_" + "s" * 32


def build(tmp_path: Path, **settings: str) -> bootstrap.PaymentsService:
    return bootstrap.build(
        PaymentsSettings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/payments.db", grpc_port=0, **settings
        ),
        transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)),
    )


async def test_with_a_key_and_its_webhook_secrets_payments_runs_on_stripe(tmp_path):
    service = build(tmp_path, stripe_secret_key=KEY, stripe_webhook_secrets=SECRET)
    try:
        assert isinstance(service.provider, StripeProvider)
        assert KEY not in repr(service.runtime.settings)
        assert SECRET not in repr(service.runtime.settings)
    finally:
        await service.provider.aclose()


async def test_with_neither_payments_runs_on_the_sandbox_beside_its_database(tmp_path):
    service = build(tmp_path)
    try:
        assert isinstance(service.provider, SandboxProvider)
        assert (tmp_path / SANDBOX_FILE).exists()
        # Once the gateway listens, the sandbox's webhooks go to its route.
        service.gateway_started("http://127.0.0.1:8123/")
        assert service.webhooks is not None
        assert service.webhooks.url == "http://127.0.0.1:8123/api/v1/webhooks/stripe"
    finally:
        await service.provider.aclose()


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"stripe_secret_key": KEY}, "ESTUARY_STRIPE_WEBHOOK_SECRETS"),
        ({"stripe_webhook_secrets": SECRET}, "ESTUARY_STRIPE_SECRET_KEY"),
        ({"stripe_api_base": "http://127.0.0.1:12111"}, "ESTUARY_STRIPE_API_BASE"),
    ],
)
async def test_half_a_stripe_configuration_refuses_to_start(tmp_path, settings, named):
    with pytest.raises(ProviderMisconfigured) as refused:
        build(tmp_path, **settings)
    assert named in str(refused.value)
