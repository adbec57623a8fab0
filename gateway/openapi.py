"""The OpenAPI document that clients generate their SDKs from (docs/openapi.json).

FastAPI builds the document from the routes; `finish` makes it one a generator turns into a
working client:

* schema names are the resources' (User, Practitioner, ServicePage...), unique, never a
  module path or a generic's brackets;
* every operation lists each problem+json answer it can give, all with the one Problem
  schema: those its route implies (`implied_problems`: a token, staff, a path id, a body, an
  Idempotency-Key, a cursor, a backend, the rate limit) and those of the domain the route
  declares (`gateway.problems.responses(409)`);
* the headers: X-Request-ID on every answer, RateLimit-* on /api/ answers, Retry-After on a
  429, WWW-Authenticate on a 401;
* the tags, with their descriptions. Operation ids are the routes' own, `<tag>.<verb>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from gateway.auth import require_staff, require_user
from gateway.middleware import CREDENTIAL_ROUTES
from gateway.problems import MEDIA_TYPE, TITLES, Problem
from gateway.routes.common import IDEMPOTENCY_KEY, backends
from gateway.schemas import booking, catalog, identity, messaging, payments, streams

# `<tag>.<verb>`, both snake_case: the SDK's function names (auth_register) come from them.
OPERATION_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
SCHEMA_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")

TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Accounts and sessions: register, log in, tokens, passwords."},
    {"name": "users", "description": "The signed-in user's account; staff manage everyone's."},
    {"name": "audit_log", "description": "What staff did, in every service (staff only)."},
    {
        "name": "practitioners",
        "description": "Applying, profiles, staff review and discovery of practitioners.",
    },
    {"name": "locations", "description": "A practitioner's places of work."},
    {"name": "categories", "description": "The category tree services are filed under."},
    {"name": "services", "description": "What practitioners sell, and discovery of it."},
    {
        "name": "reviews",
        "description": "Clients' reviews of their completed bookings, and practitioners' replies.",
    },
    {
        "name": "availability",
        "description": "A practitioner's hours and free time, and the times a client can book.",
    },
    {
        "name": "bookings",
        "description": "Booking sessions, seats, packages and bundles; their life until they "
        "take place.",
    },
    {"name": "entitlements", "description": "The sessions a client's packages and bundles give."},
    {"name": "waitlist", "description": "Places in line for full workshops and courses."},
    {
        "name": "calendar_feeds",
        "description": "A user's confirmed bookings as iCalendar, at a secret address.",
    },
    {
        "name": "notifications",
        "description": "The signed-in user's in-app notifications: read, mark read, count.",
    },
    {
        "name": "notification_preferences",
        "description": "Which notifications reach the signed-in user on which channel.",
    },
    {
        "name": "notification_settings",
        "description": "The signed-in user's language, time zone and phone number for "
        "notifications.",
    },
    {
        "name": "push_devices",
        "description": "The signed-in user's devices that receive push notifications.",
    },
    {
        "name": "conversations",
        "description": "Direct conversations between clients and practitioners, and their "
        "messages.",
    },
    {"name": "blocks", "description": "People the signed-in user has blocked from writing."},
    {
        "name": "message_reports",
        "description": "Messages participants reported to staff, and staff's list of them.",
    },
    {
        "name": "partner_webhooks",
        "description": "Partners' endpoints that receive business events as signed webhooks "
        "(Standard Webhooks), their delivery logs and replays (staff only).",
    },
    {
        "name": "checkout",
        "description": "Paying for a booking: credits first, the rest by card (a payment intent).",
    },
    {
        "name": "credits",
        "description": "A client's prepaid credit, spent first at checkout: top-ups by card, "
        "promo codes redeemed, the balance and its history (credit given by promo codes and "
        "gift cards expires).",
    },
    {
        "name": "gift_cards",
        "description": "Gift cards bought by card, each redeemed once into anyone's credit "
        "by its code.",
    },
    {
        "name": "promo_codes",
        "description": "Promo codes staff make, each giving clients credit once, up to a limit, "
        "until it expires.",
    },
    {
        "name": "payouts",
        "description": "A practitioner's Stripe Connect account and the payouts of their "
        "available earnings to their bank.",
    },
    {
        "name": "payments",
        "description": "A client's own payments: their checkouts and the refunds on them.",
    },
    {
        "name": "stream_orders",
        "description": "Paying creators: tips to a stream or one of its posts and posts' "
        "one-off unlocks, paid by credits first and the rest by card; the creator earns them "
        "less the commission.",
    },
    {
        "name": "stream_subscriptions",
        "description": "Readers' monthly subscriptions to a stream's paid tiers, at the "
        "stream's price: the level granted while paid up, upgrades at once, downgrades and "
        "cancellations at the period's end; each paid month the creator's earning.",
    },
    {
        "name": "ledger",
        "description": "The double-entry ledger as staff see it: any account, its postings, "
        "and manual adjustments (balanced, audited).",
    },
    {
        "name": "platform_subscriptions",
        "description": "A practitioner's monthly subscription to a paid platform tier (entry, "
        "premium): their service limit and the commission they pay.",
    },
    {
        "name": "streams",
        "description": "A practitioner's paid content stream, its tiers (level 0 free; a "
        "higher level reads all a lower one does) and who follows it.",
    },
    {
        "name": "stream_posts",
        "description": "A stream's posts: drafts its owner writes and publishes, read whole "
        "at or above their level and as locked teasers below it; likes, saves and poll votes "
        "by the readers who read them whole.",
    },
    {
        "name": "stream_comments",
        "description": "Comments on a stream's posts and replies to them: their authors edit "
        "and delete them, the stream's owner hides them.",
    },
    {"name": "feed", "description": "The posts of the streams the signed-in user follows."},
    {"name": "saved_posts", "description": "The posts the signed-in user saved."},
    {
        "name": "media",
        "description": "The folder media store's signed upload form and object URLs "
        "(embedded mode only; 404 when media live in S3, where the URLs point instead).",
    },
    {
        "name": "live",
        "description": "A stream's live video on LiveKit: its owner hosts and publishes, "
        "followers at the live's tier level watch.",
    },
    {
        "name": "session_rooms",
        "description": "A confirmed virtual booking's video room on LiveKit, for its "
        "practitioner and client, from shortly before the session until its end.",
    },
    {
        "name": "webhooks",
        "description": "Events from outside parties (Stripe, LiveKit), signed by them.",
    },
    {
        "name": "sandbox",
        "description": "The sandbox payment provider's stand-ins for Stripe.js (embedded mode "
        "only; 404 on Stripe).",
    },
    {"name": "health", "description": "Liveness and readiness of the gateway."},
]

# The names FastAPI gives some models, and the names clients see: the resource, not the
# gateway's Out suffix or a generic's Page_X_.
SCHEMA_NAMES = {
    "PractitionerOut": "Practitioner",
    "ServiceOut": "Service",
    "LocationOut": "Location",
    "CategoryOut": "Category",
    "Page_User_": "UserPage",
    "Page_AuditEntry_": "AuditEntryPage",
    "Page_PractitionerOut_": "PractitionerPage",
    "Page_ServiceOut_": "ServicePage",
    "ReviewOut": "Review",
    "Page_ReviewOut_": "ReviewPage",
    "ScheduleOut": "Schedule",
    "AvailabilityOut": "Availability",
    "SlotsOut": "Slots",
    "BookingOut": "Booking",
    "Page_BookingOut_": "BookingPage",
    "EntitlementOut": "Entitlement",
    "Page_EntitlementOut_": "EntitlementPage",
    "WaitlistEntryOut": "WaitlistEntry",
    "Page_WaitlistEntryOut_": "WaitlistEntryPage",
    "CalendarFeedOut": "CalendarFeed",
    "NotificationOut": "Notification",
    "Page_NotificationOut_": "NotificationPage",
    "UnreadCountOut": "UnreadCount",
    "MarkedReadOut": "MarkedRead",
    "PreferenceOut": "NotificationPreference",
    "PreferencesOut": "NotificationPreferences",
    "ConversationOut": "Conversation",
    "Page_ConversationOut_": "ConversationPage",
    "MessageOut": "Message",
    "Page_MessageOut_": "MessagePage",
    "ReadReceiptOut": "ReadReceipt",
    "AttachmentOut": "MessageAttachment",
    "AttachmentUploadOut": "AttachmentUpload",
    "MessageReportOut": "MessageReport",
    "Page_MessageReportOut_": "MessageReportPage",
    "PartnerWebhookOut": "PartnerWebhook",
    "Page_PartnerWebhookOut_": "PartnerWebhookPage",
    "PartnerWebhookDeliveryOut": "PartnerWebhookDelivery",
    "Page_PartnerWebhookDeliveryOut_": "PartnerWebhookDeliveryPage",
    "CheckoutOut": "Checkout",
    "PayoutAccountOut": "PayoutAccount",
    "PayoutOnboardingOut": "PayoutOnboarding",
    "PayoutOut": "Payout",
    "PlatformSubscriptionOut": "PlatformSubscription",
    "Page_PayoutOut_": "PayoutPage",
    "Page_StreamSubscriptionOut_": "StreamSubscriptionPage",
    "TopUpOut": "CreditTopUp",
    "CreditsOut": "Credits",
    "CreditMovementOut": "CreditMovement",
    "Page_CreditMovementOut_": "CreditMovementPage",
    "RedemptionOut": "PromoCodeRedemption",
    "PromoCodeOut": "PromoCode",
    "Page_PromoCodeOut_": "PromoCodePage",
    "ClientPaymentOut": "ClientPayment",
    "Page_ClientPaymentOut_": "ClientPaymentPage",
    "RefundOut": "PaymentRefund",
    "LedgerAccountOut": "LedgerAccount",
    "Page_LedgerAccountOut_": "LedgerAccountPage",
    "LedgerEntryOut": "LedgerEntry",
    "Page_LedgerEntryOut_": "LedgerEntryPage",
    "LedgerTransactionOut": "LedgerTransaction",
    "PostingOut": "LedgerPosting",
    "StreamOut": "Stream",
    "TierOut": "StreamTier",
    "PostOut": "StreamPost",
    "Page_PostOut_": "StreamPostPage",
    "FollowOut": "StreamFollow",
    "PollOut": "StreamPoll",
    "PollOptionOut": "StreamPollOption",
    "CommentOut": "StreamComment",
    "Page_CommentOut_": "StreamCommentPage",
    "PostMediumOut": "StreamPostMedium",
    "MediaUploadOut": "StreamMediaUpload",
    "MediaUrlOut": "StreamMediaUrl",
    "AnalyticsOut": "StreamAnalytics",
    "SubscriberDayOut": "StreamSubscriberDay",
    "LevelFollowersOut": "StreamLevelFollowers",
    "PostEngagementOut": "StreamPostEngagement",
    "LiveOut": "Live",
    "RoomTokenOut": "RoomToken",
}

# The enums clients share between requests and answers, named once (a ServiceKind, not a
# services_list_kind and a service_create_kind): every inline enum of exactly these values
# becomes a reference to its component.
ENUMS: dict[str, tuple[str, ...]] = {
    "Role": identity.ROLES.names,
    "UserStatus": identity.STATUSES.names,
    "ServiceKind": catalog.SERVICE_KINDS.names,
    "ServiceStatus": catalog.SERVICE_STATUSES.names,
    "LocationKind": catalog.LOCATION_KINDS.names,
    "PractitionerStatus": catalog.PRACTITIONER_STATUSES.names,
    "PlatformTier": catalog.TIERS.names,
    "SortOrder": catalog.SORT_ORDERS.names,
    "BookingStatus": booking.BOOKING_STATUSES.names,
    "EntitlementStatus": booking.ENTITLEMENT_STATUSES.names,
    "WaitlistStatus": booking.WAITLIST_STATUSES.names,
    "Weekday": booking.WEEKDAYS.names,
    "Actor": booking.ACTORS.names,
    "NotificationKind": messaging.KINDS.names,
    "NotificationChannel": messaging.CHANNELS.names,
    "CheckoutStatus": payments.CHECKOUT_STATUSES.names,
    "LedgerAccountKind": payments.ACCOUNT_KINDS.names,
    "PostState": streams.POST_STATES.names,
    "PostKind": streams.POST_KINDS.names,
}

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the one sent (if it matches the pattern) or a new "
        "one. A problem body repeats it as request_id.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    },
    "RateLimit-Limit": {
        "description": "The caller's hourly budget of requests (on /api/ answers, while rate "
        "limiting is on).",
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the budget (on /api/ answers, while rate limiting is on).",
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the budget refills (on /api/ answers, while rate limiting "
        "is on).",
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
    "WWW-Authenticate": {
        "description": 'Always `Bearer realm="estuary"`.',
        "required": True,
        "schema": {"type": "string"},
    },
}

# What each problem status means here, with an example body.
PROBLEMS: dict[int, tuple[str, str, str, list[dict[str, str]]]] = {
    400: (
        "The request breaks a rule of the domain; `errors` names each field.",
        "INVALID_ARGUMENT",
        "password: must be at least 10 characters",
        [{"field": "password", "message": "must be at least 10 characters", "code": "too_short"}],
    ),
    401: (
        "No valid access token: none where one is needed, or one that does not verify.",
        "UNAUTHENTICATED",
        "this route needs a bearer access token",
        [],
    ),
    403: (
        "Not allowed: staff only, a suspended or deleted account, or not the caller's.",
        "PERMISSION_DENIED",
        "this route is for staff only",
        [],
    ),
    404: ("No such resource, or not visible to the caller.", "NOT_FOUND", "not found", []),
    409: (
        "The resource is not in a state that allows this, or it already exists.",
        "WRONG_STATUS",
        "only a pending practitioner can be approved",
        [],
    ),
    413: (
        "The request body is larger than the gateway accepts.",
        "PAYLOAD_TOO_LARGE",
        "the request body must be at most 1048576 bytes",
        [{"field": "body", "message": "must be at most 1048576 bytes", "code": "too_large"}],
    ),
    422: (
        "The request's shape is wrong: a missing field, a wrong type, a value out of bounds.",
        "VALIDATION_FAILED",
        "email: Field required",
        [{"field": "email", "message": "Field required", "code": "missing"}],
    ),
    429: (
        "Too many requests: see Retry-After.",
        "RATE_LIMITED",
        "rate limit of 100 exceeded; retry in 1800 s",
        [],
    ),
    503: (
        "A backend service is unavailable; retry later.",
        "UNAVAILABLE",
        "a backend service is unavailable",
        [],
    ),
    504: (
        "A backend service did not answer in time; retry later.",
        "DEADLINE_EXCEEDED",
        "a backend service is unavailable",
        [],
    ),
}
PROBLEM_REF = "#/components/schemas/Problem"


def problem_example(status: int) -> dict[str, Any]:
    _, code, detail, errors = PROBLEMS[status]
    return {
        "type": "https://estuary.dev/problems/" + code.lower().replace("_", "-"),
        "title": TITLES[status],
        "status": status,
        "detail": detail,
        "code": code,
        "errors": errors,
        "request_id": "3f9c2a7d1b6e4c08",
    }


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def implied_problems(route: APIRoute, method: str) -> set[int]:
    """The problem statuses a route can answer because of what it depends on."""
    found: set[int] = set()
    dependants = list(_walk(route.dependant))
    calls: set[Callable[..., Any]] = {d.call for d in dependants if d.call is not None}
    path = route.path_format
    if path.startswith("/api/"):
        found.add(429)  # the caller's hourly budget (EdgeMiddleware)
        if path not in CREDENTIAL_ROUTES:
            found.add(401)  # a token that is sent must verify, whatever the route
    if require_user in calls or require_staff in calls:
        found.add(401)
        if method != "GET":
            found.add(403)  # a suspended or deleted account changes nothing
    if require_staff in calls:
        found.add(403)
    if backends in calls:
        found |= {503, 504}
    path_params = [p for d in dependants for p in d.path_params]
    query_params = [p for d in dependants for p in d.query_params]
    header_params = [p for d in dependants for p in d.header_params]
    body_params = [p for d in dependants for p in d.body_params]
    if path_params:
        found.add(404)
    if path_params or query_params or header_params or body_params:
        found.add(422)
    if any(p.alias == "cursor" for p in query_params):
        found.add(400)  # a cursor that is not ours, or issued for other filters
    if body_params:
        found |= {400, 413}  # a body the JSON parser cannot read; a body past the limit
    if any(p.alias == IDEMPOTENCY_KEY for p in header_params):
        found.add(400)  # the key reused for another request
    return found


def declared_problems(route: APIRoute) -> set[int]:
    """The problem statuses a route declares (`responses(...)`): its domain's answers."""
    return {
        int(status)
        for status, response in route.responses.items()
        if int(status) >= 400 and response.get("model", Problem) is Problem
    }


