"""Partner webhooks: a partner's endpoint, what it may subscribe to, how a delivery is signed
(Standard Webhooks) and when a failed one is tried again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from chassis.validation import Violations

# Resource names: "partnerWebhooks/{id}" and "partnerWebhooks/{id}/deliveries/{id}".
WEBHOOK_PREFIX = "partnerWebhooks/"
DELIVERIES = "/deliveries/"

SECRET_PREFIX = "whsec_"
# 32 random bytes: above the spec's floor of 24, the HMAC-SHA256 key size.
SECRET_BYTES = 32
URL_LENGTH = 2000
DESCRIPTION_LENGTH = 200
UPDATABLE = frozenset({"event_types", "enabled", "description"})
# Why an endpoint was switched off by us rather than by staff.
DISABLED_FAILING = "failing"
LOOPBACK_NAMES = frozenset({"localhost"})


class DeliveryState(StrEnum):
    """Where one event's delivery to one endpoint stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass
class PartnerWebhook:
    """A partner's endpoint: where events of its types are POSTed, signed with its secret."""

    id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str = ""
    consecutive_failures: int = 0
    # Symmetric: we sign with it, so it is kept as given; never in a repr or a log line.
    secret: str = field(default="", repr=False)

    def view(self) -> dict[str, object]:
        """What the audit log keeps of it: everything but the secret."""
        return {
            "url": self.url,
            "description": self.description,
            "event_types": list(self.event_types),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
        }

    def update(self, paths: Sequence[str], values: PartnerWebhook, offered: Iterable[str]) -> None:
        """Changes the fields named; enabling starts the failure count afresh."""
        v = Violations()
        if not paths:
            v.add("update_mask", "must name at least one field", "required")
        for path in paths:
            if path not in UPDATABLE:
                v.add(path, f"cannot be changed; only {', '.join(sorted(UPDATABLE))}", "read_only")
        v.raise_if_any()
        if "event_types" in paths:
            self.event_types = check_event_types(values.event_types, offered)
        if "description" in paths:
            self.description = check_description(values.description)
        if "enabled" in paths and values.enabled != self.enabled:
            self.enabled = values.enabled
            self.disabled_reason = ""
            self.consecutive_failures = 0


@dataclass(frozen=True)
class Delivery:
    """One event sent (or to be sent) to one endpoint, with how its latest attempt went."""

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status_code: int = 0
    last_latency_ms: int = 0
    last_error: str = ""
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: an HTTP status (0: no answer), its time and any error."""

    status_code: int
    latency_ms: int
    error: str = ""

    @property
    def delivered(self) -> bool:
        return 200 <= self.status_code < 300


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: whsec_ + base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: "v1," + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"
    keyed with the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_loopback: bool) -> str:
    """An endpoint's URL: absolute https with a host and no credentials; http only to a
    loopback host, and only where the operator allows it (tests, the embedded mode)."""
    v = Violations()
    if not url:
        v.add("url", "is required", "required")
    elif len(url) > URL_LENGTH:
        v.add("url", f"must be at most {URL_LENGTH} characters", "too_long")
    elif any(c.isspace() or not c.isprintable() for c in url):
        v.add("url", "must not hold spaces or control characters")
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or not parts.hostname or parts.scheme not in ("https", "http"):
            v.add("url", "must be an absolute https URL, e.g. https://partner.example/hooks")
        elif parts.username is not None or parts.password is not None:
            v.add("url", "must not carry credentials (they would show in the endpoint list)")
        elif parts.scheme == "http" and not (allow_loopback and _is_loopback(parts.hostname)):
            v.add("url", "must use https", "insecure")
        elif port == 0:
            v.add("url", "must name a port from 1 to 65535")
    v.raise_if_any()
    return url


def check_event_types(event_types: Iterable[str], offered: Iterable[str]) -> tuple[str, ...]:
    """At least one type, each one partners may subscribe to; duplicates dropped."""
    allowed = frozenset(offered)
    chosen = tuple(dict.fromkeys(event_types))
    v = Violations()
    if not chosen:
        v.add("event_types", "must name at least one event type", "required")
    for index, name in enumerate(chosen):
        if name not in allowed:
            v.add(
                f"event_types[{index}]",
                f"{name[:100]!r} is not one of {', '.join(sorted(allowed))}",
                "unknown_event_type",
            )
    v.raise_if_any()
    return chosen


def check_description(description: str) -> str:
    if len(description) > DESCRIPTION_LENGTH:
        v = Violations()
        v.add("description", f"must be at most {DESCRIPTION_LENGTH} characters", "too_long")
        v.raise_if_any()
    return description.strip()


@dataclass(frozen=True)
class RetrySchedule:
    """When a failed delivery is tried again: the first wait doubling per failure, capped,
    spread by a random share (jitter) so a partner back from an outage is not hit by every
    retry at once; given up after `max_attempts`."""

    first: timedelta
    longest: timedelta
    jitter: float
    max_attempts: int

    def gives_up(self, attempts: int) -> bool:
        """Whether `attempts` failed attempts are all a delivery gets."""
        return attempts >= self.max_attempts

    def delay(self, attempts: int, chance: random.Random | None = None) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        base = min(self.first * 2 ** max(attempts - 1, 0), self.longest)
        spread = (chance or random).uniform(1 - self.jitter, 1 + self.jitter)
        return base * spread
