"""Mail leaves through a real SMTP conversation (aiosmtplib to an in-process aiosmtpd), and a
server that is down delays mail, retried with doubling waits, never losing or doubling it;
the embedded mode's file sink and the `estuary mail` commands read what it wrote."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from chassis.clock import Clock
from chassis.ids import new_id
from services.messaging.commands import mails_in, plain_text
from services.messaging.mail import FileMailer, MailSender, SmtpMailer
from services.messaging.settings import MessagingSettings
from services.messaging.tables import mails
from services.messaging.uow import MessagingUnitOfWork
from tests.integration.messaging.world import world


def free_port() -> int:
    # aiosmtpd's controller cannot bind port 0 and report the port: find one first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """An SMTP server's handler that keeps each message it accepts."""

    def __init__(self) -> None:
        self.received: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def smtp_server(inbox: Inbox, port: int) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


async def queued(w) -> list:
    async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
        rows = await uow.connection.execute(sa.select(mails).order_by(mails.c.created_at))
        return list(rows)


async def test_an_smtp_server_stopped_and_restarted_loses_and_doubles_no_mail(tmp_path):
    port = free_port()
    inbox = Inbox()
    server = smtp_server(inbox, port)
    url = f"sqlite+aiosqlite:///{tmp_path}/messaging.db"
    async with world(
        url, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, mail_retry_seconds=5
    ) as w:
        # The world's mailer stands in unless told otherwise: this test speaks SMTP.
        w.service.mail.mailer = SmtpMailer(w.service.runtime.settings)
        await w.register("ana@example.com")
        assert await w.send_mail() == 1
        assert [m["To"] for m in inbox.received] == ["ana@example.com"]

        server.stop()
        await w.register("bea@example.com")
        await w.register("cai@example.com")
        assert await w.send_mail() == 0
        waiting = [r for r in await queued(w) if r.sent_at is None]
        assert [r.attempts for r in waiting] == [1, 1]
        assert all("Connect" in r.last_error or "refused" in r.last_error for r in waiting)
        # Not retried before its wait is over, then waits twice as long after a second failure.
        w.clock.advance(timedelta(seconds=4))
        assert await w.send_mail() == 0
        assert [r.attempts for r in await queued(w) if r.sent_at is None] == [1, 1]
        w.clock.advance(timedelta(seconds=1))
        assert await w.send_mail() == 0
        waiting = [r for r in await queued(w) if r.sent_at is None]
        assert [r.attempts for r in waiting] == [2, 2]
        assert {r.next_attempt_at - w.clock.now() for r in waiting} == {timedelta(seconds=10)}

        server = smtp_server(inbox, port)
        try:
            w.clock.advance(timedelta(seconds=10))
            assert await w.send_mail() == 2
            assert await w.send_mail() == 0
        finally:
            server.stop()
        assert sorted(m["To"] for m in inbox.received) == [
            "ana@example.com",
            "bea@example.com",
            "cai@example.com",
        ]
        assert len({m["Message-ID"] for m in inbox.received}) == 3


async def test_the_file_sink_writes_each_mail_once_and_the_commands_read_it(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/messaging.db"
    async with world(url) as w:
        settings = w.service.runtime.settings
        assert settings.mail_folder() == tmp_path / "mail"
        sink = FileMailer(settings.mail_folder())
        w.service.mail.mailer = sink
        await w.register("ana@example.com")
        assert await w.send_mail() == 1
        [(mail_id, message)] = mails_in(tmp_path / "mail")
        assert message["To"] == "ana@example.com"
        assert "Vt7Ke2Qw9Lm4Rx8Pz1Hs6Dn3Jb5Fy0Ga" in plain_text(message)
        # Sent again (a crash after the write, before it was marked sent): still one file.
        [row] = await queued(w)
        await sink.send(message)
        assert [i for i, _ in mails_in(tmp_path / "mail")] == [mail_id] == [row.id]


def test_the_mail_folder_follows_the_database_or_the_setting(tmp_path: Path):
    beside = MessagingSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/data/messaging.db")
    assert beside.mail_folder() == tmp_path / "data" / "mail"
    chosen = MessagingSettings(mail_dir=str(tmp_path / "elsewhere"))
    assert chosen.mail_folder() == tmp_path / "elsewhere"


def test_retry_waits_double_up_to_the_cap():
    settings = MessagingSettings(mail_retry_seconds=5, mail_retry_max_seconds=60)
    sender = MailSender(MessagingUnitOfWork, FileMailer(Path(new_id())), settings, Clock())
    assert [sender.retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 9)] == [
        5,
        10,
        20,
        40,
        60,
        60,
    ]