def _api_routes(app: FastAPI) -> dict[str, APIRoute]:
    """The app's documented routes by operation id."""
    found: dict[str, APIRoute] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and route.operation_id:
            found[route.operation_id] = route
    return found


def _header_refs(names: list[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rename_refs(v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    if isinstance(node, str) and node.startswith("#/components/schemas/"):
        name = node.rsplit("/", 1)[-1]
        return "#/components/schemas/" + renames.get(name, name)
    return node


def _rename_schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document["components"]["schemas"]
    stale = sorted(set(SCHEMA_NAMES) - schemas.keys())
    if stale:
        raise RuntimeError(f"SCHEMA_NAMES names schemas the document no longer has: {stale}")
    taken = sorted(set(SCHEMA_NAMES.values()) & schemas.keys())
    if taken:
        raise RuntimeError(f"SCHEMA_NAMES renames onto names already taken: {taken}")
    document = _rename_refs(document, SCHEMA_NAMES)
    document["components"]["schemas"] = {
        SCHEMA_NAMES.get(name, name): _retitled(SCHEMA_NAMES.get(name), schema)
        for name, schema in document["components"]["schemas"].items()
    }
    return document


def _named_enums(node: Any, by_values: dict[frozenset[str], str]) -> Any:
    if isinstance(node, list):
        return [_named_enums(v, by_values) for v in node]
    if not isinstance(node, dict):
        return node
    name = by_values.get(frozenset(node.get("enum", ())))
    if name is not None and node.get("type") == "string":
        rest = {k: v for k, v in node.items() if k not in ("enum", "type", "title")}
        return {"$ref": f"#/components/schemas/{name}", **rest}
    return {k: _named_enums(v, by_values) for k, v in node.items()}


def _name_enums(document: dict[str, Any]) -> dict[str, Any]:
    by_values = {frozenset(values): name for name, values in ENUMS.items()}
    if len(by_values) != len(ENUMS):
        raise RuntimeError("two ENUMS have the same values; a reference could not tell them apart")
    document = _named_enums(document, by_values)
    for name, values in ENUMS.items():
        document["components"]["schemas"][name] = {
            "type": "string",
            "enum": list(values),
            "title": name,
        }
    return document


def _model_examples() -> dict[str, list[Any]]:
    """The examples of the gateway's models by schema name, as written (FastAPI drops every
    null from the document it builds, also from examples, where a null says "this field is
    there, empty")."""
    found: dict[str, list[Any]] = {}
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if not model.__module__.startswith("gateway."):
            continue
        extra = model.model_config.get("json_schema_extra")
        schema: dict[str, Any] = {}
        if callable(extra):
            extra(schema, model)  # type: ignore[call-arg,arg-type]
        elif isinstance(extra, dict):
            schema = dict(extra)
        if schema.get("examples"):
            name = re.sub(r"[^a-zA-Z0-9.\-_]", "_", model.__name__)
            found[SCHEMA_NAMES.get(name, name)] = schema["examples"]
    return found


def _restore_examples(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name, examples in _model_examples().items():
        if name in schemas:
            schemas[name]["examples"] = examples


def _retitled(name: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    return schema if name is None else {**schema, "title": name}


def _referenced(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _referenced(value)
    elif isinstance(node, list):
        for value in node:
            yield from _referenced(value)


def _drop_unreferenced_schemas(document: dict[str, Any]) -> None:
    """FastAPI's HTTPValidationError and ValidationError, once no 422 names them."""
    schemas = document["components"]["schemas"]
    while True:
        outside = {k: v for k, v in document.items() if k != "components"}
        used = set(_referenced(outside)) | set(
            _referenced({k: v for k, v in document["components"].items() if k != "schemas"})
        )
        reachable: set[str] = set()
        pending = list(used)
        while pending:
            name = pending.pop()
            if name in reachable or name not in schemas:
                continue
            reachable.add(name)
            pending.extend(_referenced(schemas[name]))
        unused = set(schemas) - reachable
        if not unused:
            return
        for name in unused:
            del schemas[name]


def _problem_response(status: int) -> dict[str, Any]:
    description, *_ = PROBLEMS[status]
    headers = ["X-Request-ID"]
    if status == 401:
        headers.append("WWW-Authenticate")
    if status == 429:
        headers.append("Retry-After")
    return {
        "description": description,
        "headers": _header_refs(headers),
        "content": {
            MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}, "example": problem_example(status)}
        },
    }


def finish(document: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """FastAPI's document made into the one clients generate SDKs from."""
    document = _name_enums(_rename_schemas(document))
    _restore_examples(document)
    routes = _api_routes(app)
    components = document["components"]
    # As answered: every field present (request_id null where there is none).
    components["schemas"]["Problem"] = Problem.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    components["schemas"].update(components["schemas"]["Problem"].pop("$defs"))
    components["headers"] = HEADERS
    problems_used: set[int] = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            route = routes.get(operation.get("operationId", ""))
            if route is None:
                continue
            statuses = implied_problems(route, method.upper()) | declared_problems(route)
            problems_used |= statuses
            # FastAPI's own 422 (HTTPValidationError) and the declared problems' application/json
            # stand-ins give way to the problem+json answers.
            responses = {
                s: r
                for s, r in operation["responses"].items()
                if int(s) not in statuses and "HTTPValidationError" not in json.dumps(r)
            }
            limited = path.startswith("/api/")
            for response in responses.values():
                names = ["X-Request-ID"]
                if limited:
                    names += ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
                response["headers"] = {**response.get("headers", {}), **_header_refs(names)}
            for status in sorted(statuses):
                responses[str(status)] = {"$ref": f"#/components/responses/{status_name(status)}"}
            operation["responses"] = dict(sorted(responses.items()))
    components["responses"] = {
        status_name(status): _with_rate_limits(_problem_response(status))
        for status in sorted(problems_used)
    }
    _drop_unreferenced_schemas(document)
    components["schemas"] = dict(sorted(components["schemas"].items()))
    return document


def _with_rate_limits(response: dict[str, Any]) -> dict[str, Any]:
    """Problems are answered on /api/ routes, where the rate-limit headers come along."""
    response["headers"] = {
        **response["headers"],
        **_header_refs(["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]),
    }
    return response


def status_name(status: int) -> str:
    """The components/responses key of a problem status: 'Conflict' for 409."""
    return "".join(word.capitalize() for word in TITLES[status].split())


def build(app: FastAPI) -> dict[str, Any]:
    """The finished document of an app."""
    return finish(
        get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            servers=app.servers,
            separate_input_output_schemas=app.separate_input_output_schemas,
        ),
        app,
    )


def install(app: FastAPI) -> None:
    """Serves the finished document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
