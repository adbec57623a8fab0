"""Identifiers: time-ordered UUIDv7 so that new rows land at the end of their indexes.

Ids made by one process are strictly increasing, also within a millisecond, so a list in id
order is in creation order (a practitioner's places read back as they were given, "newest
first" is newest first). RFC 9562's method 1: the 12 bits after the timestamp are a counter,
started at a random point in its lower half each millisecond; should it run out, the
timestamp is borrowed one millisecond ahead. Across processes, ids are ordered by their
millisecond only.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_COUNTER_BITS = 12
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_lock = threading.Lock()
_last_millis = 0
_counter = 0


def _next_stamp() -> tuple[int, int]:
    """The millisecond and counter of the next id, later than every one before it."""
    global _last_millis, _counter
    now = time.time_ns() // 1_000_000
    with _lock:
        if now > _last_millis:
            _last_millis = now
            _counter = int.from_bytes(os.urandom(2), "big") & (_COUNTER_MAX >> 1)
        elif _counter < _COUNTER_MAX:
            _counter += 1
        else:
            # The clock went back, or 2048+ ids in one millisecond: borrow the next one.
            _last_millis += 1
            _counter = 0
        return _last_millis, _counter


def new_id() -> str:
    """A UUIDv7 (RFC 9562) as a string: 48 bits of Unix milliseconds, a 12-bit counter, then
    62 random bits."""
    millis, counter = _next_stamp()
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (
        ((millis & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    )
    return str(uuid.UUID(int=value))


def is_uuid(value: str) -> bool:
    """Whether value is a canonical (lower-case, hyphenated) UUID string."""
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False
