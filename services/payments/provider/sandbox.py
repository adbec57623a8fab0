"""The sandbox provider of the embedded mode: Stripe's test mode with no network.

Stripe's test payment methods behave as they do there (pm_card_visa or 4242424242424242
succeeds; pm_card_chargeDeclined or 4000000000000002 declines with card_declined;
pm_card_authenticationRequired or 4000002500003155 asks for 3-D Secure and waits in
requires_action until `authenticate`). Refunds, customers, Connect accounts onboarded through
a local link, transfers, payouts, tier prices and subscriptions (whose renewals fail when
their payment method declines) follow Stripe's rules and answers.

Its state lives in its own small SQLite file (not payments' database, so payments'
migrations never see it) and survives a restart: objects in Stripe's JSON shape, the
answers kept for idempotency keys (same key and parameters: the first answer; other
parameters: an IdempotencyConflict, as Stripe), and the events not yet delivered. Events are
Stripe's event JSON, signed with the webhook secret exactly as Stripe signs them, and handed
to a delivery callback (payments POSTs them to its webhook route) in order, retried until
the callback succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sqlite3
import string
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from chassis.clock import Clock
from chassis.money import is_currency
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
    ProviderRejected,
    Refund,
    Subscription,
    Transfer,
    TransferReversal,
    WebhookEvent,
)
from services.payments.provider.stripe_format import stripe_currency
from services.payments.settings import ONBOARDING_URL

log = logging.getLogger(__name__)

WebhookDelivery = Callable[[bytes, str], Awaitable[None]]
"""Sends one webhook: its raw body and its Stripe-Signature header; raises if not accepted."""

API_VERSION = "2026-10-28.endive"
ACCOUNT_LINK_SECONDS = 300
MAX_AMOUNT = 99_999_999  # Stripe's ceiling: eight digits of minor units
INTERVAL_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
PLATFORM = "platform"
"""The idempotency scope of calls made as the platform (not on a connected account)."""


@dataclass(frozen=True)
class TestCard:
    """What a Stripe test payment method does when charged."""

    number: str
    decline_code: str | None = None
    error_code: str = "card_declined"
    needs_authentication: bool = False


_CARDS = [
    (TestCard("4242424242424242"), ("pm_card_visa",)),
    (TestCard("5555555555554444"), ("pm_card_mastercard",)),
    (
        TestCard("4000000000000002", decline_code="generic_decline"),
        ("pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"),
    ),
    (
        # Attaches to a customer, then declines when charged.
        TestCard("4000000000000341", decline_code="generic_decline"),
        ("pm_card_chargeCustomerFail",),
    ),
    (
        TestCard("4000000000009995", decline_code="insufficient_funds"),
        ("pm_card_chargeDeclinedInsufficientFunds",),
    ),
    (
        TestCard("4000000000000069", decline_code="expired_card", error_code="expired_card"),
        ("pm_card_chargeDeclinedExpiredCard",),
    ),
    (
        TestCard("4000002500003155", needs_authentication=True),
        ("pm_card_authenticationRequired", "pm_card_threeDSecure2Required"),
    ),
    (TestCard("4000002760003184", needs_authentication=True), ()),
]
TEST_CARDS: dict[str, TestCard] = {}
"""Stripe's test payment methods by token and by card number."""
for _card, _tokens in _CARDS:
    TEST_CARDS[_card.number] = _card
    for _token in _tokens:
        TEST_CARDS[_token] = _card

_DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_objects (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    private TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS sandbox_idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    params TEXT NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS sandbox_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sandbox_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_ALPHABET = string.ascii_letters + string.digits


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def _rejected(message: str, code: str, param: str | None = None) -> ProviderRejected:
    return ProviderRejected(message, code=code, param=param)


def _check_amount(amount: int, param: str = "amount") -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise _rejected(
            f"Invalid {param}: must be a positive integer of minor units",
            "parameter_invalid_integer",
            param,
        )
    if amount > MAX_AMOUNT:
        raise _rejected(
            f"Amount must be no more than {MAX_AMOUNT} minor units", "amount_too_large", param
        )


def _check_currency(currency: str) -> str:
    if not is_currency(currency):
        raise _rejected(f"Invalid currency: {currency}", "invalid_currency", "currency")
    return stripe_currency(currency)


class _State:
    """One transaction on the sandbox's file: objects, idempotent answers, queued events."""

    def __init__(self, connection: sqlite3.Connection, now: datetime) -> None:
        self._db = connection
        self.now = now
        self.timestamp = int(now.timestamp())

    def get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        row = self._db.execute(
            "SELECT body FROM sandbox_objects WHERE id = ? AND kind = ?", (object_id, kind)
        ).fetchone()
        if row is None:
            raise _rejected(f"No such {kind}: '{object_id}'", "resource_missing", param)
        return dict(json.loads(row[0]))

    def private(self, object_id: str) -> dict[str, Any]:
        row = self._db.execute(
            "SELECT private FROM sandbox_objects WHERE id = ?", (object_id,)
        ).fetchone()
        return dict(json.loads(row[0])) if row else {}

    def put(self, obj: Mapping[str, Any], private: Mapping[str, Any] | None = None) -> None:
        kept = self.private(obj["id"]) if private is None else dict(private)
        self._db.execute(
            "INSERT INTO sandbox_objects (id, kind, body, private) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET body = excluded.body, private = excluded.private",
            (obj["id"], obj["object"], json.dumps(obj), json.dumps(kept)),
        )

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT body FROM sandbox_objects WHERE kind = ? ORDER BY rowid", (kind,)
        ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def emit(self, event_type: str, obj: Mapping[str, Any], account: str | None = None) -> None:
        event: dict[str, Any] = {
            "id": _new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.timestamp,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": dict(obj)},
        }
        if account:
            event["account"] = account
        self._db.execute(
            "INSERT INTO sandbox_events (id, body) VALUES (?, ?)", (event["id"], json.dumps(event))
        )

    def answered(
        self, scope: str, key: str, operation: str, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first answer to this idempotency key, or None if it is new."""
        if not key:
            raise _rejected(
                "An idempotency key is required", "parameter_missing", "idempotency_key"
            )
        row = self._db.execute(
            "SELECT operation, params, answer FROM sandbox_idempotency WHERE scope = ? AND key = ?",
            (scope, key),
        ).fetchone()
        if row is None:
            return None
        if row[0] != operation or json.loads(row[1]) != json.loads(json.dumps(params)):
            raise IdempotencyConflict(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                code="idempotency_key_in_use",
            )
        return dict(json.loads(row[2]))

    def remember(
        self,
        scope: str,
        key: str,
        operation: str,
        params: Mapping[str, Any],
        answer: Mapping[str, Any],
    ) -> None:
        self._db.execute(
            "INSERT INTO sandbox_idempotency (scope, key, operation, params, answer) "
            "VALUES (?, ?, ?, ?, ?)",
            (scope, key, operation, json.dumps(params), json.dumps(answer)),
        )


class SandboxProvider:
    """The port without a network: Stripe's test mode kept in a SQLite file of its own."""

    def __init__(
        self,
        path: Path,
        *,
        webhook_secret: str | None = None,
        deliver: WebhookDelivery | None = None,
        clock: Clock | None = None,
        onboarding_url: str = ONBOARDING_URL,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # Each write commits on the event loop: with the default rollback journal every
        # commit waited for the disk (19 ms here, the whole loop stalled, checkouts answered
        # 504 at 32 at once). A write-ahead log synced at checkpoints survives the process
        # dying; only the machine losing power could lose this stand-in's last commits.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._clock = clock or Clock()
        self._deliver = deliver
        # Public: the embedded suite learns its gateway's address only once it listens.
        self.onboarding_url = onboarding_url.rstrip("/")
        self._lock = asyncio.Lock()
        self._delivering = asyncio.Lock()
        self._wake = asyncio.Event()
        self._deliverer: asyncio.Task[None] | None = None
        self.webhook_secret = webhook_secret or self._own_secret()

    def _own_secret(self) -> str:
        """A secret of this sandbox's own, kept so webhooks still verify after a restart."""
        candidate = "whsec_" + secrets.token_hex(24)
        self._db.execute(
            "INSERT INTO sandbox_settings (name, value) VALUES ('webhook_secret', ?) "
            "ON CONFLICT (name) DO NOTHING",
            (candidate,),
        )
        row = self._db.execute(
            "SELECT value FROM sandbox_settings WHERE name = 'webhook_secret'"
        ).fetchone()
        return str(row[0])

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[_State]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield _State(self._db, self._clock.now())
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._wake.set()

    async def _write(
        self,
        operation: str,
        key: str,
        params: Mapping[str, Any],
        change: Callable[[_State], dict[str, Any]],
        scope: str = PLATFORM,
    ) -> dict[str, Any]:
        """Runs change once per idempotency key, returning the first answer to a replay."""
        async with self._lock:
            with self._transaction() as state:
                earlier = state.answered(scope, key, operation, params)
                if earlier is not None:
                    return earlier
                answer = change(state)
                state.remember(scope, key, operation, params, answer)
                return answer

    async def _read(self, read: Callable[[_State], dict[str, Any]]) -> dict[str, Any]:
        async with self._lock:
            with self._transaction() as state:
                return read(state)

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
        params = {
            "amount": amount,
            "currency": currency,
            "customer": customer_id,
            "payment_method": payment_method,
            "metadata": {**(metadata or {}), "order_id": order_id},
        }

        def create(state: _State) -> dict[str, Any]:
            _check_amount(amount)
            code = _check_currency(currency)
            if customer_id:
                state.get("customer", customer_id, "customer")
            if payment_method:
                self._card(payment_method)
            intent_id = _new_id("pi_")
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": 0,
                "currency": code,
                "customer": customer_id,
                "client_secret": f"{intent_id}_secret_{secrets.token_urlsafe(18)}",
                "created": state.timestamp,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": params["metadata"],
                "next_action": None,
                "payment_method": payment_method,
                "status": "requires_confirmation" if payment_method else "requires_payment_method",
            }
            state.put(intent, {})
            state.emit("payment_intent.created", intent)
            return intent

        return stripe_format.payment_intent_from(
            await self._write("payment_intents.create", idempotency_key, params, create)
        )

    def _card(self, payment_method: str) -> TestCard:
        try:
            return TEST_CARDS[payment_method]
        except KeyError:
            raise _rejected(
                f"No such PaymentMethod: '{payment_method}'", "resource_missing", "payment_method"
            ) from None

    async def confirm_payment_intent(
        self, intent_id: str, *, idempotency_key: str, payment_method: str | None = None
    ) -> PaymentIntent:
        params = {"intent": intent_id, "payment_method": payment_method}

        def confirm(state: _State) -> dict[str, Any]:
            intent = state.get("payment_intent", intent_id)
            confirmable = ("requires_payment_method", "requires_confirmation", "requires_action")
            if intent["status"] not in confirmable:
                raise _unexpected_state(intent, "confirm")
            if payment_method:
                self._card(payment_method)
                intent["payment_method"] = payment_method
            elif intent["status"] != "requires_confirmation":
                raise _rejected(
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                    "payment_intent_unexpected_state",
                    "payment_method",
                )
            card = self._card(intent["payment_method"])
            intent["last_payment_error"] = None
            if card.needs_authentication:
                intent["status"] = "requires_action"
                intent["next_action"] = {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect"},
                }
                state.put(intent)
                state.emit("payment_intent.requires_action", intent)
                return intent
            return self._charge(state, intent, card)

        return stripe_format.payment_intent_from(
            await self._write("payment_intents.confirm", idempotency_key, params, confirm)
        )

    def _charge(self, state: _State, intent: dict[str, Any], card: TestCard) -> dict[str, Any]:
        """Charges the intent's card: succeeded, or declined back to requires_payment_method."""
        intent["next_action"] = None
        charge_id = _new_id("ch_")
        if card.decline_code:
            intent["status"] = "requires_payment_method"
            intent["payment_method"] = None
            intent["last_payment_error"] = {
                "type": "card_error",
                "charge": charge_id,
                "code": card.error_code,
                "decline_code": card.decline_code,
                "message": _DECLINE_MESSAGES[card.decline_code],
            }
            state.put(intent)
            state.emit("payment_intent.payment_failed", intent)
            return intent
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "created": state.timestamp,
            "status": "succeeded",
        }
        state.put(charge, {})
        intent["status"] = "succeeded"
        intent["amount_received"] = intent["amount"]
        intent["latest_charge"] = charge_id
        state.put(intent)
        state.emit("payment_intent.succeeded", intent)
        return intent

    async def authenticate(self, intent_id: str, *, succeed: bool = True) -> PaymentIntent:
        """The client's answer on the 3-D Secure page: the charge goes ahead, or fails with
        payment_intent_authentication_failure. (Sandbox only: Stripe's page does this.)"""

        def answer(state: _State) -> dict[str, Any]:
            intent = state.get("payment_intent", intent_id)
            if intent["status"] != "requires_action":
                raise _unexpected_state(intent, "authenticate")
            if succeed:
                return self._charge(state, intent, self._card(intent["payment_method"]))
            intent["status"] = "requires_payment_method"
            intent["next_action"] = None
            intent["payment_method"] = None
            intent["last_payment_error"] = {
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication.",
            }
            state.put(intent)
            state.emit("payment_intent.payment_failed", intent)
            return intent

        return stripe_format.payment_intent_from(await self._read(answer))

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> PaymentIntent:
        def cancel(state: _State) -> dict[str, Any]:
            intent = state.get("payment_intent", intent_id)
            if intent["status"] in ("succeeded", "canceled"):
                raise _unexpected_state(intent, "cancel")
            intent["status"] = "canceled"
            intent["next_action"] = None
            intent["canceled_at"] = state.timestamp
            state.put(intent)
            state.emit("payment_intent.canceled", intent)
            return intent

        params = {"intent": intent_id}
        return stripe_format.payment_intent_from(
            await self._write("payment_intents.cancel", idempotency_key, params, cancel)
        )

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntent:
        return stripe_format.payment_intent_from(
            await self._read(lambda state: state.get("payment_intent", intent_id))
        )

    # Refunds
    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        idempotency_key: str,
        amount: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Refund:
        params = {"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata}

        def refund(state: _State) -> dict[str, Any]:
            intent = state.get("payment_intent", payment_intent_id, "payment_intent")
            if intent["status"] != "succeeded":
                raise _rejected(
                    f"PaymentIntent {payment_intent_id} has no successful charge to refund "
                    f"(its status is {intent['status']})",
                    "charge_not_refundable",
                    "payment_intent",
                )
            charge = state.get("charge", intent["latest_charge"])
            left = charge["amount"] - charge["amount_refunded"]
            wanted = left if amount is None else amount
            if amount is not None:
                _check_amount(amount)
            if wanted > left or left == 0:
                raise _rejected(
                    f"Refund amount ({wanted}) is greater than unrefunded amount on charge "
                    f"({left})",
                    "amount_too_large" if left else "charge_already_refunded",
                    "amount",
                )
            charge["amount_refunded"] += wanted
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            state.put(charge)
            created = {
                "id": _new_id("re_"),
                "object": "refund",
                "amount": wanted,
                "charge": charge["id"],
                "created": state.timestamp,
                "currency": charge["currency"],
                "metadata": dict(metadata or {}),
                "payment_intent": payment_intent_id,
                "status": "succeeded",
            }
            state.put(created, {})
            state.emit("refund.created", created)
            state.emit("charge.refunded", charge)
            return created

        return stripe_format.refund_from(
            await self._write("refunds.create", idempotency_key, params, refund)
        )

    async def refunds_of(self, payment_intent_id: str) -> list[Refund]:
        def read(state: _State) -> dict[str, Any]:
            state.get("payment_intent", payment_intent_id, "payment_intent")
            made = [r for r in state.of_kind("refund") if r["payment_intent"] == payment_intent_id]
            return {"data": made[::-1]}

        return [stripe_format.refund_from(refund) for refund in (await self._read(read))["data"]]

    async def retrieve_refund(self, refund_id: str) -> Refund:
        return stripe_format.refund_from(
            await self._read(lambda state: state.get("refund", refund_id))
        )

    # Customers
    async def create_customer(
        self, *, user_id: str, email: str | None, name: str | None, idempotency_key: str
    ) -> Customer:
        params = {"user_id": user_id, "email": email, "name": name}

        def create(state: _State) -> dict[str, Any]:
            customer = {
                "id": _new_id("cus_"),
                "object": "customer",
                "created": state.timestamp,
                "email": email,
                "name": name,
                "metadata": {"user_id": user_id},
            }
            state.put(customer, {})
            state.emit("customer.created", customer)
            return customer

        return stripe_format.customer_from(
            await self._write("customers.create", idempotency_key, params, create)
        )

    # Connect
    async def create_connected_account(
        self, *, practitioner_id: str, email: str | None, country: str, idempotency_key: str
    ) -> ConnectedAccount:
        params = {"practitioner_id": practitioner_id, "email": email, "country": country}

        def create(state: _State) -> dict[str, Any]:
            if len(country) != 2 or not country.isalpha() or not country.isupper():
                raise _rejected(
                    f"Invalid country: {country} (a two-letter ISO 3166 code such as DE)",
                    "country_unsupported",
                    "country",
                )
            account = {
                "id": _new_id("acct_"),
                "object": "account",
                "type": "express",
                "country": country,
                "email": email,
                "created": state.timestamp,
                "charges_enabled": False,
                "details_submitted": False,
                "payouts_enabled": False,
                "metadata": {"practitioner_id": practitioner_id},
            }
            state.put(account, {"balance": {}, "payouts_fail": False})
            return account

        return stripe_format.account_from(
            await self._write("accounts.create", idempotency_key, params, create)
        )

    async def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> AccountLink:
        params = {"account": account_id, "refresh_url": refresh_url, "return_url": return_url}

        def create(state: _State) -> dict[str, Any]:
            state.get("account", account_id, "account")
            token = _new_id("al_")
            link = {
                "id": token,
                "object": "account_link",
                "created": state.timestamp,
                "expires_at": state.timestamp + ACCOUNT_LINK_SECONDS,
                "url": f"{self.onboarding_url}/{token}",
            }
            state.put(
                link,
                {"account": account_id, "return_url": return_url, "refresh_url": refresh_url},
            )
            return link

        return stripe_format.account_link_from(
            await self._write("account_links.create", idempotency_key, params, create)
        )

    async def complete_onboarding(self, link_url: str) -> str:
        """The practitioner finishing onboarding at a link's address: the account's details
        are submitted and payouts enabled (account.updated). Answers where to send them next:
        the link's return_url, or its refresh_url when the link has expired or was used.
        (Sandbox only: Stripe's hosted pages do this.)"""

        def complete(state: _State) -> dict[str, Any]:
            token = link_url.rstrip("/").rsplit("/", 1)[-1]
            link = state.get("account_link", token, "url")
            private = state.private(token)
            if link["expires_at"] < state.timestamp or private.get("used"):
                return {"next": private["refresh_url"]}
            state.put(link, {**private, "used": True})
            account = state.get("account", private["account"])
            account.update(charges_enabled=True, details_submitted=True, payouts_enabled=True)
            state.put(account)
            state.emit("account.updated", account, account=account["id"])
            return {"next": private["return_url"]}

        return str((await self._read(complete))["next"])

    async def retrieve_connected_account(self, account_id: str) -> ConnectedAccount:
        return stripe_format.account_from(
            await self._read(lambda state: state.get("account", account_id))
        )

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
        params = {
            "amount": amount,
            "currency": currency,
            "destination": destination_account_id,
            "transfer_group": transfer_group,
            "metadata": metadata,
        }

        def transfer(state: _State) -> dict[str, Any]:
            _check_amount(amount)
            code = _check_currency(currency)
            account = state.get("account", destination_account_id, "destination")
            if not account["payouts_enabled"]:
                raise _rejected(
                    f"Your destination account {destination_account_id} needs to have at "
                    "least one of the following capabilities enabled: transfers",
                    "insufficient_capabilities_for_transfer",
                    "destination",
                )
            private = state.private(account["id"])
            private["balance"][code] = private["balance"].get(code, 0) + amount
            state.put(account, private)
            created = {
                "id": _new_id("tr_"),
                "object": "transfer",
                "amount": amount,
                "currency": code,
                "created": state.timestamp,
                "destination": destination_account_id,
                "transfer_group": transfer_group,
                "metadata": dict(metadata or {}),
                "reversed": False,
                "amount_reversed": 0,
            }
            state.put(created, {})
            state.emit("transfer.created", created)
            return created

        return stripe_format.transfer_from(
            await self._write("transfers.create", idempotency_key, params, transfer)
        )

    async def find_transfer(self, *, transfer_group: str) -> Transfer | None:
        def read(state: _State) -> dict[str, Any]:
            made = [
                t for t in state.of_kind("transfer") if t.get("transfer_group") == transfer_group
            ]
            return made[0] if made else {}

        found = await self._read(read)
        return stripe_format.transfer_from(found) if found else None

    async def create_transfer_reversal(
        self, transfer_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> TransferReversal:
        params = {"transfer": transfer_id, "amount": amount}

        def reverse(state: _State) -> dict[str, Any]:
            transfer = state.get("transfer", transfer_id)
            left = transfer["amount"] - transfer.get("amount_reversed", 0)
            taken = left if amount is None else amount
            _check_amount(taken)
            if taken > left:
                raise _rejected(
                    f"Transfer {transfer_id} has only {left} left to reverse",
                    "parameter_invalid_integer",
                    "amount",
                )
            code = transfer["currency"]
            account = state.get("account", transfer["destination"])
            private = state.private(account["id"])
            held = private["balance"].get(code, 0)
            if taken > held:
                raise _rejected(
                    f"The connected account has insufficient funds to reverse this transfer "
                    f"({held} {code} available)",
                    "balance_insufficient",
                    "amount",
                )
            private["balance"][code] = held - taken
            state.put(account, private)
            reversal = {
                "id": _new_id("trr_"),
                "object": "transfer_reversal",
                "amount": taken,
                "currency": code,
                "created": state.timestamp,
                "transfer": transfer_id,
                "metadata": {},
            }
            state.put(reversal, {})
            transfer["amount_reversed"] = transfer.get("amount_reversed", 0) + taken
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            state.put(transfer)
            state.emit("transfer.reversed", transfer)
            return reversal

        return stripe_format.transfer_reversal_from(
            await self._write("transfers.reversals.create", idempotency_key, params, reverse)
        )

    async def create_payout(
        self,
        *,
        account_id: str,
        amount: int,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Payout:
        params = {"amount": amount, "currency": currency, "metadata": metadata}

        def pay_out(state: _State) -> dict[str, Any]:
            _check_amount(amount)
            code = _check_currency(currency)
            account = state.get("account", account_id, "Stripe-Account")
            private = state.private(account_id)
            available = private["balance"].get(code, 0)
            if amount > available:
                raise _rejected(
                    f"You have insufficient funds in your Stripe account for this payout "
                    f"({available} {code} available)",
                    "balance_insufficient",
                    "amount",
                )
            payout = {
                "id": _new_id("po_"),
                "object": "payout",
                "amount": amount,
                "currency": code,
                "created": state.timestamp,
                "arrival_date": state.timestamp,
                "metadata": dict(metadata or {}),
                "status": "pending",
                "failure_code": None,
                "failure_message": None,
            }
            state.emit("payout.created", payout, account=account_id)
            answer = dict(payout)
            # Test-mode payouts settle at once: paid, or failed with the money back.
            if private["payouts_fail"]:
                payout.update(
                    status="failed",
                    failure_code="account_closed",
                    failure_message="The bank account has been closed.",
                )
                state.emit("payout.failed", payout, account=account_id)
            else:
                private["balance"][code] = available - amount
                payout["status"] = "paid"
                state.emit("payout.paid", payout, account=account_id)
            state.put(account, private)
            state.put(payout, {"account": account_id})
            return answer

        return stripe_format.payout_from(
            await self._write("payouts.create", idempotency_key, params, pay_out, account_id),
            account_id,
        )

    async def make_payouts_fail(self, account_id: str, *, fail: bool = True) -> None:
        """From now on this account's payouts fail (its bank account closed). Sandbox only."""

        def mark(state: _State) -> dict[str, Any]:
            account = state.get("account", account_id)
            state.put(account, {**state.private(account_id), "payouts_fail": fail})
            return account

        await self._read(mark)

    async def balance(self, account_id: str, currency: str) -> int:
        """What a connected account holds in a currency (transfers in, payouts and
        reversals out), for a test that checks money came back. Sandbox only."""
        code = _check_currency(currency)

        def read(state: _State) -> dict[str, Any]:
            state.get("account", account_id)
            return {"n": state.private(account_id)["balance"].get(code, 0)}

        return int((await self._read(read))["n"])

    async def count(self, kind: str) -> int:
        """How many objects of a kind ("transfer", "payout") the sandbox holds, for a test
        that checks something was made once. Sandbox only."""
        return int((await self._read(lambda state: {"n": len(state.of_kind(kind))}))["n"])

    async def retrieve_payout(self, *, account_id: str, payout_id: str) -> Payout:
        def read(state: _State) -> dict[str, Any]:
            payout = state.get("payout", payout_id)
            if state.private(payout_id).get("account") != account_id:
                raise _rejected(f"No such payout: '{payout_id}'", "resource_missing", "id")
            return payout

        return stripe_format.payout_from(await self._read(read), account_id)

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
        params = {"tier": tier, "amount": amount, "currency": currency, "interval": interval}

        def create(state: _State) -> dict[str, Any]:
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise _rejected(
                    "Invalid unit_amount: must be a non-negative integer",
                    "parameter_invalid_integer",
                    "unit_amount",
                )
            code = _check_currency(currency)
            if interval not in INTERVAL_DAYS:
                raise _rejected(
                    f"Invalid recurring[interval]: must be one of {', '.join(INTERVAL_DAYS)}",
                    "parameter_invalid_empty" if not interval else "invalid_request",
                    "recurring[interval]",
                )
            price = {
                "id": _new_id("price_"),
                "object": "price",
                "active": True,
                "created": state.timestamp,
                "currency": code,
                "unit_amount": amount,
                "recurring": {"interval": interval, "interval_count": 1},
                "product": _new_id("prod_"),
                "metadata": {"tier": tier},
            }
            state.put(price, {})
            return price

        return stripe_format.price_from(
            await self._write("prices.create", idempotency_key, params, create)
        )

    def _bill(self, state: _State, subscription: dict[str, Any], amount: int, reason: str) -> bool:
        """Charges an invoice of amount to the subscription's payment method; whether paid."""
        price = subscription["items"]["data"][0]["price"]
        invoice = {
            "id": _new_id("in_"),
            "object": "invoice",
            "amount_due": amount,
            "billing_reason": reason,
            "created": state.timestamp,
            "currency": price["currency"],
            "customer": subscription["customer"],
            "subscription": subscription["id"],
        }
        method = subscription.get("default_payment_method")
        paid = amount == 0 or (
            method is not None
            and not self._card(method).decline_code
            and not self._card(method).needs_authentication
        )
        invoice["status"] = "paid" if paid else "open"
        state.put(invoice, {})
        state.emit("invoice.paid" if paid else "invoice.payment_failed", invoice)
        return paid

    async def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        idempotency_key: str,
        payment_method: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Subscription:
        params = {
            "customer": customer_id,
            "price": price_id,
            "payment_method": payment_method,
            "metadata": metadata,
        }

        def create(state: _State) -> dict[str, Any]:
            state.get("customer", customer_id, "customer")
            price = state.get("price", price_id, "items[0][price]")
            if payment_method:
                self._card(payment_method)
            subscription_id = _new_id("sub_")
            subscription = {
                "id": subscription_id,
                "object": "subscription",
                "created": state.timestamp,
                "customer": customer_id,
                "cancel_at_period_end": False,
                "default_payment_method": payment_method,
                "metadata": dict(metadata or {}),
                "items": {
                    "object": "list",
                    "data": [self._item(state, price, state.timestamp)],
                },
                "status": "incomplete",
            }
            if self._bill(state, subscription, price["unit_amount"], "subscription_create"):
                subscription["status"] = "active"
            state.put(subscription, {"failed_renewals": 0})
            state.emit("customer.subscription.created", subscription)
            return subscription

        return stripe_format.subscription_from(
            await self._write("subscriptions.create", idempotency_key, params, create)
        )

    def _item(self, state: _State, price: Mapping[str, Any], start: int) -> dict[str, Any]:
        days = INTERVAL_DAYS[price["recurring"]["interval"]]
        return {
            "id": _new_id("si_"),
            "object": "subscription_item",
            "price": dict(price),
            "current_period_start": start,
            "current_period_end": start + int(timedelta(days=days).total_seconds()),
        }

    async def change_subscription(
        self, subscription_id: str, *, price_id: str, timing: ChangeTiming, idempotency_key: str
    ) -> Subscription:
        params = {"subscription": subscription_id, "price": price_id, "timing": timing.value}

        def change(state: _State) -> dict[str, Any]:
            subscription = state.get("subscription", subscription_id)
            if subscription["status"] in ("canceled", "incomplete_expired"):
                raise _unexpected_subscription(subscription)
            price = state.get("price", price_id, "items[0][price]")
            item = subscription["items"]["data"][0]
            old_amount = item["price"]["unit_amount"]
            item["price"] = dict(price)
            if timing is ChangeTiming.NOW and price["unit_amount"] > old_amount:
                # The difference for what is left of the paid period, invoiced at once.
                length = item["current_period_end"] - item["current_period_start"]
                left = max(item["current_period_end"] - state.timestamp, 0)
                owed = (price["unit_amount"] - old_amount) * left // max(length, 1)
                if not self._bill(state, subscription, owed, "subscription_update"):
                    subscription["status"] = "past_due"
            state.put(subscription)
            state.emit("customer.subscription.updated", subscription)
            return subscription

        return stripe_format.subscription_from(
            await self._write("subscriptions.update", idempotency_key, params, change)
        )

    async def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> Subscription:
        params = {"subscription": subscription_id, "at_period_end": at_period_end}

        def cancel(state: _State) -> dict[str, Any]:
            subscription = state.get("subscription", subscription_id)
            if subscription["status"] == "canceled":
                raise _unexpected_subscription(subscription)
            if at_period_end:
                subscription["cancel_at_period_end"] = True
                state.put(subscription)
                state.emit("customer.subscription.updated", subscription)
            else:
                self._end(state, subscription)
            return subscription

        operation = "subscriptions.update" if at_period_end else "subscriptions.cancel"
        return stripe_format.subscription_from(
            await self._write(operation, idempotency_key, params, cancel)
        )

    def _end(self, state: _State, subscription: dict[str, Any]) -> None:
        subscription["status"] = "canceled"
        subscription["canceled_at"] = state.timestamp
        state.put(subscription)
        state.emit("customer.subscription.deleted", subscription)

    async def retrieve_subscription(self, subscription_id: str) -> Subscription:
        return stripe_format.subscription_from(
            await self._read(lambda state: state.get("subscription", subscription_id))
        )

    async def update_subscription_payment_method(
        self, subscription_id: str, payment_method: str
    ) -> Subscription:
        """The card later renewals are charged to (a declining test card makes them fail).
        Sandbox only: on Stripe, the customer's portal does this."""

        def update(state: _State) -> dict[str, Any]:
            subscription = state.get("subscription", subscription_id)
            self._card(payment_method)
            subscription["default_payment_method"] = payment_method
            state.put(subscription)
            state.emit("customer.subscription.updated", subscription)
            return subscription

        return stripe_format.subscription_from(await self._read(update))

    async def renew_subscriptions(self) -> int:
        """Renews every subscription whose period has ended by now, as Stripe's billing does:
        paid renewals start the next period; a failed one leaves the subscription past_due
        and a second failure in a row cancels it; one set to cancel at period end ends.
        Answers how many subscriptions moved."""

        def renew(state: _State) -> dict[str, Any]:
            moved = 0
            for subscription in state.of_kind("subscription"):
                item = subscription["items"]["data"][0]
                due = item["current_period_end"] <= state.timestamp
                if not due or subscription["status"] not in ("active", "past_due"):
                    continue
                moved += 1
                private = state.private(subscription["id"])
                if subscription["cancel_at_period_end"]:
                    self._end(state, subscription)
                    continue
                if self._bill(state, subscription, item["price"]["unit_amount"], "renewal"):
                    renewed = self._item(state, item["price"], item["current_period_end"])
                    subscription["items"]["data"] = [{**renewed, "id": item["id"]}]
                    subscription["status"] = "active"
                    private["failed_renewals"] = 0
                elif private.get("failed_renewals", 0) >= 1:
                    self._end(state, subscription)
                    continue
                else:
                    subscription["status"] = "past_due"
                    private["failed_renewals"] = 1
                state.put(subscription, private)
                state.emit("customer.subscription.updated", subscription)
            return {"moved": moved}

        return int((await self._read(renew))["moved"])

    # Webhooks
    def parse_webhook(self, payload: bytes, signature_header: str | None) -> WebhookEvent:
        return stripe_format.verify_webhook(
            payload, signature_header, self.webhook_secret, now=self._clock.now()
        )

    async def deliver_webhooks(self) -> int:
        """Hands every undelivered event, oldest first, to the delivery callback, each signed
        now; stops at the first the callback refuses (tried again next time). Answers how many
        were delivered."""
        if self._deliver is None:
            return 0
        delivered = 0
        async with self._delivering:
            while True:
                async with self._lock:
                    row = self._db.execute(
                        "SELECT seq, body FROM sandbox_events WHERE delivered = 0 "
                        "ORDER BY seq LIMIT 1"
                    ).fetchone()
                if row is None:
                    return delivered
                payload = row[1].encode("utf-8")
                timestamp = int(self._clock.now().timestamp())
                header = stripe_format.sign_webhook(payload, self.webhook_secret, timestamp)
                await self._deliver(payload, header)
                async with self._lock:
                    self._db.execute(
                        "UPDATE sandbox_events SET delivered = 1 WHERE seq = ?", (row[0],)
                    )
                delivered += 1

    async def _deliver_in_background(self, retry_seconds: float) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.deliver_webhooks()
            except Exception:
                log.warning("sandbox webhook delivery failed; retrying", exc_info=True)
                await asyncio.sleep(retry_seconds)
                self._wake.set()

    def start(self, *, retry_seconds: float = 1.0) -> None:
        """Delivers events in the background as they happen, as Stripe does."""
        if self._deliverer is None:
            self._wake.set()
            self._deliverer = asyncio.create_task(self._deliver_in_background(retry_seconds))

    async def aclose(self) -> None:
        """Stops delivering and closes the file."""
        if self._deliverer is not None:
            self._deliverer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deliverer
            self._deliverer = None
        self._db.close()


def posting_to(url: str, *, timeout_seconds: float = 10.0) -> WebhookDelivery:
    """A delivery that POSTs each webhook to url as Stripe does (JSON body, Stripe-Signature
    header); an answer other than 2xx, or none, leaves the event to be delivered again."""

    async def post(payload: bytes, signature: str) -> None:
        async with httpx.AsyncClient(timeout=timeout_seconds) as client:
            answer = await client.post(
                url,
                content=payload,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature,
                },
            )
        answer.raise_for_status()

    return post


def _unexpected_state(intent: Mapping[str, Any], action: str) -> ProviderRejected:
    return _rejected(
        f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}.",
        "payment_intent_unexpected_state",
    )


def _unexpected_subscription(subscription: Mapping[str, Any]) -> ProviderRejected:
    return _rejected(
        f"This subscription can no longer be changed: its status is {subscription['status']}.",
        "resource_missing" if subscription["status"] == "canceled" else "invalid_request",
    )
