"""Payments' tables (SQLAlchemy Core); the chassis adds its own beside them.

The ledger is append-only: accounts, transactions (unique by kind and cause, so one cause
makes one transaction) and their postings. A balance is the sum of an account's postings.
Accounts that must not go negative also keep it in `balance_minor`, moved in the same
transaction as the postings by a guarded UPDATE (`balance_minor + delta >= 0`) and held by
a CHECK, so concurrent spends can never overdraw them; the platform's and the world's
accounts keep no cached balance, so that every booking's earning does not queue on their
rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from chassis.db import UtcDateTime

metadata = sa.MetaData()

# One owner's money of one kind in one currency. Owner: a user id, "platform" or "external".
ledger_accounts = sa.Table(
    "ledger_accounts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("non_negative", sa.Boolean, nullable=False),
    # The sum of the postings, kept for accounts that must not go negative; NULL otherwise.
    sa.Column("balance_minor", sa.BigInteger, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("owner", "kind", "currency"),
    sa.CheckConstraint(
        "NOT non_negative OR balance_minor >= 0", name="ck_ledger_accounts_not_overdrawn"
    ),
)

ledger_transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(30), nullable=False),
    # What caused it (e.g. "bookings/{id}", a provider's object id): one per kind.
    sa.Column("cause", sa.String(200), nullable=False),
    sa.Column("booking_id", sa.String(36), nullable=True, index=True),
    sa.Column("description", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("kind", "cause"),
)

ledger_postings = sa.Table(
    "ledger_postings",
    metadata,
    sa.Column(
        "transaction_id", sa.String(36), sa.ForeignKey("ledger_transactions.id"), primary_key=True
    ),
    sa.Column("account_id", sa.String(36), sa.ForeignKey("ledger_accounts.id"), primary_key=True),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Index("ix_ledger_postings_account", "account_id", "transaction_id"),
)

# A practitioner's share of one completed booking, and where it is in its life.
earnings = sa.Table(
    "earnings",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("booking_id", sa.String(36), nullable=False, unique=True),
    sa.Column("practitioner_user_id", sa.String(36), nullable=False, index=True),
    sa.Column("practitioner_id", sa.String(36), nullable=False),
    sa.Column("service_id", sa.String(36), nullable=False),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_paid_minor", sa.BigInteger, nullable=False),
    sa.Column("commission_minor", sa.BigInteger, nullable=False),
    sa.Column("net_minor", sa.BigInteger, nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("commission_bps", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("completed_at", UtcDateTime, nullable=False),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("transaction_id", sa.String(36), nullable=False),
    sa.Column("release_transaction_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_earnings_due", "status", "available_at"),
)

# Practitioners' platform tiers over time, written as their subscriptions move (Free for
# anyone never subscribed): the tier in effect at a moment is the latest row before it.
practitioner_tiers = sa.Table(
    "practitioner_tiers",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("effective_from", UtcDateTime, primary_key=True),
    sa.Column("tier", sa.String(20), nullable=False),
)

# What booking says each paid booking costs and where it stands (from booking's events:
# booking.created's price and hold, then confirmed, cancelled or expired): what checkout
# charges, never a price the client sends.
payable_bookings = sa.Table(
    "payable_bookings",
    metadata,
    sa.Column("booking_id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# An order: one booking's checkout, paid by credits first, the rest by one payment intent.
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False, index=True),
    sa.Column("booking_id", sa.String(36), nullable=False, unique=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("credit_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payment_intent_id", sa.String(100), nullable=True, unique=True),
    sa.Column("client_secret", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# Stripe's events as applied, one row per event id, claimed in the unit of work that applies
# the event: a redelivery, concurrent or late, finds the row and changes nothing.
external_events = sa.Table(
    "external_events",
    metadata,
    sa.Column("source", sa.String(20), primary_key=True),
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("object_id", sa.String(100), nullable=False),
    sa.Column("received_at", UtcDateTime, nullable=False),
)

# A practitioner's connected account at the provider, made once per practitioner.
payout_accounts = sa.Table(
    "payout_accounts",
    metadata,
    sa.Column("user_id", sa.String(36), primary_key=True),
    sa.Column("account_id", sa.String(100), nullable=False, unique=True),
    sa.Column("payouts_enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# A practitioner's available earnings in one currency sent to their bank. Its ledger
# transaction is posted with the row; the provider's transfer and payout follow, keyed by
# the payout's id, so a payout re-sent after a crash is paid once.
payouts = sa.Table(
    "payouts",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("account_id", sa.String(100), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("transfer_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("provider_payout_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("failure_code", sa.String(100), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_payouts_user", "user_id", "id"),
    sa.Index("ix_payouts_status", "status", "id"),
)

# A practitioner's platform subscription to a paid tier. live_user_id is the user's id while
# the subscription is pending, active or past due and NULL after: unique, so a practitioner
# has one live subscription at most, under any concurrency, on either database.
platform_subscriptions = sa.Table(
    "platform_subscriptions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("live_user_id", sa.String(36), nullable=True, unique=True),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("next_tier", sa.String(20), nullable=False, server_default=""),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payment_method", sa.String(100), nullable=False),
    sa.Column("provider_subscription_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("customer_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("current_period_end", UtcDateTime, nullable=True),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("failure_code", sa.String(100), nullable=False, server_default=""),
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# The provider's price for each paid tier at each amount: made once (its key derived from
# the tier, currency and amount), so a changed price setting makes a new price. `tier` is a
# platform tier ("entry") or a stream's tier ("streams/{id}/tiers/{level}").
tier_prices = sa.Table(
    "tier_prices",
    metadata,
    sa.Column("tier", sa.String(80), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("amount_minor", sa.BigInteger, primary_key=True),
    sa.Column("price_id", sa.String(100), nullable=False, unique=True),
)

# A client's credit top-up by card: written before the provider is asked, its payment intent
# keyed by its id (unique once known), credited once when the intent succeeds.
credit_purchases = sa.Table(
    "credit_purchases",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payment_intent_id", sa.String(100), nullable=True, unique=True),
    sa.Column("client_secret", sa.String(200), nullable=False, server_default=""),
    sa.Column("failure_code", sa.String(100), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, server_default="top_up"),
    sa.Index("ix_credit_purchases_client", "client_id", "id"),
)

# Promo codes staff made. `redemptions` counts the clients who redeemed one, moved by a
# guarded UPDATE (below max_redemptions and before expires_at) in the redemption's unit of
# work, so concurrent redemptions never pass the limit; each client's redemption is one
# ledger transaction whose cause names the code and the client (unique: once each).
promo_codes = sa.Table(
    "promo_codes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("code", sa.String(40), nullable=False, unique=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("max_redemptions", sa.Integer, nullable=False),
    sa.Column("redemptions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(36), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "redemptions <= max_redemptions", name="ck_promo_codes_within_max_redemptions"
    ),
)

# Credit given that expires (a promo code's, a gift card's): what is left of it unspent,
# taken from by checkout soonest-to-expire first and expired by a job, each under the lot's
# row lock (checkout locks a client's open lots before it moves their credit), so the
# remainder expired is never more than what is unspent; the expiry's ledger transaction has
# the lot as its cause (unique: once).
credit_lots = sa.Table(
    "credit_lots",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("granted_minor", sa.BigInteger, nullable=False),
    sa.Column("remaining_minor", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("granted_by", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "remaining_minor >= 0 AND remaining_minor <= granted_minor",
        name="ck_credit_lots_remaining_within_granted",
    ),
    sa.Index("ix_credit_lots_client", "client_id", "currency", "status"),
    sa.Index("ix_credit_lots_due", "status", "expires_at"),
)

# Gift cards: one per gift-card purchase (the same id), its code kept only as a hash
# (unique); redeemed once by a guarded UPDATE of redeemed_by, in the unit of work that posts
# the redemption (its cause the card: unique).
gift_cards = sa.Table(
    "gift_cards",
    metadata,
    sa.Column("id", sa.String(36), sa.ForeignKey("credit_purchases.id"), primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("redeem_by", UtcDateTime, nullable=False),
    sa.Column("redeemed_by", sa.String(36), nullable=True),
    sa.Column("redeemed_at", UtcDateTime, nullable=True),
)

# A client's tip to a creator or a post's unlock, paid as a booking's checkout is (credits,
# then one payment intent keyed by its id), or a stream subscription's paid invoice.
# unlock_key is "{client}/{post}" for an unlock and NULL otherwise: unique, so a buyer has one
# unlock order per post under any concurrency; invoice_id is unique, so an invoice is one
# order however often or concurrently it is reported paid.
stream_orders = sa.Table(
    "stream_orders",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(36), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("post_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("creator_user_id", sa.String(36), nullable=False),
    sa.Column("unlock_key", sa.String(80), nullable=True, unique=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("credit_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payment_intent_id", sa.String(100), nullable=True, unique=True),
    sa.Column("client_secret", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("invoice_id", sa.String(100), nullable=True),
    sa.Index("ix_stream_orders_client", "client_id", "id"),
    sa.UniqueConstraint("invoice_id", name="uq_stream_orders_invoice_id"),
)

# A reader's subscription to a stream's paid tier, at the price it was subscribed (or
# upgraded) at. live_key is "{user}/{stream}" while the subscription is pending, active or
# past due and NULL after: unique, so a reader has one live subscription per stream under any
# concurrency, on either database. `sequence` counts the changes said to streams, moved under
# the row's lock.
stream_subscriptions = sa.Table(
    "stream_subscriptions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("user_id", sa.String(36), nullable=False),
    sa.Column("stream_id", sa.String(36), nullable=False),
    sa.Column("creator_user_id", sa.String(36), nullable=False),
    sa.Column("live_key", sa.String(80), nullable=True, unique=True),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("next_level", sa.Integer, nullable=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("payment_method", sa.String(100), nullable=False),
    sa.Column("provider_subscription_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("customer_id", sa.String(100), nullable=False, server_default=""),
    sa.Column("current_period_end", UtcDateTime, nullable=True),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("failure_code", sa.String(100), nullable=False, server_default=""),
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sequence", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_stream_subscriptions_user", "user_id", "id"),
    # A tier's price change reads the stream's live subscriptions; a creator's erasure, theirs.
    sa.Index("ix_stream_subscriptions_stream", "stream_id", "level"),
    sa.Index("ix_stream_subscriptions_creator", "creator_user_id"),
)
