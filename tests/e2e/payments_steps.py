"""What the end-to-end tests know of payments' routes."""

from __future__ import annotations

# Every write route payments serves to a bearer, each with its account-status scenario in
# test_payments_accounts.py, test_platform_subscriptions.py or test_credits.py
# (test_account_status.py holds that none is left out): a client's checkout, a
# practitioner's payouts, their platform subscription, and a client's credits and gift
# cards.
CHECKOUT_WRITE_ROUTES = [
    ("POST", "/api/v1/checkout"),
    ("POST", "/api/v1/sandbox/payment-intents/{payment_intent_id}/confirm"),
]
PAYOUT_WRITE_ROUTES = [
    ("POST", "/api/v1/me/payout-account"),
    ("POST", "/api/v1/me/payouts"),
]
SUBSCRIPTION_WRITE_ROUTES = [
    ("POST", "/api/v1/me/platform-subscription"),
    ("PATCH", "/api/v1/me/platform-subscription"),
    ("DELETE", "/api/v1/me/platform-subscription"),
]
CREDIT_WRITE_ROUTES = [
    ("POST", "/api/v1/me/credits/top-ups"),
    ("POST", "/api/v1/me/credits/redemptions"),
    ("POST", "/api/v1/me/gift-cards"),
    ("POST", "/api/v1/me/gift-cards/redemptions"),
]
PAYMENTS_WRITE_ROUTES = (
    CHECKOUT_WRITE_ROUTES + PAYOUT_WRITE_ROUTES + SUBSCRIPTION_WRITE_ROUTES + CREDIT_WRITE_ROUTES
)
