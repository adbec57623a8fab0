"""Live cursors and the replay's choice of updates: a cursor reads back as issued, and only
with the key that signed it; a replay keeps each thing's last update, in log order."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from services.messaging.cursors import CursorSigner, LiveCursor
from services.messaging.domain.live import LoggedUpdate, UpdateKind, latest_of_each

AT = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
SIGNER = CursorSigner(b"k" * 32)


@settings(max_examples=50, deadline=None)
@given(position=st.integers(min_value=0, max_value=2**62))
def test_a_cursor_reads_back_as_issued(position: int):
    cursor = SIGNER.issue(position, AT)
    assert SIGNER.read(cursor) == LiveCursor(position, AT)
    assert len(cursor) == 43


def test_a_cursor_is_refused_altered_or_signed_with_another_key():
    cursor = SIGNER.issue(42, AT)
    assert CursorSigner(b"o" * 32).read(cursor) is None
    for i in range(len(cursor)):
        for other in "ABCD":  # the last character's spare bits included
            if other != cursor[i]:
                assert SIGNER.read(cursor[:i] + other + cursor[i + 1 :]) is None, (i, other)
    for junk in ("", "not a cursor", "%%", cursor + "A", cursor[:-1], "x" * 1000):
        assert SIGNER.read(junk) is None, junk


def test_a_replay_keeps_each_things_last_update_in_log_order():
    def update(position: int, kind: UpdateKind, subject: str) -> LoggedUpdate:
        return LoggedUpdate(kind, subject, conversation_id="c", position=position)

    sent = update(1, UpdateKind.MESSAGE, "m1")
    other = update(2, UpdateKind.MESSAGE, "m2")
    read = update(3, UpdateKind.READ, "ana")
    edited = update(4, UpdateKind.MESSAGE, "m1")
    read_again = update(5, UpdateKind.READ, "ana")
    notice = LoggedUpdate(UpdateKind.NOTIFICATION, "m1", recipient_user_id="ana", position=6)
    kept = latest_of_each([sent, other, read, edited, read_again, notice])
    assert [u.position for u in kept] == [2, 4, 5, 6]
