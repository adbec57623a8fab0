"""Payments' operator commands: `estuary ledger check`.

They work on payments' database directly (the data folder's payments.db, or
ESTUARY_DATABASE_URL) and do not need payments to be running.
"""

from __future__ import annotations

import argparse

from chassis.service import CommandLine


class LedgerBroken(Exception):
    """The ledger breaks an invariant (each violation was printed on its own line)."""


def add_commands(cli: CommandLine) -> None:
    """Adds `ledger check` to the `estuary` command."""

    async def check(args: argparse.Namespace) -> None:
        service = await cli.offline(args)
        try:
            violations = await service.treasury.ledger_violations()
        finally:
            await service.runtime.database.dispose()
            for channel in service.channels:
                await channel.close()
        for violation in violations:
            print(violation)
        if violations:
            raise SystemExit(1)
        print("ledger check: every invariant holds")

    ledger = cli.commands.add_parser("ledger", help="operator commands on payments' ledger")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    checking = ledger_commands.add_parser(
        "check",
        help="check the ledger's invariants (exit 1 and a line per violation if one breaks)",
        parents=cli.common,
    )
    checking.set_defaults(run=check)
