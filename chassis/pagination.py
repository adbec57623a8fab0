"""Pagination: page_size/page_token in gRPC, an opaque keyset cursor, bounded page sizes.

A token carries the sort key of the last item served and a fingerprint of the query it
belongs to, so paging is stable while rows are added and a token cannot be replayed
against a different query.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from chassis.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: how many, and after which sort key."""

    size: int
    after: tuple[Any, ...] | None
    fingerprint: str

    def next_token(self, last_key: Sequence[Any]) -> str:
        """The token for the page after the one ending at last_key."""
        payload = orjson.dumps({"k": list(last_key), "q": self.fingerprint})
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def _fingerprint(query: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(dict(query), option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def page_request(
    page_size: int, page_token: str, *, query: Mapping[str, Any], key_length: int
) -> PageRequest:
    """Validates a page request. Sizes over the maximum are capped (AIP-158)."""
    if page_size < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    fingerprint = _fingerprint(query)
    if not page_token:
        return PageRequest(size, None, fingerprint)
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(page_token + "=" * (-len(page_token) % 4)))
        key, token_fingerprint = decoded["k"], decoded["q"]
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidArgument.field("page_token", "is not a token this API issued") from error
    if token_fingerprint != fingerprint:
        raise InvalidArgument.field("page_token", "belongs to a different query")
    if not isinstance(key, list) or len(key) != key_length:
        raise InvalidArgument.field("page_token", "is not a token this API issued")
    return PageRequest(size, tuple(key), fingerprint)
