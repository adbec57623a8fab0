"""Staff's hand on the ledger: any account with its balance, an account's postings with the
balance after each, manual adjustments, and a failed payout paid out again.

Every write is checked here (staff only, never on their own money), idempotent per staff
member's key, and filed in the one audit log in the unit of work that makes the change."""

from __future__ import annotations

from collections.abc import Sequence

from chassis.audit import StaffAction, refuse_own_account
from chassis.auth.principal import Principal
from chassis.errors import FailedPrecondition, InvalidArgument, NotFound
from chassis.idempotency import IdempotentRequest
from chassis.ids import is_uuid, new_id
from chassis.money import is_currency
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.adjustments import ACCOUNT_PREFIX, AdjustmentRequest
from services.payments.domain.ledger import (
    EXTERNAL,
    PLATFORM,
    Account,
    AccountKind,
    Overdrawn,
    Transaction,
)
from services.payments.domain.payouts import Payout, PayoutStatus
from services.payments.repository import AccountBalance, Entry
from services.payments.service_layer.base import staff
from services.payments.service_layer.ledger import user_of
from services.payments.service_layer.payouts import PayoutHandlers


class StaffHandlers(PayoutHandlers):
    async def ledger_accounts(
        self,
        principal: Principal | None,
        owner_name: str,
        kind: AccountKind | None,
        currency: str,
        page_size: int,
        page_token: str,
    ) -> Page[AccountBalance]:
        """Accounts with their balances, newest first, by owner, kind and currency (staff)."""
        staff(principal, "only staff read the ledger's accounts")
        owner = None
        if owner_name:
            owner = (
                owner_name if owner_name in (PLATFORM, EXTERNAL) else user_of(owner_name, "owner")
            )
        if currency and not is_currency(currency):
            raise InvalidArgument.field("currency", "must be an ISO 4217 code such as EUR")
        query = {"owner": owner, "kind": kind and kind.value, "currency": currency}
        page = page_request(page_size, page_token, query=query, key=(KeyPart.ID,))
        async with self._uow(write=False) as uow:
            found, total = await uow.ledger.page_of_accounts(
                owner=owner,
                kind=kind,
                currency=currency or None,
                after=page.after[0] if page.after else None,
                limit=page.fetch,
            )
        return page.page(found, total, key=lambda a: [a.id])

    async def ledger_entries(
        self, principal: Principal | None, account_name: str, page_size: int, page_token: str
    ) -> tuple[Account, Page[Entry]]:
        """One account's postings, newest first, each with the balance after it (staff)."""
        staff(principal, "only staff read the ledger's accounts")
        account_id = _account_id(account_name)
        page = page_request(page_size, page_token, query={"entries": account_id}, key=(KeyPart.ID,))
        async with self._uow(write=False) as uow:
            account = (await uow.ledger.accounts_by_id([account_id])).get(account_id)
            if account is None:
                raise NotFound(f"no such ledger account: {account_name}")
            found, total = await uow.ledger.page_of_entries(
                account_id, after=page.after[0] if page.after else None, limit=page.fetch
            )
        return account, page.page(found, total, key=lambda e: [e.transaction_id])

    async def adjust_ledger(
        self,
        principal: Principal | None,
        reason: str,
        currency: str,
        legs: Sequence[tuple[str, int]],
        request_id: str,
    ) -> Transaction:
        """Staff's correction: one balanced ADJUSTMENT transaction of the legs, audited; a
        leg that would overdraw a guarded account refuses the whole. A retry with the same
        request_id by the same staff member answers the first adjustment."""
        user = staff(principal, "only staff adjust the ledger")
        asked = AdjustmentRequest.checked(reason, currency, legs)
        idempotent = IdempotentRequest.of(
            "CreateLedgerAdjustment",
            user,
            request_id,
            asked.reason,
            asked.currency,
            *(f"{leg.account_id}:{leg.amount_minor}" for leg in asked.legs),
        )
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            if earlier:
                [first] = await uow.ledger.transactions([earlier])
                return first
            accounts = await uow.ledger.accounts_by_id(leg.account_id for leg in asked.legs)
            transaction = asked.transaction(new_id(), accounts, self.now())
            users = sorted({p.account.owner for p in transaction.postings} - {PLATFORM, EXTERNAL})
            for owner in users:
                refuse_own_account(user, owner)
            try:
                await uow.ledger.post(transaction)
            except Overdrawn as overdrawn:
                raise asked.overdrawn_leg(overdrawn, accounts) from overdrawn
            await uow.record_staff_action(
                StaffAction(
                    user,
                    "ledger.adjust",
                    f"ledgerTransactions/{transaction.id}",
                    # The one user whose money moved, when there is one.
                    users[0] if len(users) == 1 else "",
                    {},
                    {
                        "currency": asked.currency,
                        "legs": [
                            {"account": str(p.account), "amount_minor": p.amount_minor}
                            for p in transaction.postings
                        ],
                    },
                    reason=asked.reason,
                )
            )
            await uow.remember(idempotent, transaction.id)
            await uow.commit()
        return transaction

    async def retry_payout(self, principal: Principal | None, name: str, request_id: str) -> Payout:
        """A failed payout's practitioner paid out again: a new payout of their whole
        available balance in its currency (where the failed one's money went back),
        audited. Once the balance is paid out again, a second retry finds it below the
        minimum; a retry with the same request_id by the same staff member answers the
        first new payout."""
        user = staff(principal, "only staff retry payouts")
        payout_id = name.removeprefix("payouts/")
        if not name.startswith("payouts/") or not is_uuid(payout_id):
            raise InvalidArgument.field("name", "must be payouts/{payout_id}")
        idempotent = IdempotentRequest.of("RetryPayout", user, request_id, payout_id)
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            payout = await uow.payouts.get(earlier) if earlier else None
            if payout is None:
                failed = await uow.payouts.get(payout_id)
                if failed is None:
                    raise NotFound(f"no such payout: {name}")
                refuse_own_account(user, failed.user_id)
                if failed.status is not PayoutStatus.FAILED:
                    raise FailedPrecondition(
                        f"payout {payout_id} is {failed.status.value}, not failed",
                        reason="PAYOUT_NOT_FAILED",
                    )
                account = await uow.payout_accounts.of_user(failed.user_id)
                if account is None or not account.payouts_enabled:
                    raise FailedPrecondition(
                        "the practitioner's payouts are not enabled",
                        reason="PAYOUTS_NOT_ENABLED",
                    )
                currency = failed.amount.currency
                payout = await self._pay_out_available(uow, account, currency)
                if payout is None:
                    raise FailedPrecondition(
                        f"the practitioner's available balance in {currency} is below the "
                        "minimum payout (paid out again already?)",
                        reason="BELOW_PAYOUT_MINIMUM",
                    )
                await uow.record_staff_action(
                    StaffAction(
                        user,
                        "payout.retry",
                        f"payouts/{payout.id}",
                        failed.user_id,
                        {"failed_payout": f"payouts/{failed.id}"},
                        {
                            "amount_minor": payout.amount.amount_minor,
                            "currency": currency,
                            "status": payout.status.value,
                        },
                    )
                )
                await uow.remember(idempotent, payout.id)
            await uow.commit()
        if payout.status is PayoutStatus.PENDING:
            payout = await self._submit(payout)
        return payout


def _account_id(name: str) -> str:
    account_id = name.removeprefix(ACCOUNT_PREFIX)
    if not name.startswith(ACCOUNT_PREFIX) or not is_uuid(account_id):
        raise InvalidArgument.field("account", "must be ledgerAccounts/{account_id}")
    return account_id
