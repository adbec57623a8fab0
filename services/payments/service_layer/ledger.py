"""The ledger as its owners and staff read it, and its invariants as operators check them."""

from __future__ import annotations

from chassis.auth.principal import Principal
from chassis.errors import InvalidArgument, NotFound
from chassis.ids import is_uuid
from chassis.pagination import KeyPart, Page, page_request
from services.payments.domain.ledger import EXTERNAL, PLATFORM, Account, Transaction
from services.payments.repository import Violation
from services.payments.service_layer.base import Handlers, caller


class LedgerHandlers(Handlers):
    async def earnings_summary(
        self, principal: Principal | None, name: str
    ) -> tuple[str, dict[Account, int]]:
        """A practitioner's balances, "users/{id}/earnings": their own, or staff."""
        user = caller(principal)
        if not name.endswith("/earnings"):
            raise InvalidArgument.field("name", "must be users/{user_id}/earnings", "invalid")
        owner = user_of(name.removesuffix("/earnings"))
        _may_read(user, owner)
        async with self._uow(write=False) as uow:
            return f"users/{owner}/earnings", await uow.ledger.balances_of(owner)

    async def list_transactions(
        self, principal: Principal | None, owner_name: str, page_size: int, page_token: str
    ) -> Page[Transaction]:
        """The transactions touching an owner's accounts, newest first: a user's own (with
        the postings on their accounts), or any owner's for staff (with every posting)."""
        user = caller(principal)
        owner = owner_name if owner_name in (PLATFORM, EXTERNAL) else user_of(owner_name, "owner")
        _may_read(user, owner)
        page = page_request(page_size, page_token, query={"owner": owner}, key=(KeyPart.ID,))
        after = page.after[0] if page.after else None
        async with self._uow(write=False) as uow:
            found, total = await uow.ledger.page_of_owner(
                owner, after=after, limit=page.fetch, all_postings=user.is_staff
            )
        return page.page(found, total, key=lambda t: [t.id])

    async def ledger_violations(self) -> list[Violation]:
        """Every broken invariant of the ledger (an operator's check)."""
        async with self._uow(write=False) as uow:
            return await uow.audit.violations()


def user_of(name: str, field: str = "name") -> str:
    """The user id in "users/{id}"; a request naming anything else is refused."""
    if not name:
        raise InvalidArgument.field(field, "is required", "required")
    user_id = name.removeprefix("users/")
    if not name.startswith("users/") or not is_uuid(user_id):
        raise InvalidArgument.field(field, "must be users/{user_id}", "invalid")
    return user_id


def _may_read(user: Principal, owner: str) -> None:
    """Only the owner and staff read an owner's money; to anyone else it does not exist."""
    if user.is_staff:
        return
    if owner != user.user_id:
        raise NotFound("no such account")
