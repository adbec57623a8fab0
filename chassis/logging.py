"""Structured logs: one JSON object a line, carrying the request id and the trace id."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson
from opentelemetry import trace

from chassis.context import request_id_var

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with the context that ties it to a request and a trace."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Sends every log record to stderr in the chosen format; safe to call again."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quieten_libraries()


# Chatty libraries, kept to their warnings at any level. aiosqlite's debug lines carry every
# statement's parameters (password hashes, one-time tokens, partners' signing secrets), and
# httpx's and httpcore's every partner URL called: none of that belongs in a log.
QUIET_LIBRARIES = (
    "aio_pika",
    "aiormq",
    "uvicorn.access",
    "alembic.runtime.migration",
    "aiosqlite",
    "httpx",
    "httpcore",
)


def quieten_libraries() -> None:
    """Keeps the chatty libraries to their warnings, whatever the root level."""
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
