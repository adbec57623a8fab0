"""Live cursors: where a live stream stood, as an opaque token the client hands back when it
reconnects. A cursor carries a position in the live log and when it was issued, signed with
the database's own key (HMAC-SHA256), so a forged or altered one, or one of another database,
is told apart from a real one before anything is read."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# A position and the microseconds since the epoch it was issued at; then the signature.
_LAYOUT = struct.Struct(">qq")
_SIGNATURE_BYTES = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Issued cursors are 43 characters; anything longer is not one of ours and is not decoded.
MAX_CURSOR_LENGTH = 64
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class LiveCursor:
    """A verified cursor: the live log's position it stands at, and when it was issued."""

    position: int
    issued_at: datetime


class CursorSigner:
    """Issues and reads the cursors of one database's live log."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, position: int, at: datetime) -> str:
        """The cursor standing at a position of the log, issued at `at`."""
        body = _LAYOUT.pack(position, (at - _EPOCH) // _MICROSECOND)
        return _encoded(body + self._sign(body))

    def read(self, cursor: str) -> LiveCursor | None:
        """The cursor's position and time; None unless this signer issued it as it is."""
        if len(cursor) > MAX_CURSOR_LENGTH or not _CURSOR.fullmatch(cursor):
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            return None
        # Only the one spelling issued: base64's spare bits may not vary either.
        if len(raw) != _LAYOUT.size + _SIGNATURE_BYTES or _encoded(raw) != cursor:
            return None
        body, signature = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        position, micros = _LAYOUT.unpack(body)
        return LiveCursor(position, _EPOCH + micros * _MICROSECOND)

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
