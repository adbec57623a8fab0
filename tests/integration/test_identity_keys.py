"""Identity's signing keys and erasure, against its real (SQLite) database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from chassis.auth.principal import Principal, TokenType
from chassis.bus.embedded import IN_MEMORY, EmbeddedBroker, EmbeddedTransport
from chassis.clock import FrozenClock
from chassis.errors import FailedPrecondition
from chassis.migrations import upgrade
from chassis.tables import outbox
from services.identity import bootstrap
from services.identity.settings import IdentitySettings

LEAD = timedelta(minutes=10)


@pytest.fixture
async def identity(tmp_path) -> AsyncIterator[bootstrap.IdentityService]:
    url = f"sqlite+aiosqlite:///{tmp_path}/identity.db"
    await asyncio.to_thread(upgrade, bootstrap.MIGRATIONS, url)
    settings = IdentitySettings(
        database_url=url, grpc_port=0, key_publish_lead_seconds=int(LEAD.total_seconds())
    )
    service = bootstrap.build(
        settings, transport=EmbeddedTransport(EmbeddedBroker(IN_MEMORY)), clock=FrozenClock()
    )
    service.keyring._reload_interval = 0.0  # follow every change at once, for the test
    await service.keyring.ensure_active()
    yield service
    await service.runtime.database.dispose()


def kids(jwks: list[dict[str, str]]) -> set[str]:
    return {k["kid"] for k in jwks}


async def test_a_rotated_key_is_published_before_it_signs_and_verifies_until_retired(identity):
    keyring = identity.keyring
    clock = identity.runtime.clock
    old = (await keyring.signing_key()).kid
    new = await keyring.rotate()
    # Published at once, so verifiers fetch it before any token carries it...
    assert kids(await keyring.jwks()) == {old, new}
    # ...but it signs only after the lead time.
    assert (await keyring.signing_key()).kid == old
    clock.advance(LEAD + timedelta(seconds=1))
    assert (await keyring.signing_key()).kid == new
    assert kids(await keyring.jwks()) == {old, new}, "the old key still verifies its tokens"
    with pytest.raises(FailedPrecondition):
        await keyring.retire(new)
    await keyring.retire(old)
    assert kids(await keyring.jwks()) == {new}


async def test_an_emergency_rotation_signs_with_the_new_key_at_once(identity):
    keyring = identity.keyring
    old = (await keyring.signing_key()).kid
    new = await keyring.rotate(immediately=True)
    assert (await keyring.signing_key()).kid == new
    await keyring.retire(old)
    assert kids(await keyring.jwks()) == {new}


async def test_deleting_an_account_erases_the_unsent_events_that_name_it(identity):
    user = await identity.accounts.register(
        email="erase.me@example.com", password="river-stone-42-lantern", full_name="Erase Me"
    )
    subject = f"users/{user.id}"
    assert await _event_types(identity, subject) == ["user.registered"]
    me = Principal(
        subject=user.id,
        token_type=TokenType.ACCESS,
        roles=frozenset({"client"}),
        token_id="t",
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    await identity.accounts.delete_user(me, "users/me")
    # No consumer is bound in this test, so nothing was published: the registration event,
    # with its email address and token, would otherwise go out after the erasure.
    assert await _event_types(identity, subject) == ["user.deleted"]


async def _event_types(identity: bootstrap.IdentityService, subject: str) -> list[str]:
    async with identity.runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(outbox.c.event_type)
            .where(outbox.c.subject == subject)
            .order_by(outbox.c.position)
        )
        return [r.event_type for r in rows]
