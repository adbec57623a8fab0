"""A real SMTP server in this process (aiosmtpd) that keeps what it is sent: the stand-in for
the mail provider messaging talks to over SMTP."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.infrastructure import free_port


class SmtpInbox:
    """An SMTP server on 127.0.0.1 (no TLS, no login) that can be stopped and started again on
    the same port; `received` keeps every message it accepted, across restarts."""

    def __init__(self) -> None:
        # aiosmtpd's controller cannot bind port 0 and say which port it got.
        self.port = free_port()
        self.received: list[EmailMessage] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(message_from_bytes(envelope.content, policy=default_policy))  # type: ignore[arg-type]
        return "250 OK"

    def start(self) -> SmtpInbox:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"] == address]

    def settings(self) -> dict[str, Any]:
        """Messaging's settings for sending here."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_starttls": False}
