"""A partner's webhook endpoint for tests: a real HTTP server (aiohttp) on a free loopback
port that records each request and checks its signature with the official
`standardwebhooks` package, as a partner would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

# An answer that never comes in time: the handler waits this long before its 200.
HANG = -1


@dataclass(frozen=True)
class Received:
    """One request as the partner got it."""

    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class PartnerReceiver:
    """Answers each request with the next of `answers` (200 once they run out)."""

    url: str = ""
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def verifies(self, body: bytes, headers: dict[str, str]) -> bool:
        if not self.secret:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(headers, body, self.verifies(body, headers)))
        status = self.answers.pop(0) if self.answers else 200
        if status == HANG:
            await asyncio.sleep(5)
            status = 200
        return web.Response(status=status, text="thanks")


@asynccontextmanager
async def partner_receiver() -> AsyncIterator[PartnerReceiver]:
    """A receiver listening on 127.0.0.1 for as long as the block lasts."""
    receiver = PartnerReceiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/hooks"
    try:
        yield receiver
    finally:
        await runner.cleanup()
