"""Full-text search on both databases, one way for every service: PostgreSQL matches a
tsvector against websearch_to_tsquery in TEXT_CONFIG; SQLite matches an FTS5 table with a
query of quoted words (no FTS5 syntax reaches it from a user)."""

from __future__ import annotations

import re

# The text search configuration of PostgreSQL's to_tsvector / websearch_to_tsquery.
TEXT_CONFIG = "english"
MAX_WORDS = 10


def words(text: str) -> list[str]:
    """The searchable words of a query, lower-cased, at most MAX_WORDS."""
    return re.findall(r"\w+", text.lower())[:MAX_WORDS]


def fts5_query(text: str) -> str:
    """An FTS5 query matching documents that contain every word (quoted: no syntax to abuse)."""
    return " ".join(f'"{w}"' for w in words(text))
