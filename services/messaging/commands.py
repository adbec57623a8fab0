"""Messaging's operator commands: `estuary mail list` and `estuary mail show ID` print the
mail the embedded mode wrote to the data folder (a newcomer's verification and reset mail).
They read the files only; messaging need not be running."""

from __future__ import annotations

import argparse
import email
import email.policy
import sys
from email.message import EmailMessage
from pathlib import Path

from chassis.service import CommandLine


def mails_in(folder: Path) -> list[tuple[str, EmailMessage]]:
    """The mail files of a folder as (id, message), oldest first (ids are UUIDv7)."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        found.append((path.stem, message))
    return found  # type: ignore[return-value]


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def add_commands(cli: CommandLine) -> None:
    """Adds `mail list` and `mail show ID` to the `estuary` command."""

    async def folder_of(args: argparse.Namespace) -> tuple[Path, str]:
        service = await cli.offline(args)
        try:
            settings = service.runtime.settings
            return settings.mail_folder(), settings.smtp_host
        finally:
            await service.stop()

    async def list_mail(args: argparse.Namespace) -> None:
        folder, smtp_host = await folder_of(args)
        if smtp_host:
            print(f"mail goes to the SMTP server {smtp_host} (ESTUARY_SMTP_HOST), not to files")
        found = mails_in(folder)
        if not found:
            print(f"no mail in {folder} yet")
            return
        for mail_id, message in found:
            print(f"{mail_id}  {message['Date']}  {message['To']:<32}  {message['Subject']}")

    async def show_mail(args: argparse.Namespace) -> None:
        folder, _ = await folder_of(args)
        matches = [(i, m) for i, m in mails_in(folder) if i.startswith(args.id)]
        if len(matches) != 1:
            what = "no mail" if not matches else f"{len(matches)} mails"
            print(f"{what} in {folder} with an id starting {args.id!r}", file=sys.stderr)
            raise SystemExit(1)
        mail_id, message = matches[0]
        for header in ("From", "To", "Date", "Subject"):
            print(f"{header}: {message[header]}")
        print(f"Id: {mail_id}\n")
        if args.html:
            html = message.get_body(preferencelist=("html",))
            print(html.get_content() if html is not None else "")
        else:
            print(plain_text(message))

    mail = cli.commands.add_parser(
        "mail", help="read the mail the embedded mode wrote to the data folder"
    )
    mail_commands = mail.add_subparsers(dest="mail_command", required=True)
    listing = mail_commands.add_parser("list", help="every mail, oldest first", parents=cli.common)
    listing.set_defaults(run=list_mail)
    show = mail_commands.add_parser("show", help="one mail's text", parents=cli.common)
    show.add_argument("id", help="the mail's id (or its first characters)")
    show.add_argument("--html", action="store_true", help="its HTML instead of its plain text")
    show.set_defaults(run=show_mail)
