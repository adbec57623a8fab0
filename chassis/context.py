"""Per-request context carried through async code: request id and the calling principal."""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from typing import TYPE_CHECKING

from chassis.errors import Unauthenticated

if TYPE_CHECKING:
    from chassis.auth.principal import Principal

REQUEST_ID_HEADER = "x-request-id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
principal_var: ContextVar[Principal | None] = ContextVar("principal", default=None)


def new_request_id() -> str:
    """A fresh request id: unique enough to trace by, not a secret (so no system call)."""
    return f"{random.getrandbits(64):016x}"


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def is_valid_request_id(value: str) -> bool:
    """Whether a caller's request id is safe to adopt (short, plain characters)."""
    return bool(_REQUEST_ID.match(value))


def current_request_id() -> str | None:
    """The request id of the work in progress, if any."""
    return request_id_var.get()


def current_principal() -> Principal | None:
    """Who is calling, as verified by the authentication interceptor."""
    return principal_var.get()


def current_user() -> Principal:
    """The signed-in user calling (a method whose access is ACCESS_USER has one);
    Unauthenticated for a service or nobody."""
    principal = principal_var.get()
    if principal is None or not principal.is_user:
        raise Unauthenticated("this needs a signed-in user")
    return principal
