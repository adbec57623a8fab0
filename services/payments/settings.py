"""Payments' configuration: the chassis's settings plus commissions, holds and payouts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

from pydantic import BaseModel, Field, field_validator, model_validator

from chassis.money import Money, is_currency, minor_unit_exponent
from chassis.settings import ServiceSettings


class CommissionRates(BaseModel):
    """The platform's commission per tier, in basis points (2000 = 20%), from a moment on."""

    effective_from: datetime
    free_bps: int = Field(ge=0, le=10_000)
    entry_bps: int = Field(ge=0, le=10_000)
    premium_bps: int = Field(ge=0, le=10_000)

    @field_validator("effective_from")
    @classmethod
    def _an_instant(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must name its offset, e.g. 2026-01-01T00:00:00Z")
        return value.astimezone(UTC)


# The design's tiers from the start of time: Free 20%, Entry 15%, Premium 10%. Written as
# the environment would write it (JSON), and validated like it.
DEFAULT_COMMISSIONS = [
    {
        "effective_from": "2000-01-01T00:00:00Z",
        "free_bps": 2000,
        "entry_bps": 1500,
        "premium_bps": 1000,
    }
]


ONBOARDING_ROUTE = "/sandbox/payout-onboarding"
# Where the sandbox's onboarding links point unless told: the gateway's stand-in for Stripe's
# hosted onboarding pages, at the embedded gateway's default address.
ONBOARDING_URL = "http://127.0.0.1:8000" + ONBOARDING_ROUTE


class PaymentsSettings(ServiceSettings):
    """ESTUARY_* environment variables read by the payments service."""

    service_name: str = "payments"
    database_url: str = "sqlite+aiosqlite:///var/data/payments.db"
    metrics_port: int = 9467
    commission_rates: list[CommissionRates] = Field(
        default_factory=lambda: [dict(rates) for rates in DEFAULT_COMMISSIONS],
        validate_default=True,
        min_length=1,
        description="The commission schedule, as JSON: a list of {effective_from, free_bps, "
        "entry_bps, premium_bps}; a booking pays the rates in effect when it completed.",
    )
    earning_hold_hours: int = Field(
        48,
        ge=0,
        le=24 * 365,
        description="How long after a booking completes its earning stays pending before it "
        "may be paid out (refunds and disputes come in this window).",
    )
    payout_minimum: Decimal = Field(
        Decimal("50.00"),
        gt=0,
        description="The smallest payout, in each currency's major units (50.00 EUR, 50 JPY).",
    )
    payout_minimums: dict[str, Decimal] = Field(
        default_factory=dict,
        description='Per-currency exceptions to payout_minimum, as JSON: {"JPY": 5000}.',
    )
    payout_interval_hours: float = Field(
        24 * 7,
        gt=0,
        description="How often every practitioner with payouts enabled is paid out their "
        "available balance (weekly).",
    )
    payout_country: str = Field(
        "DE",
        pattern="^[A-Z]{2}$",
        description="The country practitioners' connected accounts are opened in (ISO 3166).",
    )
    payout_onboarding_url: str = Field(
        "http://127.0.0.1:8000/api/v1/me/payout-account",
        description="Where a practitioner returns from the provider's onboarding pages (and "
        "is sent again when a link has expired).",
    )
    platform_currency: str = Field(
        "USD",
        pattern="^[A-Z]{3}$",
        description="The currency practitioners' platform subscriptions are billed in.",
    )
    platform_tier_prices: dict[str, Decimal] = Field(
        # Written as the environment would write it (JSON), and validated like it.
        default_factory=lambda: {"entry": "29.00", "premium": "79.00"},
        validate_default=True,
        description="The monthly price of each paid platform tier in major units, as JSON: "
        '{"entry": 29.00, "premium": 79.00}. A changed price applies to new subscriptions '
        "and changes of tier; subscribers keep theirs until they change.",
    )
    credit_top_up_minimum: Decimal = Field(
        Decimal("5.00"),
        gt=0,
        description="The smallest credit top-up by card, in each currency's major units.",
    )
    credit_top_up_maximum: Decimal = Field(
        Decimal("500.00"),
        gt=0,
        description="The largest credit top-up by card, in each currency's major units.",
    )
    tip_minimum: Decimal = Field(
        Decimal("1.00"),
        gt=0,
        description="The smallest tip to a creator, in the stream currency's major units.",
    )
    tip_maximum: Decimal = Field(
        Decimal("500.00"),
        gt=0,
        description="The largest tip to a creator, in the stream currency's major units (a "
        "mistyped amount, or a stolen card's, stays within it).",
    )
    promo_credit_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="How long credit given by a promo code lasts after its redemption; what "
        "is left unspent then goes (top-ups and refunds to credit never expire).",
    )
    gift_card_valid_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="How long after its purchase a gift card's code may be redeemed.",
    )
    gift_card_credit_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="How long credit from a redeemed gift card lasts after its redemption; "
        "what is left unspent then goes.",
    )
    external_event_retention_days: int = Field(
        30,
        ge=4,
        le=3650,
        description="How long an applied Stripe event's id is kept to refuse a redelivery; "
        "Stripe retries a delivery for up to three days, and a signature older than 300 s is "
        "refused anyway.",
    )
    job_interval_seconds: float = Field(
        15.0,
        gt=0,
        description="How often the earnings release and credit expiry jobs run.",
    )
    job_batch_size: int = Field(200, ge=1, le=10_000, description="Rows one job run handles.")
    stripe_secret_key: str = Field(
        "",
        repr=False,
        description="A Stripe secret or restricted key: set, payments runs on Stripe; unset "
        "(with the two below), on the sandbox.",
    )
    stripe_webhook_secrets: str = Field(
        "",
        repr=False,
        description="Stripe's webhook signing secrets (whsec_...), separated by commas.",
    )
    stripe_api_base: str = Field("", description="Where Stripe's API is; unset for Stripe.")
    sandbox_dir: str = Field(
        "",
        description="Where the sandbox keeps its file (payments-sandbox.db): beside a SQLite "
        "database when unset, else var/data.",
    )
    sandbox_webhook_url: str = Field(
        "http://127.0.0.1:8000/api/v1/webhooks/stripe",
        description="The gateway's Stripe webhook route, which the sandbox delivers its "
        "events to (the embedded suite points it at its own gateway).",
    )
    streams_address: str = Field(
        "127.0.0.1:50056",
        description="Where streams' gRPC API is (what a tip or an unlock is sold for, and to "
        "whom the money goes).",
    )
    sandbox_onboarding_url: str = Field(
        ONBOARDING_URL,
        description="Where the sandbox's payout onboarding links point: the gateway's "
        "stand-in for Stripe's hosted onboarding pages (the embedded suite points it at its "
        "own gateway).",
    )

    @field_validator("commission_rates")
    @classmethod
    def _distinct_moments(cls, value: list[CommissionRates]) -> list[CommissionRates]:
        moments = [rates.effective_from for rates in value]
        if len(set(moments)) != len(moments):
            raise ValueError("two rate sets take effect at the same moment")
        return sorted(value, key=lambda rates: rates.effective_from)

    @field_validator("payout_minimums")
    @classmethod
    def _currencies(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency, minimum in value.items():
            if not is_currency(currency):
                raise ValueError(f"{currency!r} is not an ISO 4217 currency code")
            if minimum <= 0:
                raise ValueError(f"the minimum for {currency} must be above zero")
        return value

    @field_validator("platform_tier_prices")
    @classmethod
    def _paid_tiers(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        if set(value) != {"entry", "premium"}:
            raise ValueError("name the price of exactly the paid tiers: entry and premium")
        if any(price <= 0 for price in value.values()):
            raise ValueError("a paid tier's price must be above zero")
        return value

    @field_validator("platform_currency")
    @classmethod
    def _platform_currency(cls, value: str) -> str:
        if not is_currency(value):
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value

    def tier_price(self, tier: str) -> Money:
        """A paid tier's monthly price in the platform's currency, in minor units."""
        exponent = minor_unit_exponent(self.platform_currency)
        minor = (self.platform_tier_prices[tier] * 10**exponent).to_integral_value(ROUND_CEILING)
        return Money(int(minor), self.platform_currency)

    def sandbox_folder(self) -> Path:
        """Where the sandbox's file lives: sandbox_dir, else beside the SQLite database."""
        return Path(self.sandbox_dir) if self.sandbox_dir else self.data_folder()

    def payout_minimum_for(self, currency: str) -> Money:
        """The smallest payout in a currency, in its minor units (rounded up to one)."""
        return _in_minor(self.payout_minimums.get(currency, self.payout_minimum), currency)

    def credit_top_up_bounds(self, currency: str) -> tuple[Money, Money]:
        """The smallest and largest credit top-up in a currency, in its minor units."""
        return (
            _in_minor(self.credit_top_up_minimum, currency),
            _in_minor(self.credit_top_up_maximum, currency, ROUND_FLOOR),
        )

    def tip_bounds(self, currency: str) -> tuple[Money, Money]:
        """The smallest and largest tip in a currency, in its minor units."""
        return (
            _in_minor(self.tip_minimum, currency),
            _in_minor(self.tip_maximum, currency, ROUND_FLOOR),
        )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> PaymentsSettings:
        if self.credit_top_up_minimum > self.credit_top_up_maximum:
            raise ValueError("credit_top_up_minimum is above credit_top_up_maximum")
        if self.tip_minimum > self.tip_maximum:
            raise ValueError("tip_minimum is above tip_maximum")
        return self


def _in_minor(major: Decimal, currency: str, rounding: str = ROUND_CEILING) -> Money:
    """An amount in a currency's major units as its minor units (rounded up by default)."""
    minor = (major * 10 ** minor_unit_exponent(currency)).to_integral_value(rounding)
    return Money(int(minor), currency)
