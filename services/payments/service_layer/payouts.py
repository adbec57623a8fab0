"""Payouts through Stripe Connect: a practitioner's connected account (onboarding by an
account link), payouts of their whole available balance in a currency (on request and by the
weekly batch), and the provider's word on them (payout.paid, payout.failed, account.updated).

A payout is made in one unit of work with its ledger transaction (available -> paid out), so
no two payouts take the same money; only then are the provider's transfer and payout asked
for, each keyed by the payout's id: a payout whose calls a crash interrupted stays PENDING
and the job sends it again with the same keys, which the provider answers with what it made
the first time, so nothing is paid twice."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import timedelta

from chassis.auth.principal import Principal
from chassis.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from chassis.idempotency import IdempotentRequest
from chassis.ids import new_id
from chassis.jobs import PeriodicJob
from chassis.lifecycle import WrongState
from chassis.money import Money, is_currency
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.ledger import Account, AccountKind
from services.payments.domain.payouts import (
    Payout,
    PayoutAccount,
    PayoutFailed,
    PayoutPaid,
    PayoutStatus,
)
from services.payments.provider.port import (
    ConnectedAccount,
    PaymentProvider,
    ProviderError,
    ProviderRejected,
    Transfer,
    WebhookEvent,
    idempotency_key,
)
from services.payments.provider.port import Payout as ProviderPayout
from services.payments.provider.port import PayoutStatus as ProviderPayoutStatus
from services.payments.provider.sandbox import SandboxProvider
from services.payments.service_layer.base import Handlers, caller, practitioner
from services.payments.uow import PaymentsUnitOfWork

# What the sandbox's account links end with; anything else never reaches its file.
ACCOUNT_LINK_TOKEN = re.compile(r"al_[A-Za-z0-9]{1,64}")

log = logging.getLogger(__name__)

ACCOUNT_UPDATED = "account.updated"
PAYOUT_PAID = "payout.paid"
PAYOUT_FAILED = "payout.failed"


class PayoutHandlers(Handlers):
    async def create_payout_account(self, principal: Principal | None) -> tuple[PayoutAccount, str]:
        """The practitioner's connected account (made once: its provider key is their user
        id) and a fresh onboarding link to it (links are single-use and expire)."""
        user = practitioner(principal, "only a practitioner is paid out")
        async with self._uow(write=False) as uow:
            account = await uow.payout_accounts.of_user(user.user_id)
        try:
            if account is None:
                made = await self._provider.create_connected_account(
                    practitioner_id=user.user_id,
                    email=None,
                    country=self._settings.payout_country,
                    idempotency_key=idempotency_key("connected_account", user.user_id),
                )
                account = await self._remember_account(user.user_id, made)
            link = await self._provider.create_account_link(
                account_id=account.account_id,
                refresh_url=self._settings.payout_onboarding_url,
                return_url=self._settings.payout_onboarding_url,
                idempotency_key=idempotency_key("account_link", account.account_id, new_id()),
            )
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error
        return account, link.url

    async def complete_sandbox_onboarding(self, token: str) -> str:
        """The sandbox's stand-in for Stripe's hosted onboarding pages: the link's holder
        finishes onboarding its account (account.updated follows, as from Stripe). Where to
        send them next."""
        if not isinstance(self._provider, SandboxProvider):
            raise NotFound("there is no sandbox: payments runs on Stripe")
        if not ACCOUNT_LINK_TOKEN.fullmatch(token):
            raise InvalidArgument.field("token", "must be an account link's token (al_...)")
        try:
            return await self._provider.complete_onboarding(token)
        except ProviderRejected as error:
            raise NotFound("no such onboarding link", reason="ONBOARDING_LINK_NOT_FOUND") from error

    async def _remember_account(self, user_id: str, made: ConnectedAccount) -> PayoutAccount:
        now = self.now()
        account = PayoutAccount(user_id, made.id, made.payouts_enabled, now, now)
        async with self._uow() as uow:
            if not await uow.payout_accounts.add(account):
                # A concurrent request made it (the same account: the same provider key).
                found = await uow.payout_accounts.of_user(user_id)
                assert found is not None
                account = found
            await uow.commit()
        return account

    async def payout_account(self, principal: Principal | None) -> PayoutAccount:
        """The caller's connected account, asked of the provider again until payouts are
        enabled (account.updated also says so)."""
        account = await self._refreshed_account(caller(principal).user_id)
        if account is None:
            raise NotFound("no payout account: create one first")
        return account

    async def _refreshed_account(self, user_id: str) -> PayoutAccount | None:
        async with self._uow(write=False) as uow:
            account = await uow.payout_accounts.of_user(user_id)
        if account is None or account.payouts_enabled:
            return account
        try:
            now_there = await self._provider.retrieve_connected_account(account.account_id)
        except ProviderError as error:
            raise Unavailable(f"the payment provider did not answer: {error.message}") from error
        if now_there.payouts_enabled:
            async with self._uow() as uow:
                await uow.payout_accounts.set_payouts_enabled(account.account_id, True, self.now())
                await uow.commit()
            account = replace(account, payouts_enabled=True)
        return account

    async def create_payout(
        self, principal: Principal | None, currency: str, request_id: str
    ) -> Payout:
        """The practitioner's whole available balance in a currency, paid out once per
        request_id; refused below the currency's minimum or without payouts enabled."""
        user = practitioner(principal, "only a practitioner is paid out")
        if not is_currency(currency):
            raise InvalidArgument.field("currency", "must be an ISO 4217 code such as EUR")
        idempotent = IdempotentRequest.of("CreatePayout", user, request_id, currency)
        # Onboarding finished at the provider may not have reached us by webhook yet.
        await self._refreshed_account(user.user_id)
        async with self._uow() as uow:
            earlier = await uow.claim(idempotent)
            payout = await uow.payouts.get(earlier) if earlier else None
            if payout is None:
                account = await uow.payout_accounts.of_user(user.user_id)
                if account is None or not account.payouts_enabled:
                    raise FailedPrecondition(
                        "payouts are not enabled: finish onboarding first",
                        reason="PAYOUTS_NOT_ENABLED",
                    )
                payout = await self._pay_out_available(uow, account, currency)
                if payout is None:
                    minimum = self._settings.payout_minimum_for(currency)
                    raise FailedPrecondition(
                        f"the available balance is below the minimum payout of "
                        f"{minimum.amount_minor} (minor units of {currency})",
                        reason="BELOW_PAYOUT_MINIMUM",
                        metadata={"minimum_minor": str(minimum.amount_minor), "currency": currency},
                    )
            await uow.remember(idempotent, payout.id)
            await uow.commit()
        if payout.status is PayoutStatus.PENDING:
            payout = await self._submit(payout)
        return payout

    async def _pay_out_available(
        self, uow: PaymentsUnitOfWork, account: PayoutAccount, currency: str
    ) -> Payout | None:
        """A pending payout of the account's whole available balance, posted in this unit of
        work; None below the minimum. Concurrent payouts of one balance: the ledger's guarded
        balance lets one through and refuses the others (INSUFFICIENT_FUNDS)."""
        available = Account(account.user_id, AccountKind.PRACTITIONER_AVAILABLE, currency)
        balance = await uow.ledger.balance(available)
        if balance <= 0 or balance < self._settings.payout_minimum_for(currency).amount_minor:
            return None
        now = self.now()
        payout = Payout(
            id=new_id(),
            user_id=account.user_id,
            account_id=account.account_id,
            amount=Money(balance, currency),
            status=PayoutStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        await uow.payouts.add(payout)
        await uow.ledger.post(payout.paid_out(new_id(), now))
        return payout

    async def _submit(self, payout: Payout) -> Payout:
        """The provider's transfer and payout for a committed payout, keyed by its id (a
        second sending gets the first's answers). A provider that refuses the payout fails
        it (its transfer reversed, its money available again); one that does not answer
        leaves it for the job."""
        transfer: Transfer | None = None
        try:
            transfer = await _transfer(self._provider, payout)
            sent = await self._provider.create_payout(
                account_id=payout.account_id,
                amount=payout.amount.amount_minor,
                currency=payout.amount.currency,
                idempotency_key=idempotency_key("payout", payout.id),
                metadata={"payout_id": payout.id},
            )
        except ProviderRejected as refused:
            if transfer is not None:
                payout = replace(payout, transfer_id=transfer.id)
            return await self._refused(payout, refused, transferred=transfer is not None)
        except ProviderError as error:
            log.warning("payout %s not sent yet, the job retries: %s", payout.id, error.message)
            return payout
        async with self._uow() as uow:
            await uow.payouts.submitted(payout.id, transfer.id, sent.id)
            await uow.commit()
            found = await uow.payouts.get(payout.id)
        return found or payout

    async def _refused(
        self, payout: Payout, refused: ProviderRejected, *, transferred: bool
    ) -> Payout:
        """A payout the provider refused (its transfer or its payout) fails; one whose
        transfer cannot be reversed yet stays PENDING for the job to send again."""
        try:
            async with self._uow() as uow:
                settled = await _settle(
                    uow,
                    self._provider,
                    payout,
                    PayoutStatus.FAILED,
                    refused.code or "",
                    transferred=transferred,
                )
                await uow.commit()
        except Unavailable as error:
            log.warning("payout %s refused, its return waits for the job: %s", payout.id, error)
            return payout
        return settled or payout

    def payout_jobs(self) -> list[PeriodicJob]:
        every = timedelta(seconds=self._settings.job_interval_seconds)
        weekly = timedelta(hours=self._settings.payout_interval_hours)
        return [
            PeriodicJob(
                "payments.send_pending_payouts", every, lambda: self.send_pending_payouts()
            ),
            PeriodicJob("payments.weekly_payouts", weekly, lambda: self.pay_out_everyone()),
        ]

    async def send_pending_payouts(self) -> int:
        """Sends again every payout whose provider calls were interrupted (same keys)."""
        async with self._uow(write=False) as uow:
            pending = await uow.payouts.pending(self._settings.job_batch_size)
        for payout in pending:
            await self._submit(payout)
        return len(pending)

    async def pay_out_everyone(self) -> int:
        """The weekly batch: every practitioner with payouts enabled is paid out each
        currency's available balance that reaches its minimum; then what is pending is sent."""
        made = 0
        async with self._uow(write=False) as uow:
            accounts = await uow.payout_accounts.ready()
        for account in accounts:
            async with self._uow(write=False) as uow:
                balances = await uow.ledger.balances_of(account.user_id)
            for held in balances:
                if held.kind is not AccountKind.PRACTITIONER_AVAILABLE:
                    continue
                async with self._uow() as uow:
                    payout = await self._pay_out_available(uow, account, held.currency)
                    await uow.commit()
                made += payout is not None
        await self.send_pending_payouts()
        return made

    async def list_payouts(
        self, principal: Principal | None, page_size: int, page_token: str
    ) -> Page[Payout]:
        """The caller's own payouts, newest first."""
        user = caller(principal)
        request = page_request(
            page_size, page_token, query={"user": user.user_id}, key=(KeyPart.ID,)
        )
        async with self._uow(write=False) as uow:
            found, total = await uow.payouts.page_of_user(
                user.user_id,
                after=request.after[0] if request.after else None,
                limit=request.fetch,
            )
        return request.page(found, total, lambda payout: (payout.id,))


async def fetch_connect_object(
    provider: PaymentProvider, event: WebhookEvent
) -> ConnectedAccount | ProviderPayout | None:
    """The account or payout a Connect event is about, as the provider has it now (an
    event's own copy may be stale); None for other events and objects not the provider's."""
    try:
        if event.type == ACCOUNT_UPDATED:
            return await provider.retrieve_connected_account(event.object_id)
        if event.type in (PAYOUT_PAID, PAYOUT_FAILED) and event.account_id:
            return await provider.retrieve_payout(
                account_id=event.account_id, payout_id=event.object_id
            )
    except ProviderRejected:
        return None
    except ProviderError as error:
        raise Unavailable(f"the payment provider did not answer: {error.message}") from error
    return None


async def apply_connect_object(
    uow: PaymentsUnitOfWork,
    provider: PaymentProvider,
    found: ConnectedAccount | ProviderPayout | None,
) -> None:
    """Moves an account or a payout forward to what the provider says it is now."""
    now = uow.clock.now()
    if isinstance(found, ConnectedAccount):
        await uow.payout_accounts.set_payouts_enabled(found.id, found.payouts_enabled, now)
        return
    if found is None or not found.metadata.get("payout_id"):
        return
    payout = await uow.payouts.get(found.metadata["payout_id"])
    if payout is None or payout.account_id != found.account_id:
        return
    if found.status is ProviderPayoutStatus.PAID:
        await _settle(uow, provider, payout, PayoutStatus.PAID, "")
    elif found.status in (ProviderPayoutStatus.FAILED, ProviderPayoutStatus.CANCELED):
        await _settle(
            uow, provider, payout, PayoutStatus.FAILED, found.failure_code or found.status.value
        )


async def _settle(
    uow: PaymentsUnitOfWork,
    provider: PaymentProvider,
    payout: Payout,
    status: PayoutStatus,
    failure_code: str,
    *,
    transferred: bool = True,
) -> Payout | None:
    """A payout in flight paid or failed, once (None: settled already). A failed one's
    transfer is reversed at the provider and its money returns to available in the same
    unit of work: a retry after a crash reverses nothing more (the reversal's key) and
    returns the money once (the return's cause); a payout refused at its transfer has
    none to reverse (transferred False). A reversal the provider cannot make now
    raises Unavailable, so nothing is settled and the payout is tried again."""
    now = uow.clock.now()
    try:
        await uow.payouts.settle(payout.id, status, failure_code, now)
    except WrongState:
        return None
    settled = replace(payout, status=status, failure_code=failure_code, updated_at=now)
    if status is PayoutStatus.FAILED:
        if transferred:
            await _reverse_transfer(provider, payout)
        await uow.ledger.post(payout.returned(new_id(), now))
        uow.record(PayoutFailed(settled, failure_code, now))
    else:
        uow.record(PayoutPaid(settled, now))
    return settled


async def _transfer(provider: PaymentProvider, payout: Payout) -> Transfer:
    """The payout's transfer to the connected account: made once, the first one after. The
    key answers a retry within Stripe's 24 hours; the payout's transfer group recognises
    the transfer after that, when a retry under the forgotten key would transfer again."""
    group = f"payouts/{payout.id}"
    made = await provider.find_transfer(transfer_group=group)
    if made is not None:
        return made
    return await provider.create_transfer(
        amount=payout.amount.amount_minor,
        currency=payout.amount.currency,
        destination_account_id=payout.account_id,
        idempotency_key=idempotency_key("payout_transfer", payout.id),
        transfer_group=group,
        metadata={"payout_id": payout.id},
    )


async def _reverse_transfer(provider: PaymentProvider, payout: Payout) -> None:
    """Takes a failed payout's transfer back to the platform, so its money is not left on
    the connected account to be transferred again by the next payout. One whose transfer
    id is not recorded yet (its webhook came first) asks for the transfer again under its
    key, which answers the one made."""
    try:
        transfer_id = payout.transfer_id or (await _transfer(provider, payout)).id
        await provider.create_transfer_reversal(
            transfer_id, idempotency_key=idempotency_key("payout_reversal", payout.id)
        )
    except ProviderRejected as refused:
        raise Unavailable(
            f"the transfer of payout {payout.id} cannot be reversed: {refused.message}"
        ) from refused
    except ProviderError as error:
        raise Unavailable(f"the payment provider did not answer: {error.message}") from error
