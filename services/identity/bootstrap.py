"""Identity's composition root: builds the service on a chassis runtime and starts it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from chassis.auth.tokens import KeySet, TokenIssuer, TokenVerifier
from chassis.bus.transport import Transport
from chassis.clock import Clock
from chassis.errors import AlreadyExists
from chassis.grpc_server import ServicerBinding
from chassis.jobs import PeriodicJob
from chassis.runtime import ServiceRuntime
from estuary.identity.v1 import identity_pb2, identity_pb2_grpc
from services.identity.consumers import SUBSCRIPTIONS as IDENTITY_SUBSCRIPTIONS
from services.identity.events import EMITTED
from services.identity.grpc_api import AuthServicer, IdentityServicer
from services.identity.keys import SigningKeyring
from services.identity.passwords import Passwords
from services.identity.service_layer.accounts import AccountHandlers
from services.identity.service_layer.administration import AdministrationHandlers
from services.identity.service_layer.sessions import SessionHandlers
from services.identity.settings import IdentitySettings
from services.identity.uow import IdentityUnitOfWork

log = logging.getLogger(__name__)

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"
EVENTS_EMITTED = EMITTED
SUBSCRIPTIONS = IDENTITY_SUBSCRIPTIONS


@dataclass
class IdentityService:
    """A built identity service: its runtime and the pieces tests and the CLI reach for."""

    runtime: ServiceRuntime
    accounts: AccountHandlers
    sessions: SessionHandlers
    administration: AdministrationHandlers
    keyring: SigningKeyring
    verifier: TokenVerifier
    port: int = 0

    async def start(self) -> int:
        await self.keyring.ensure_active()
        settings = self.runtime.settings
        assert isinstance(settings, IdentitySettings)
        if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
            try:
                await self.accounts.create_admin(
                    settings.bootstrap_admin_email, settings.bootstrap_admin_password, "Admin"
                )
                log.info("created the bootstrap admin %s", settings.bootstrap_admin_email)
            except AlreadyExists:
                pass
        descriptor = identity_pb2.DESCRIPTOR.services_by_name
        self.port = await self.runtime.start(
            bindings=[
                ServicerBinding(
                    IdentityServicer(self.accounts, self.administration),
                    identity_pb2_grpc.add_IdentityServiceServicer_to_server,
                    descriptor["IdentityService"].full_name,
                ),
                ServicerBinding(
                    AuthServicer(self.sessions, self.keyring.jwks),
                    identity_pb2_grpc.add_AuthServiceServicer_to_server,
                    descriptor["AuthService"].full_name,
                ),
            ],
            verifier=self.verifier,
            subscriptions=SUBSCRIPTIONS,
            unit_of_work=self.runtime.unit_of_work(IdentityUnitOfWork),
            jobs=[
                PeriodicJob(
                    "identity.purge_expired_tokens",
                    timedelta(hours=1),
                    self.sessions.purge_expired_tokens,
                )
            ],
        )
        return self.port

    async def stop(self) -> None:
        await self.runtime.stop()


def build(
    settings: IdentitySettings, *, transport: Transport, clock: Clock | None = None
) -> IdentityService:
    """Wires identity's handlers and keys onto a runtime (nothing starts yet)."""
    runtime = ServiceRuntime(settings, transport=transport, clock=clock, emits=EMITTED)
    clock = runtime.clock
    unit_of_work = runtime.unit_of_work(IdentityUnitOfWork)
    keyring = SigningKeyring(
        unit_of_work,
        clock,
        publish_lead=timedelta(seconds=settings.key_publish_lead_seconds),
    )
    verifier = TokenVerifier(
        KeySet(keyring.jwks, max_age=60.0, min_refresh_interval=1.0),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=clock,
    )
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    return IdentityService(
        runtime,
        accounts=AccountHandlers(
            unit_of_work=unit_of_work, settings=settings, clock=clock, passwords=passwords
        ),
        sessions=SessionHandlers(
            unit_of_work=unit_of_work,
            settings=settings,
            clock=clock,
            passwords=passwords,
            keyring=keyring,
            issuer=TokenIssuer(
                issuer=settings.jwt_issuer, audience=settings.jwt_audience, clock=clock
            ),
            verifier=verifier,
        ),
        administration=AdministrationHandlers(unit_of_work=unit_of_work, clock=clock),
        keyring=keyring,
        verifier=verifier,
    )
