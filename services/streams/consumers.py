"""What streams does when identity's account statuses arrive: refuses a suspended user's
writes (the chassis); an erased user's follows and saved posts go, and their comments keep
their place in their threads without their words."""

from __future__ import annotations

from typing import Any

from chassis.accounts import account_status_subscription
from chassis.auth.principal import AccountStatus
from chassis.bus.consumer import Subscription


async def _account(uow: Any, user_id: str, status: AccountStatus) -> None:
    if status is AccountStatus.DELETED:
        await uow.follows.forget(user_id)
        await uow.engagement.forget(user_id)
        await uow.comments.erase_author(user_id)


SUBSCRIPTIONS: tuple[Subscription, ...] = (
    account_status_subscription("streams", on_change=_account),
)
