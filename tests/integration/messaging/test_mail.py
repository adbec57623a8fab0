"""Mail leaves through a real SMTP conversation (aiosmtplib to an in-process aiosmtpd), and a
server that is down delays mail, retried with doubling waits, never losing or doubling it;
the embedded mode's file sink and the `estuary mail` commands read what it wrote."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from chassis.clock import Clock
from chassis.ids import new_id
from services.messaging.commands import mails_in, plain_text
from services.messaging.mail import FileMailer, MailSender, SmtpMailer, message_of
from services.messaging.repository import QueuedMail
from services.messaging.settings import MessagingSettings
from services.messaging.tables import mails
from services.messaging.uow import MessagingUnitOfWork
from suite.cli import main
from tests.integration.messaging.world import world
from tests.smtp import SmtpInbox


async def queued(w) -> list:
    async with w.service.runtime.unit_of_work(MessagingUnitOfWork)(write=False) as uow:
        rows = await uow.connection.execute(sa.select(mails).order_by(mails.c.created_at))
        return list(rows)


async def test_an_smtp_server_stopped_and_restarted_loses_and_doubles_no_mail(tmp_path):
    inbox = SmtpInbox().start()
    try:
        await _stopped_and_restarted(inbox, f"sqlite+aiosqlite:///{tmp_path}/messaging.db")
    finally:
        inbox.stop()


async def _stopped_and_restarted(inbox: SmtpInbox, url: str) -> None:
    async with world(url, **inbox.settings(), mail_retry_seconds=5) as w:
        # The world's mailer stands in unless told otherwise: this test speaks SMTP.
        w.service.mail.mailer = SmtpMailer(w.service.runtime.settings)
        await w.register("ana@example.com")
        assert await w.send_mail() == 1
        assert [m["To"] for m in inbox.received] == ["ana@example.com"]

        inbox.stop()
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

        inbox.start()
        w.clock.advance(timedelta(seconds=10))
        assert await w.send_mail() == 2
        assert await w.send_mail() == 0
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


async def test_sent_mail_is_forgotten_after_the_retention_and_unsent_mail_never(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/messaging.db"
    async with world(url, mail_retention_hours=24) as w:
        await w.register("ana@example.com")
        assert await w.send_mail() == 1
        w.mailer.down = True
        await w.register("bea@example.com")
        assert await w.send_mail() == 0
        w.clock.advance(timedelta(hours=24))
        assert await w.service.mail.trim_sent() == 0  # sent exactly a retention ago: kept
        w.clock.advance(timedelta(seconds=1))
        assert await w.service.mail.trim_sent() == 1
        [left] = await queued(w)
        assert left.to_address == "bea@example.com" and left.sent_at is None
        w.mailer.down = False
        assert await w.send_mail() == 1


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


def test_estuary_mail_list_and_show_print_the_embedded_mail(tmp_path, capsys):
    mail = QueuedMail(
        new_id(),
        "ana@example.com",
        "Verify your email address",
        "Open the link.",
        "<p>Open</p>",
        0,
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    )
    asyncio.run(FileMailer(tmp_path / "mail").send(message_of(mail, "Estuary <no-reply@e.local>")))
    assert main(["mail", "list", "--data-dir", str(tmp_path)]) == 0
    listed = capsys.readouterr().out
    assert mail.id in listed and "ana@example.com" in listed and "Verify your email" in listed
    assert main(["mail", "show", mail.id[:30], "--data-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "To: ana@example.com" in shown and "Open the link." in shown
    assert main(["mail", "show", mail.id[:30], "--html", "--data-dir", str(tmp_path)]) == 0
    assert "<p>Open</p>" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["mail", "show", "nothing-like-it", "--data-dir", str(tmp_path)])
