"""Identity's operator commands: `estuary admin create` and `estuary keys`.

They work on identity's database directly (the data folder's identity.db, or
ESTUARY_DATABASE_URL) and do not need identity to be running.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys
from typing import Any

from chassis.service import CommandLine


def add_commands(cli: CommandLine) -> None:
    """Adds `admin create` and `keys list|rotate|retire` to the `estuary` command."""
    offline = cli.offline

    async def admin_create(args: argparse.Namespace) -> None:
        password = args.password or os.environ.get("ESTUARY_ADMIN_PASSWORD")
        generated = False
        if not password:
            if sys.stdin.isatty():
                password = getpass.getpass("Password for the new admin (empty to generate): ")
            if not password:
                password = secrets.token_urlsafe(18)
                generated = True
        # Migrated first, so it works on a fresh install.
        service = await offline(args, migrate=True)
        try:
            user = await service.accounts.create_admin(args.email, password, args.full_name)
        finally:
            await service.runtime.database.dispose()
        print(f"admin created: {user.email} (id {user.id}) in {_where(service)}")
        if generated:
            print(f"generated password (shown once): {password}")

    async def keys(args: argparse.Namespace) -> None:
        if args.action == "retire" and not args.kid:
            print("estuary keys retire needs --kid", file=sys.stderr)
            raise SystemExit(2)
        service = await offline(args)
        try:
            if args.action == "rotate":
                kid = await service.keyring.rotate(immediately=args.now)
                when = (
                    "now"
                    if args.now
                    else "after the publish lead (ESTUARY_KEY_PUBLISH_LEAD_SECONDS)"
                )
                print(f"new signing key {kid}: in the JWKS now, signing {when}")
            elif args.action == "retire":
                await service.keyring.retire(args.kid)
                print(f"retired {args.kid}")
            else:
                from services.identity.uow import IdentityUnitOfWork

                async with service.runtime.unit_of_work(IdentityUnitOfWork)(write=False) as uow:
                    for key in await uow.signing_keys.all():
                        print(f"{key.kid}  {key.status.value:<9}  {key.created_at:%Y-%m-%d %H:%M}")
        finally:
            await service.runtime.database.dispose()

    admin = cli.commands.add_parser("admin", help="operator commands on identity's database")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser("create", help="create an admin user", parents=cli.common)
    create.add_argument("--email", required=True)
    create.add_argument("--full-name", default="Estuary Admin")
    create.add_argument(
        "--password", help="else ESTUARY_ADMIN_PASSWORD, a prompt, or a generated one"
    )
    create.set_defaults(run=admin_create)

    keyring = cli.commands.add_parser(
        "keys", help="list, rotate or retire token signing keys", parents=cli.common
    )
    keyring.add_argument("action", choices=["list", "rotate", "retire"])
    keyring.add_argument("--kid", help="the key to retire")
    keyring.add_argument(
        "--now", action="store_true", help="rotate: sign with the new key at once (a leaked key)"
    )
    keyring.set_defaults(run=keys)


def _where(service: Any) -> str:
    """The database an offline command wrote to, without its password."""
    return str(service.runtime.database.engine.url.render_as_string(hide_password=True))
