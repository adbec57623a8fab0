"""What readers do with a post they read whole: polls they vote in, comments and replies.

A comment is top-level or a reply to a top-level comment (one level of replies: a reply to
a reply is refused, so a thread stays two levels deep and a client shows it without
recursion). Deleting a comment erases its words and keeps its place, so the replies under
it still read in context; the stream's owner may hide a comment from everyone but its
author and themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chassis.errors import FailedPrecondition, InvalidArgument
from chassis.validation import Violations

MAX_COMMENT = 2000
MIN_POLL_OPTIONS = 2
MAX_POLL_OPTIONS = 10
MAX_POLL_OPTION = 100


@dataclass(frozen=True)
class PollOption:
    text: str
    votes: int = 0
    chosen_by_me: bool = False


@dataclass(frozen=True)
class Poll:
    """A post's poll: its options in order, their votes and the reader's choice."""

    options: tuple[PollOption, ...]

    def option(self, position: int, field: str = "option") -> int:
        """A position this poll has an option at."""
        if not 0 <= position < len(self.options):
            raise InvalidArgument.field(
                field, f"must be between 0 and {len(self.options) - 1}", "out_of_range"
            )
        return position


@dataclass(frozen=True)
class Comment:
    id: str
    stream_id: str
    post_id: str
    author_user_id: str
    text: str
    created_at: datetime
    reply_to: str | None = None
    edited_at: datetime | None = None
    deleted: bool = False
    hidden: bool = False

    def written_by(self, user_id: str) -> bool:
        return self.author_user_id == user_id

    def seen_by(self, user_id: str, stream_owner: str) -> bool:
        """A hidden comment shows to its author and the stream's owner only."""
        return not self.hidden or user_id in (self.author_user_id, stream_owner)

    def edit(self, text: str, now: datetime) -> Comment:
        """The comment with new words, marked edited; a deleted one has none to change."""
        if self.deleted:
            raise FailedPrecondition("the comment was deleted", reason="COMMENT_DELETED")
        return replace(self, text=text, edited_at=now)

    def erase(self) -> Comment:
        """The placeholder a deleted comment leaves: its place in the thread, no words."""
        return replace(self, text="", deleted=True)


def comment_text(text: str, field: str = "comment.text") -> str:
    """A comment's words: 1 to 2000 characters, trimmed."""
    text = text.strip()
    if not text:
        raise InvalidArgument.field(field, "must not be empty", "required")
    if len(text) > MAX_COMMENT:
        raise InvalidArgument.field(field, f"must be at most {MAX_COMMENT} characters", "too_long")
    return text


def poll_options(texts: list[str], field: str = "post.poll.options") -> Poll | None:
    """A poll of 2 to 10 options of 1 to 100 characters each, trimmed; no options, no poll."""
    if not texts:
        return None
    v = Violations()
    if not MIN_POLL_OPTIONS <= len(texts) <= MAX_POLL_OPTIONS:
        v.add(field, f"must have {MIN_POLL_OPTIONS} to {MAX_POLL_OPTIONS} options", "out_of_range")
    options = []
    for n, text in enumerate(texts):
        text = text.strip()
        if not text:
            v.add(f"{field}[{n}].text", "must not be empty", "required")
        elif len(text) > MAX_POLL_OPTION:
            v.add(f"{field}[{n}].text", f"must be at most {MAX_POLL_OPTION} characters", "too_long")
        options.append(PollOption(text))
    v.raise_if_any()
    return Poll(tuple(options))
