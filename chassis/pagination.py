"""Pagination: page_size/page_token in gRPC, an opaque keyset cursor, bounded page sizes.

A token carries the sort key of the last item served and a fingerprint of the query it
belongs to, so paging is stable while rows are added and a token cannot be replayed
against a different query. Tokens are not signed, so decoding trusts nothing: each part of
the key must have the type its list declares, or the token is refused before any query runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

import orjson

from chassis.errors import InvalidArgument
from chassis.ids import is_uuid
from chassis.validation import INT64_MAX, INT64_MIN

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Issued tokens are about a hundred characters; anything far longer is not one of ours and
# is refused before it is decoded.
MAX_TOKEN_LENGTH = 1024

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

T = TypeVar("T")


class KeyPart(Enum):
    """The type one part of a list's sort key has, as its cursor must carry it."""

    # A row id: a canonical UUID string.
    ID = "id"
    # A sort value: an integer within int64 or a finite float, or null in an order that has
    # no value before the id (a discovery list sorted newest first).
    NUMBER_OR_NULL = "number_or_null"

    def accepts(self, value: Any) -> bool:
        """Whether a decoded JSON value can be this part."""
        if self is KeyPart.ID:
            return isinstance(value, str) and is_uuid(value)
        if value is None:
            return True
        if isinstance(value, float):
            return math.isfinite(value)
        # bool is an int to Python but never a sort value.
        return type(value) is int and INT64_MIN <= value <= INT64_MAX


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: how many, and after which sort key."""

    size: int
    after: tuple[Any, ...] | None
    fingerprint: str

    @property
    def fetch(self) -> int:
        """How many rows to ask for: one more than the page holds, to learn if more follow."""
        return self.size + 1

    def next_token(self, last_key: Sequence[Any]) -> str:
        """The token for the page after the one ending at last_key."""
        payload = orjson.dumps({"k": list(last_key), "q": self.fingerprint})
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()

    def page(self, found: Sequence[T], total: int, key: Callable[[T], Sequence[Any]]) -> Page[T]:
        """The page of rows fetched with `fetch`: at most `size` of them, and the token for
        the next page when more were found (key gives an item's sort key)."""
        items = list(found[: self.size])
        more = len(found) > self.size
        return Page(items, self.next_token(key(items[-1])) if more else "", total)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, the token of the next page ("" at the end), the total."""

    items: list[T]
    next_page_token: str
    total: int


def _fingerprint(query: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(dict(query), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _not_issued() -> InvalidArgument:
    return InvalidArgument.field("page_token", "is not a token this API issued")


def _decode(page_token: str) -> tuple[Any, Any]:
    """The key and fingerprint a token holds; InvalidArgument if it is not a token at all."""
    if len(page_token) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(page_token):
        raise _not_issued()
    try:
        payload = base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4))
        decoded = orjson.loads(payload)
    except (binascii.Error, ValueError) as error:
        raise _not_issued() from error
    if not isinstance(decoded, dict) or decoded.keys() != {"k", "q"}:
        raise _not_issued()
    return decoded["k"], decoded["q"]


def page_request(
    page_size: int, page_token: str, *, query: Mapping[str, Any], key: Sequence[KeyPart]
) -> PageRequest:
    """Validates a page request and its token's key. Sizes over the maximum are capped."""
    if page_size < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fingerprint = _fingerprint(query)
    if not page_token:
        return PageRequest(size, None, fingerprint)
    after, token_fingerprint = _decode(page_token)
    if token_fingerprint != fingerprint:
        raise InvalidArgument.field("page_token", "belongs to a different query")
    if not isinstance(after, list) or len(after) != len(key):
        raise _not_issued()
    if not all(part.accepts(value) for part, value in zip(key, after, strict=True)):
        raise _not_issued()
    return PageRequest(size, tuple(after), fingerprint)
