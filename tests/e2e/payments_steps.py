"""What the end-to-end tests know of payments' routes."""

from __future__ import annotations

# Every write route payments serves to a bearer, each with its account-status scenario in
# test_payments_accounts.py (test_account_status.py holds that none is left out): a
# client's, and a practitioner's.
CHECKOUT_WRITE_ROUTES = [
    ("POST", "/api/v1/checkout"),
    ("POST", "/api/v1/sandbox/payment-intents/{payment_intent_id}/confirm"),
]
PAYOUT_WRITE_ROUTES = [
    ("POST", "/api/v1/me/payout-account"),
    ("POST", "/api/v1/me/payouts"),
]
PAYMENTS_WRITE_ROUTES = CHECKOUT_WRITE_ROUTES + PAYOUT_WRITE_ROUTES
