"""Streams' write routes, as the account-status guard reads them (their scenario is in
test_streams.py)."""

from __future__ import annotations

STREAM_WRITE_ROUTES = [
    ("POST", "/api/v1/streams"),
    ("PATCH", "/api/v1/streams/{stream_id}"),
    ("POST", "/api/v1/streams/{stream_id}/tiers"),
    ("PATCH", "/api/v1/streams/{stream_id}/tiers/{level}"),
    ("POST", "/api/v1/streams/{stream_id}/posts"),
    ("PATCH", "/api/v1/streams/{stream_id}/posts/{post_id}"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/publish"),
    ("POST", "/api/v1/streams/{stream_id}/follow"),
    ("DELETE", "/api/v1/streams/{stream_id}/follow"),
]
