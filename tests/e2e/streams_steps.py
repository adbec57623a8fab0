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
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/like"),
    ("DELETE", "/api/v1/streams/{stream_id}/posts/{post_id}/like"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/save"),
    ("DELETE", "/api/v1/streams/{stream_id}/posts/{post_id}/save"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/poll/vote"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/comments"),
    ("PATCH", "/api/v1/streams/{stream_id}/posts/{post_id}/comments/{comment_id}"),
    ("DELETE", "/api/v1/streams/{stream_id}/posts/{post_id}/comments/{comment_id}"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/comments/{comment_id}/hide"),
    ("POST", "/api/v1/streams/{stream_id}/posts/{post_id}/comments/{comment_id}/unhide"),
    ("POST", "/api/v1/streams/{stream_id}/media"),
    ("POST", "/api/v1/streams/{stream_id}/live"),
    ("DELETE", "/api/v1/streams/{stream_id}/live"),
    ("POST", "/api/v1/streams/{stream_id}/live/token"),
    ("POST", "/api/v1/bookings/{booking_id}/room/token"),
]
