"""What the end-to-end tests know of payments' routes."""

from __future__ import annotations

# Every write route payments serves to a bearer, each with its account-status scenario in
# test_payments_accounts.py (test_account_status.py holds that none is left out): a
# client's, a practitioner's, and a practitioner's platform subscription.
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
PAYMENTS_WRITE_ROUTES = CHECKOUT_WRITE_ROUTES + PAYOUT_WRITE_ROUTES + SUBSCRIPTION_WRITE_ROUTES
