"""A small fake of Stripe's HTTP API for what localstripe lacks: Connect accounts, account
links, transfers and their reversals, payouts on a connected account (the Stripe-Account
header), prices and subscriptions, and idempotent replays (the Idempotency-Key header); with
payment intents (paid by any card) and their refunds too, so a test that needs replays of
those (the crash tests) has them, and signed events about its objects.

It speaks Stripe's wire format as the official library sends and reads it: form-encoded
bodies with bracketed keys (items[0][price]), JSON answers, errors as {"error": {"type",
"code", "param", "message"}} with Stripe's status codes, and the first answer to a key given
again for the same request (Idempotent-Replayed: true) or an idempotency_error for another.
It runs in a thread of its own, so synchronous fixtures can share it across tests.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from services.payments.provider.stripe_format import sign_webhook

Params = dict[str, Any]
Handler = Callable[[web.Request, Params], Awaitable[Params]]

MONTH_SECONDS = 30 * 24 * 3600


class StripeFailure(Exception):
    """An answer in Stripe's error format."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "type": "invalid_request_error",
                "code": code,
                "param": param,
                "message": message,
            }
        }


def nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracketed form keys (items[0][price]=p) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {key: _lists(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    return node


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass
class Request:
    """One request as the fake saw it, for tests to check headers."""

    method: str
    path: str
    idempotency_key: str | None
    stripe_account: str | None
    params: Params


@dataclass
class FakeStripeState:
    """The fake's objects, idempotent answers and the requests it was sent."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    onboarding: dict[str, dict[str, str]] = field(default_factory=dict)
    answers: dict[tuple[str, str], tuple[str, dict[str, Any], int, dict[str, Any]]] = field(
        default_factory=dict
    )
    requests: list[Request] = field(default_factory=list)


class FakeStripe:
    """Stripe's API for accounts, links, transfers, payouts, prices and subscriptions."""

    def __init__(self) -> None:
        self.state = FakeStripeState()
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # What tests read
    def writes_without_idempotency_key(self) -> list[Request]:
        """Every POST or DELETE that came without an Idempotency-Key."""
        return [
            request
            for request in self.state.requests
            if request.method in ("POST", "DELETE") and not request.idempotency_key
        ]

    def count(self, kind: str) -> int:
        """How many objects of a kind (transfer, payout...) the fake holds."""
        return sum(1 for obj in self.state.objects.values() if obj["object"] == kind)

    def forget_idempotency_keys(self) -> None:
        """What Stripe does to keys at least 24 hours old: a request under one is new again."""
        self.state.answers.clear()

    def objects_with(self, kind: str, **metadata: str) -> list[dict[str, Any]]:
        """The objects of a kind whose metadata holds these pairs (ours name our ids there)."""
        return [
            obj
            for obj in self.state.objects.values()
            if obj["object"] == kind
            and all(obj["metadata"].get(name) == value for name, value in metadata.items())
        ]

    def signed_event(
        self, event_type: str, object_id: str, secret: str, created: int
    ) -> tuple[bytes, str]:
        """A webhook about one of the fake's objects as it stands, signed under secret as
        Stripe signs them at created (Unix seconds): its body and Stripe-Signature header."""
        obj = {k: v for k, v in self.state.objects[object_id].items() if not k.startswith("_")}
        event = {
            "id": _new_id("evt_"),
            "object": "event",
            "type": event_type,
            "created": created,
            "data": {"object": obj},
        }
        payload = json.dumps(event).encode()
        return payload, sign_webhook(payload, secret, created)

    # The server
    def app(self) -> web.Application:
        app = web.Application()
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "/v1/customers", self._create_customer),
            ("POST", "/v1/payment_intents", self._create_payment_intent),
            ("GET", "/v1/payment_intents/{id}", self._retrieve("payment_intent")),
            ("POST", "/v1/payment_intents/{id}/confirm", self._confirm_payment_intent),
            ("POST", "/v1/refunds", self._create_refund),
            ("GET", "/v1/refunds/{id}", self._retrieve("refund")),
            ("GET", "/v1/refunds", self._list_refunds),
            ("POST", "/v1/accounts", self._create_account),
            ("GET", "/v1/accounts/{id}", self._retrieve("account")),
            ("POST", "/v1/account_links", self._create_account_link),
            ("POST", "/v1/transfers", self._create_transfer),
            ("GET", "/v1/transfers", self._list_transfers),
            ("POST", "/v1/transfers/{id}/reversals", self._create_transfer_reversal),
            ("POST", "/v1/payouts", self._create_payout),
            ("GET", "/v1/payouts/{id}", self._retrieve_payout),
            ("POST", "/v1/prices", self._create_price),
            ("POST", "/v1/subscriptions", self._create_subscription),
            ("GET", "/v1/subscriptions/{id}", self._retrieve("subscription")),
            ("POST", "/v1/subscriptions/{id}", self._update_subscription),
            ("DELETE", "/v1/subscriptions/{id}", self._cancel_subscription),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._stripe(handler))
        app.router.add_get("/onboarding/{token}", self._onboard)
        return app

    def start(self) -> str:
        """Serves on a free loopback port in a thread of its own; answers the API base."""
        ready = threading.Event()
        port = free_port()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._runner = web.AppRunner(self.app(), access_log=None)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-stripe", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Stripe API did not start")
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _stripe(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def answer(request: web.Request) -> web.Response:
            key = request.headers.get("Idempotency-Key")
            account = request.headers.get("Stripe-Account")
            params = nested([(name, str(value)) for name, value in (await request.post()).items()])
            if request.method == "GET":
                params.update(nested(list(request.query.items())))
            self.state.requests.append(Request(request.method, request.path, key, account, params))
            scope = (account or "platform", key or "")
            if key and request.method != "GET":
                earlier = self.state.answers.get(scope)
                if earlier is not None:
                    path, first_params, status, body = earlier
                    if path != f"{request.method} {request.path}" or first_params != params:
                        return web.json_response(
                            {
                                "error": {
                                    "type": "idempotency_error",
                                    "message": "Keys for idempotent requests can only be used "
                                    "with the same parameters they were first used with.",
                                }
                            },
                            status=400,
                        )
                    return web.json_response(
                        body, status=status, headers={"Idempotent-Replayed": "true"}
                    )
            try:
                body, status = await handler(request, params), 200
            except StripeFailure as failure:
                body, status = failure.body, failure.status
            if key and request.method != "GET":
                # Stripe replays the first answer as it was sent, not the object as it is now.
                self.state.answers[scope] = (
                    f"{request.method} {request.path}",
                    params,
                    status,
                    copy.deepcopy(body),
                )
            return web.json_response(body, status=status)

        return answer

    def _get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        obj = self.state.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise StripeFailure(404, "resource_missing", f"No such {kind}: '{object_id}'", param)
        return obj

    def _retrieve(self, kind: str) -> Handler:
        async def retrieve(request: web.Request, params: Params) -> Params:
            return self._get(kind, request.match_info["id"])

        return retrieve

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.state.objects[obj["id"]] = obj
        return obj

    @staticmethod
    def _amount(params: dict[str, Any], name: str = "amount") -> int:
        value = params.get(name, "")
        if not str(value).isdigit():
            raise StripeFailure(400, "parameter_invalid_integer", f"Invalid integer: {value}", name)
        return int(value)

    def _part_of(self, params: Params, left: int, code: str, message: str) -> int:
        """The amount asked for (all that is left when none is), refused beyond what is left."""
        amount = self._amount(params) if "amount" in params else left
        if amount < 1 or amount > left:
            raise StripeFailure(400, code, message, "amount")
        return amount

    async def _create_customer(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        return self._store(
            {
                "id": _new_id("cus_"),
                "object": "customer",
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )

    async def _create_payment_intent(self, request: web.Request, params: Params) -> Params:
        intent_id = _new_id("pi_")
        return self._store(
            {
                "id": intent_id,
                "object": "payment_intent",
                "amount": self._amount(params),
                "currency": params["currency"],
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "customer": params.get("customer"),
                "payment_method": params.get("payment_method"),
                "amount_received": 0,
                "last_payment_error": None,
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )

    async def _confirm_payment_intent(self, request: web.Request, params: Params) -> Params:
        """Every card pays (declines and 3-D Secure are localstripe's and the sandbox's)."""
        intent = self._get("payment_intent", request.match_info["id"])
        if intent["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeFailure(
                400,
                "payment_intent_unexpected_state",
                f"This PaymentIntent's status is {intent['status']}: it cannot be confirmed.",
            )
        method = params.get("payment_method") or intent["payment_method"]
        if not method:
            raise StripeFailure(
                400, "parameter_missing", "A payment method is needed", "payment_method"
            )
        intent.update(payment_method=method, status="succeeded", amount_received=intent["amount"])
        return intent

    async def _create_refund(self, request: web.Request, params: Params) -> Params:
        intent = self._get("payment_intent", params.get("payment_intent", ""), "payment_intent")
        if intent["status"] != "succeeded":
            raise StripeFailure(
                400, "payment_intent_unexpected_state", "Only a paid intent can be refunded"
            )
        left = intent["amount_received"] - self.state.refunded.get(intent["id"], 0)
        amount = self._part_of(
            params, left, "amount_too_large", f"The intent has only {left} left to refund"
        )
        self.state.refunded[intent["id"]] = self.state.refunded.get(intent["id"], 0) + amount
        return self._store(
            {
                "id": _new_id("re_"),
                "object": "refund",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "status": "succeeded",
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )

    async def _list_refunds(self, request: web.Request, params: Params) -> Params:
        """An intent's refunds, newest first, up to limit."""
        intent = self._get("payment_intent", params.get("payment_intent", ""), "payment_intent")
        made = [
            obj
            for obj in reversed(self.state.objects.values())
            if obj["object"] == "refund" and obj["payment_intent"] == intent["id"]
        ]
        return _page("/v1/refunds", made, int(params.get("limit", 10)))

    async def _create_account(self, request: web.Request, params: Params) -> Params:
        if params.get("type") != "express":
            raise StripeFailure(400, "parameter_invalid_empty", "type must be express", "type")
        return self._store(
            {
                "id": _new_id("acct_"),
                "object": "account",
                "type": "express",
                "country": params.get("country"),
                "email": params.get("email"),
                "capabilities": {"transfers": "inactive"},
                "charges_enabled": False,
                "details_submitted": False,
                "payouts_enabled": False,
                "metadata": params.get("metadata", {}),
            }
        )

    async def _create_account_link(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        account = self._get("account", params.get("account", ""), "account")
        if params.get("type") != "account_onboarding":
            raise StripeFailure(400, "parameter_invalid_empty", "Invalid type", "type")
        token = secrets.token_hex(8)
        self.state.onboarding[token] = {
            "account": account["id"],
            "return_url": params["return_url"],
        }
        now = int(time.time())
        return {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"{self.base_url}/onboarding/{token}",
        }

    async def _onboard(self, request: web.Request) -> web.Response:
        """Stripe's hosted onboarding, finished at once: the account can be paid out."""
        link = self.state.onboarding.pop(request.match_info["token"], None)
        if link is None:
            return web.Response(status=404, text="this onboarding link has been used or expired")
        account = self.state.objects[link["account"]]
        account.update(
            capabilities={"transfers": "active"},
            charges_enabled=True,
            details_submitted=True,
            payouts_enabled=True,
        )
        raise web.HTTPFound(link["return_url"])

    async def _create_transfer(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        amount = self._amount(params)
        account = self._get("account", params.get("destination", ""), "destination")
        if account["capabilities"]["transfers"] != "active":
            raise StripeFailure(
                400,
                "insufficient_capabilities_for_transfer",
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                "destination",
            )
        currency = params["currency"]
        balance = (account["id"], currency)
        self.state.balances[balance] = self.state.balances.get(balance, 0) + amount
        return self._store(
            {
                "id": _new_id("tr_"),
                "object": "transfer",
                "amount": amount,
                "currency": currency,
                "destination": account["id"],
                "transfer_group": params.get("transfer_group"),
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
                "amount_reversed": 0,
                "reversed": False,
            }
        )

    async def _list_transfers(self, request: web.Request, params: Params) -> Params:
        """Transfers newest first, of one transfer group when asked (Stripe's only filter we
        use), up to limit."""
        group = params.get("transfer_group")
        made = [
            obj
            for obj in reversed(self.state.objects.values())
            if obj["object"] == "transfer" and group in (None, obj["transfer_group"])
        ]
        return _page("/v1/transfers", made, int(params.get("limit", 10)))

    async def _create_transfer_reversal(self, request: web.Request, params: Params) -> Params:
        transfer = self._get("transfer", request.match_info["id"])
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = self._part_of(
            params,
            left,
            "parameter_invalid_integer",
            f"Transfer {transfer['id']} has only {left} left to reverse",
        )
        balance = (transfer["destination"], transfer["currency"])
        if self.state.balances.get(balance, 0) < amount:
            raise StripeFailure(
                400,
                "balance_insufficient",
                "The destination account has insufficient funds to reverse this transfer.",
                "amount",
            )
        self.state.balances[balance] -= amount
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        return self._store(
            {
                "id": _new_id("trr_"),
                "object": "transfer_reversal",
                "amount": amount,
                "currency": transfer["currency"],
                "transfer": transfer["id"],
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )

    async def _create_payout(self, request: web.Request, params: Params) -> Params:
        account_id = request.headers.get("Stripe-Account")
        if not account_id:
            raise StripeFailure(
                400, "balance_insufficient", "The platform has no balance to pay out", "amount"
            )
        self._get("account", account_id, "Stripe-Account")
        amount = self._amount(params)
        balance = (account_id, params["currency"])
        if self.state.balances.get(balance, 0) < amount:
            raise StripeFailure(
                400,
                "balance_insufficient",
                "You have insufficient funds in your Stripe account for this transfer.",
                "amount",
            )
        self.state.balances[balance] -= amount
        payout = self._store(
            {
                "id": _new_id("po_"),
                "object": "payout",
                "amount": amount,
                "currency": params["currency"],
                "status": "pending",
                "failure_code": None,
                "failure_message": None,
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
        )
        payout["_account"] = account_id
        return {key: value for key, value in payout.items() if not key.startswith("_")}

    async def _retrieve_payout(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        payout = self._get("payout", request.match_info["id"])
        if payout["_account"] != request.headers.get("Stripe-Account"):
            raise StripeFailure(404, "resource_missing", "No such payout", "id")
        return {key: value for key, value in payout.items() if not key.startswith("_")}

    async def _create_price(self, request: web.Request, params: Params) -> Params:
        recurring = params.get("recurring", {})
        if recurring.get("interval") not in ("day", "week", "month", "year"):
            raise StripeFailure(
                400, "parameter_invalid_empty", "Invalid interval", "recurring[interval]"
            )
        if "product_data" not in params and "product" not in params:
            raise StripeFailure(400, "parameter_missing", "Missing product", "product")
        return self._store(
            {
                "id": _new_id("price_"),
                "object": "price",
                "active": True,
                "currency": params["currency"],
                "unit_amount": self._amount(params, "unit_amount"),
                "recurring": {"interval": recurring["interval"], "interval_count": 1},
                "product": _new_id("prod_"),
                "metadata": params.get("metadata", {}),
            }
        )

    def _item(self, price: dict[str, Any], start: int) -> dict[str, Any]:
        return {
            "id": _new_id("si_"),
            "object": "subscription_item",
            "price": price,
            "current_period_start": start,
            "current_period_end": start + MONTH_SECONDS,
        }

    async def _create_subscription(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        customer = self._get("customer", params.get("customer", ""), "customer")
        items = params.get("items") or [{}]
        price = self._get("price", items[0].get("price", ""), "items[0][price]")
        return self._store(
            {
                "id": _new_id("sub_"),
                "object": "subscription",
                "customer": customer["id"],
                "status": "active",
                "cancel_at_period_end": False,
                "default_payment_method": params.get("default_payment_method"),
                "metadata": params.get("metadata", {}),
                "items": {"object": "list", "data": [self._item(price, int(time.time()))]},
            }
        )

    async def _update_subscription(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        subscription = self._get("subscription", request.match_info["id"])
        if subscription["status"] == "canceled":
            raise StripeFailure(
                400, "resource_missing", "A canceled subscription can only update metadata"
            )
        for change in params.get("items", []):
            item = subscription["items"]["data"][0]
            if change.get("id") != item["id"]:
                raise StripeFailure(400, "resource_missing", "No such item", "items[0][id]")
            item["price"] = self._get("price", change["price"], "items[0][price]")
        if params.get("proration_behavior") not in (
            None,
            "none",
            "always_invoice",
            "create_prorations",
        ):
            raise StripeFailure(400, "parameter_invalid", "Invalid proration_behavior")
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        return subscription

    async def _cancel_subscription(
        self, request: web.Request, params: dict[str, Any]
    ) -> dict[str, Any]:
        subscription = self._get("subscription", request.match_info["id"])
        subscription["status"] = "canceled"
        return subscription


def _page(url: str, found: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """The first page of a list, as Stripe answers one."""
    return {"object": "list", "url": url, "has_more": len(found) > limit, "data": found[:limit]}


def free_port() -> int:
    """A loopback port nothing listens on now (port 0 cannot be handed to a child process)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
